// Browser tests for the transcript by email (docs/protocol.md: `transcript`, `welcome.transcript_email`):
// after the agent closes the chat the widget offers "Email me the transcript"; the visitor types an
// address and the mail reaches an SMTP server of this file. Without SMTP the offer is not there.
//
// Registered into run.mjs's TAP stream with the same helpers as waitingTests. These cases run their
// own redis-server and beckon instances (own data dirs, own agent).
import { join } from 'node:path';
import { mkdirSync, existsSync } from 'node:fs';
import { createServer } from 'node:net';

export function transcriptTests(h) {
  const { test, W, newPage, waitFor, assert } = h;
  const AGENT = 'tina', PASSWORD = 'tina-password-1';
  const S = {};
  let n = 0;

  function freePort() {
    return new Promise((res, rej) => {
      const s = createServer();
      s.unref();
      s.on('error', rej);
      s.listen(0, '127.0.0.1', () => { const { port } = s.address(); s.close(() => res(port)); });
    });
  }

  // A minimal SMTP server: records {from, to, data} per accepted message (data un-dot-stuffed).
  async function smtpSink() {
    const mails = [];
    const server = createServer((sock) => {
      let buf = '', inData = false, data = [], mail = { to: [] };
      const say = (l) => sock.write(l + '\r\n');
      sock.setEncoding('utf8');
      sock.on('error', () => {});
      say('220 sink.test ESMTP');
      sock.on('data', (chunk) => {
        buf += chunk;
        let i;
        while ((i = buf.indexOf('\r\n')) >= 0) {
          const line = buf.slice(0, i);
          buf = buf.slice(i + 2);
          if (inData) {
            if (line === '.') { inData = false; mail.data = data.join('\r\n'); mails.push(mail); mail = { to: [] }; say('250 queued'); }
            else data.push(line.startsWith('.') ? line.slice(1) : line);
            continue;
          }
          const verb = line.split(' ')[0].toUpperCase();
          if (verb === 'EHLO') say('250-sink.test\r\n250 8BITMIME');
          else if (verb === 'MAIL') { mail.from = /<(.*)>/.exec(line)[1]; say('250 ok'); }
          else if (verb === 'RCPT') { mail.to.push(/<(.*)>/.exec(line)[1]); say('250 ok'); }
          else if (verb === 'DATA') { inData = true; data = []; say('354 go ahead'); }
          else if (verb === 'QUIT') { say('221 bye'); sock.end(); }
          else say('502 not implemented');
        }
      });
    });
    await new Promise((r) => server.listen(0, '127.0.0.1', r));
    return { port: server.address().port, mails, close: () => server.close() };
  }

  async function instance(flags) {
    const dir = join(h.tmp, `transcript-${++n}`);
    mkdirSync(join(dir, 'data'), { recursive: true });
    const sock = join(dir, 'redis.sock');
    h.start(process.env.REDIS_SERVER || 'redis-server',
      ['--port', '0', '--unixsocket', sock, '--unixsocketperm', '700', '--dir', dir, '--save', '', '--appendonly', 'no'], `redis t${n}`);
    await waitFor('redis socket', () => existsSync(sock), 10000);
    const port = await freePort(), base = `http://127.0.0.1:${port}`;
    const common = ['--redis', `unix://${sock}`, '--data-dir', join(dir, 'data'), '--web-root', h.ROOT];
    const add = h.start(process.env.BECKON_BIN, [...common, 'agent', 'add', AGENT], 'agent add', PASSWORD + '\n');
    assert((await add.exited).code === 0, `agent add: ${add.out}`);
    const server = h.start(process.env.BECKON_BIN, [...common, '--port', String(port), '--bind', '127.0.0.1',
      '--log-level', 'warn', ...flags], `beckon t${n}`);
    await waitFor('beckon /healthz', async () => (await fetch(`${base}/healthz`)).ok, 15000)
      .catch((e) => { throw new Error(`${e.message}\n${server.out}`); });
    return base;
  }

  // The agent as a raw socket from a page of the instance's origin: window.ag.req(frame) -> reply.
  async function agent(base) {
    const r = await fetch(`${base}/api/login`, { method: 'POST', headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ name: AGENT, password: PASSWORD }) });
    assert(r.status === 200, `login: ${r.status}`);
    const { token } = await r.json();
    const page = await newPage(await h.browser.newContext(), 'transcript-agent');
    await page.route('**/favicon.ico', (rt) => rt.fulfill({ status: 204, body: '' }));
    await page.goto(`${base}/healthz`);
    await page.evaluate(([url, token]) => new Promise((resolve, reject) => {
      const ag = window.ag = { frames: [], n: 0, wait: {} };
      const ws = new WebSocket(url, 'beckon-agent.v1');
      ag.req = (o) => new Promise((res) => { o.req = ++ag.n; ag.wait[o.req] = res; ws.send(JSON.stringify(o)); });
      ws.onmessage = (e) => {
        const m = JSON.parse(e.data);
        ag.frames.push(m);
        if (m.req != null && ag.wait[m.req]) { ag.wait[m.req](m); delete ag.wait[m.req]; }
      };
      ws.onerror = reject;
      ws.onopen = () => ag.req({ type: 'hello', token }).then((m) => (m.type === 'welcome' ? resolve() : reject(new Error(JSON.stringify(m)))));
    }), [base.replace(/^http/, 'ws') + '/ws', token]);
    return page;
  }
  const agentReq = (a, o) => a.evaluate((o) => window.ag.req(o), o);

  // A visitor asks, the agent accepts, answers and closes; the widget shows the chat as ended.
  async function chatToTheEnd(base, question) {
    const a = await agent(base);
    const context = await h.browser.newContext({ viewport: { width: 1280, height: 800 } });
    const p = await newPage(context, 'transcript-visitor');
    await p.goto(`${base}/demo/index.html`);
    await W(p, '.bub').click();
    await W(p, 'textarea#bk-in').fill(question);
    await p.keyboard.press('Enter');
    let conv = null;
    await waitFor('queue_add', async () => {
      conv = await a.evaluate((q) => (window.ag.frames.find((f) => f.type === 'queue_add' && f.conversation.preview === q) || {}).conversation?.id, question);
      return !!conv;
    });
    assert((await agentReq(a, { type: 'accept', conversation: conv })).type === 'ok', 'accept');
    assert((await agentReq(a, { type: 'message', conversation: conv, cmid: 'a1', text: 'Happy to help.' })).type === 'ack', 'agent message');
    await W(p, '.m.a').filter({ hasText: 'Happy to help.' }).waitFor();
    assert((await agentReq(a, { type: 'close', conversation: conv })).type === 'ok', 'close');
    await W(p, '.rate').waitFor({ state: 'visible' }); // the closed view
    return { a, p, conv };
  }

  test('transcript: after the agent closes, "Email me the transcript" sends the chat to the typed address', async () => {
    S.sink = await smtpSink();
    const base = await instance(['--smtp-host', '127.0.0.1', '--smtp-port', String(S.sink.port),
      '--smtp-from', 'chat@shop.example']);
    const { a, p } = await chatToTheEnd(base, 'Can I get this by mail?');
    const offer = W(p, 'form.trf');
    await offer.waitFor({ state: 'visible' });
    await offer.locator('input[type=email]').fill('visitor@example.com');
    await offer.locator('.pri').click();
    await offer.locator('p[role=status]').filter({ hasText: /^Sent$/ }).waitFor();
    await waitFor('the mail', () => S.sink.mails.length === 1);
    const mail = S.sink.mails[0];
    assert(mail.from === 'chat@shop.example' && mail.to[0] === 'visitor@example.com', JSON.stringify(mail));
    assert(/You: Can I get this by mail\?/.test(mail.data) && /tina: Happy to help\./.test(mail.data), mail.data);
    for (const x of [a, p]) await x.context().close();
  });

  test('transcript: without SMTP the closed chat offers no transcript', async () => {
    const base = await instance([]);
    const { a, p } = await chatToTheEnd(base, 'No mail here?');
    await p.waitForTimeout(300);
    assert(await W(p, 'form.trf').isHidden(), 'the offer is shown without SMTP');
    for (const x of [a, p]) await x.context().close();
    S.sink.close();
  });
}
