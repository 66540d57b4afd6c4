// Browser tests for the transcript by email (docs/protocol.md: `transcript`, `welcome.transcript_email`):
// after the agent closes the chat the widget offers "Email me the transcript"; the visitor types an
// address and the mail reaches an SMTP server of this file. Without SMTP the offer is not there.
//
// Registered into run.mjs's TAP stream with the same helpers as waitingTests. These cases run their
// own redis-server and beckon instances (own data dirs, own agent).
import { createServer } from 'node:net';
import { startInstance, rawAgent, agentRequest } from './instances.mjs';

// A minimal SMTP server: records {from, to, data} per accepted message (data un-dot-stuffed).
export async function smtpSink() {
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


export function transcriptTests(h) {
  const { test, W, newPage, waitFor, assert } = h;
  const AGENT = 'tina', PASSWORD = 'tina-password-1';
  const S = {};
  let n = 0;

  const instance = async (flags) =>
    (await startInstance(h, `transcript-${++n}`, { agents: { [AGENT]: PASSWORD }, flags })).base;
  // The agent as a raw socket from a page of the instance's origin: window.ag.req(frame) -> reply.
  const agent = (base) => rawAgent(h, base, AGENT, PASSWORD, 'transcript-agent');
  const agentReq = agentRequest;

  // A visitor asks, the agent accepts, answers and closes; the widget shows the chat as ended.
  async function chatToTheEnd(base, question) {
    const a = await agent(base);
    const context = await h.browser.newContext({ viewport: { width: 1280, height: 800 } });
    const p = await newPage(context, 'transcript-visitor');
    await p.goto(`${base}/demo/index.html`);
    await W(p, '.bubble').click();
    await W(p, 'textarea#bk-input').fill(question);
    await p.keyboard.press('Enter');
    let conv = null;
    await waitFor('queue_add', async () => {
      conv = await a.evaluate((q) => (window.ag.frames.find((f) => f.type === 'queue_add' && f.conversation.preview === q) || {}).conversation?.id, question);
      return !!conv;
    });
    assert((await agentReq(a, { type: 'accept', conversation: conv })).type === 'ok', 'accept');
    assert((await agentReq(a, { type: 'message', conversation: conv, cmid: 'a1', text: 'Happy to help.' })).type === 'ack', 'agent message');
    await W(p, '.message.agent').filter({ hasText: 'Happy to help.' }).waitFor();
    assert((await agentReq(a, { type: 'close', conversation: conv })).type === 'ok', 'close');
    await W(p, '.rating').waitFor({ state: 'visible' }); // the closed view
    return { a, p, conv };
  }

  test('transcript: after the agent closes, "Email me the transcript" sends the chat to the typed address', async () => {
    S.sink = await smtpSink();
    const base = await instance(['--smtp-host', '127.0.0.1', '--smtp-port', String(S.sink.port),
      '--smtp-from', 'chat@shop.example']);
    const { a, p } = await chatToTheEnd(base, 'Can I get this by mail?');
    const offer = W(p, 'form.transcript');
    await offer.waitFor({ state: 'visible' });
    await offer.locator('input[type=email]').fill('visitor@example.com');
    await offer.locator('.primary').click();
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
    assert(await W(p, 'form.transcript').isHidden(), 'the offer is shown without SMTP');
    for (const x of [a, p]) await x.context().close();
    S.sink.close();
  });
}
