// Own redis-server + beckon instances for browser cases that must not share the suite's server
// (their agents, queue, sites and figures stay apart), and an agent as a raw WebSocket opened
// from a page of the instance's own origin (agent sockets accept only Beckon's origin).
//
// `h` is the runner's helper object (run.mjs): start, waitFor, assert, newPage, ROOT, tmp, browser.
import { join } from 'node:path';
import { mkdirSync, existsSync } from 'node:fs';
import { createServer } from 'node:net';

export function freePort() {
  return new Promise((res, rej) => {
    const s = createServer();
    s.unref();
    s.on('error', rej);
    s.listen(0, '127.0.0.1', () => { const { port } = s.address(); s.close(() => res(port)); });
  });
}

// Starts redis and beckon under h.tmp/<name>. agents: {name: password}; roles: {name: role} for
// those that are no plain agent (marketer, admin); site: settings for the
// site "demo" of this origin, each set with `beckon site set demo KEY VALUE`; flags: beckon's.
// Returns {base, server}.
export async function startInstance(h, name, { agents = {}, roles = {}, site = null, flags = [] } = {}) {
  const dir = join(h.tmp, name);
  mkdirSync(join(dir, 'data'), { recursive: true });
  const sock = join(dir, 'redis.sock');
  h.start(process.env.REDIS_SERVER || 'redis-server',
    ['--port', '0', '--unixsocket', sock, '--unixsocketperm', '700', '--dir', dir, '--save', '', '--appendonly', 'no'],
    `redis ${name}`);
  await h.waitFor('redis socket', () => existsSync(sock), 10000);
  const port = await freePort(), base = `http://127.0.0.1:${port}`;
  const common = ['--redis', `unix://${sock}`, '--data-dir', join(dir, 'data'), '--web-root', h.ROOT];
  const cli = async (args, input) => {
    const p = h.start(process.env.BECKON_BIN, [...common, ...args], args.join(' '), input);
    const r = await p.exited;
    h.assert(r.code === 0, `beckon ${args.join(' ')}: ${p.out}`);
  };
  for (const [agent, password] of Object.entries(agents)) await cli(['agent', 'add', agent, ...(roles[agent] ? [roles[agent]] : [])], password + '\n');
  if (site) {
    await cli(['site', 'add', 'demo', base]);
    for (const [k, v] of Object.entries(site)) await cli(['site', 'set', 'demo', k, v]);
  }
  const server = h.start(process.env.BECKON_BIN, [...common, '--port', String(port), '--bind', '127.0.0.1',
    '--log-level', 'warn', ...flags], `beckon ${name}`);
  await h.waitFor('beckon /healthz', async () => (await fetch(`${base}/healthz`)).ok, 15000)
    .catch((e) => { throw new Error(`${e.message}\n${server.out}`); });
  return { base, server };
}

// Logs the agent in and opens its socket from a page of base's origin. In the page,
// window.ag.req(frame) resolves with the reply and window.ag.frames holds everything received.
export async function rawAgent(h, base, name, password, label) {
  const r = await fetch(`${base}/api/login`, { method: 'POST', headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ name, password }) });
  h.assert(r.status === 200, `login ${name}: ${r.status}`);
  const { token } = await r.json();
  const page = await h.newPage(await h.browser.newContext(), label);
  await page.route('**/favicon.ico', (rt) => rt.fulfill({ status: 204, body: '' }));
  await page.goto(`${base}/healthz`);
  await page.evaluate(([url, token]) => new Promise((resolve, reject) => {
    const ag = window.ag = { frames: [], n: 0, wait: {} };
    const ws = ag.ws = new WebSocket(url, 'beckon-agent.v1');
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

// A request on a rawAgent page; resolves with the reply.
export const agentRequest = (page, frame) => page.evaluate((o) => window.ag.req(o), frame);
