// Browser tests for the agent panel's Dashboard (docs/protocol.md, "Service KPIs"): after real
// chats over real sockets, the figure cards show what GET /api/stats/service says, the SVG chart
// has one bar group per day, the agent filter changes the figures, and "Download CSV" saves the
// CSV with its header line.
//
// Registered into run.mjs's TAP stream with the same helpers as panelTests. These cases run their
// own redis-server and beckon (own data dir, own agents), so the figures depend on nothing else.
import { readFileSync } from 'node:fs';
import { startInstance } from './instances.mjs';

export function dashboardTests(h) {
  const { test, newPage, waitFor, assert } = h;
  const D = {}; // state shared between these steps
  const AGENTS = { dora: 'dora-password-1', eli: 'eli-password-1' };
  const HEADER = 'day,chats,missed,answered,waiting_p50,waiting_p90,first_response_p50,first_response_p90,' +
    'handling_avg,handling_p50,ratings,csat,invitations_shown,invitations_accepted,invitation_chats,' +
    'flows_started,flows_completed,flows_handed_off,flows_emails,' +
    'answered_by_email,email_first_response_p50,email_first_response_p90';

  const instance = async () => (await startInstance(h, 'dashboard', { agents: AGENTS })).base;

  async function login(name) {
    const r = await fetch(`${D.base}/api/login`, { method: 'POST', headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ name, password: AGENTS[name] }) });
    assert(r.status === 200, `login ${name}: ${r.status}`);
    return (await r.json()).token;
  }

  async function stats(query) {
    const r = await fetch(`${D.base}/api/stats/service${query}`, { headers: { authorization: `Bearer ${D.token}` } });
    assert(r.status === 200, `GET /api/stats/service${query}: ${r.status}`);
    return r.json();
  }

  // The cards' raw figures (data-value), by figure name.
  const cards = (a) => a.evaluate(() => Object.fromEntries([...document.querySelectorAll('#dash-cards .card')]
    .map((c) => [c.dataset.figure, c.querySelector('.value').dataset.value])));
  const same = (card, api) => card === (api == null ? '' : String(api));

  test('dashboard: real chats (two agents, one missed, ratings) are closed on a fresh server', async () => {
    D.base = await instance();
    const tokens = { dora: await login('dora'), eli: await login('eli') };
    D.token = tokens.dora;
    const page = await newPage(await h.browser.newContext(), 'dashboard-chats');
    await page.route('**/favicon.ico', (r) => r.fulfill({ status: 204, body: '' }));
    await page.goto(`${D.base}/healthz`);
    // Sockets from a page of the server's own origin: two agents and three visitors.
    const done = await page.evaluate(async ([url, tokens]) => {
      const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
      function socket(proto, hello) {
        return new Promise((resolve, reject) => {
          const s = { n: 0, wait: {}, frames: [] };
          const ws = s.ws = new WebSocket(url, proto);
          s.req = (o) => new Promise((res) => { o.req = ++s.n; s.wait[o.req] = res; ws.send(JSON.stringify(o)); });
          s.ok = async (o, type = 'ok') => { const m = await s.req(o); if (m.type !== type) throw new Error(JSON.stringify(o) + ' -> ' + JSON.stringify(m)); return m; };
          ws.onmessage = (e) => {
            const m = JSON.parse(e.data);
            s.frames.push(m);
            if (m.req != null && s.wait[m.req]) { s.wait[m.req](m); delete s.wait[m.req]; }
          };
          ws.onerror = () => reject(new Error('socket error'));
          ws.onopen = () => s.ok(hello, 'welcome').then(() => resolve(s), reject);
        });
      }
      const dora = await socket('beckon-agent.v1', { type: 'hello', token: tokens.dora });
      const eli = await socket('beckon-agent.v1', { type: 'hello', token: tokens.eli });
      const visitor = () => socket('beckon-visitor.v1', { type: 'hello', site: 'demo' });
      async function chat(agent, waitMs, score) {
        const v = await visitor();
        const ack = await v.ok({ type: 'message', cmid: 'm1', text: 'A question' }, 'ack');
        await sleep(waitMs);
        await agent.ok({ type: 'accept', conversation: ack.conversation });
        await agent.ok({ type: 'message', conversation: ack.conversation, cmid: 'a1', text: 'An answer' }, 'ack');
        await agent.ok({ type: 'close', conversation: ack.conversation });
        if (score) await v.ok({ type: 'rate', score });
      }
      await chat(dora, 300, 5);
      await chat(dora, 100, 4);
      await chat(eli, 200, 2);
      const gone = await visitor();  // leaves before anyone accepts
      await gone.ok({ type: 'message', cmid: 'm1', text: 'Hello?' }, 'ack');
      await gone.ok({ type: 'close' });
      return 4;
    }, [D.base.replace(/^http/, 'ws') + '/ws', tokens]);
    assert(done === 4, 'chats');
    await page.context().close();
    D.all = await stats('');
    assert(D.all.totals.chats === 4 && D.all.totals.missed === 1, `API totals: ${JSON.stringify(D.all.totals)}`);
  });

  test('dashboard: the cards show the API\'s figures; the chart has one bar group per day', async () => {
    const context = await h.browser.newContext({ viewport: { width: 1440, height: 900 } });
    const a = D.page = await newPage(context, 'dashboard');
    await a.goto(`${D.base}/agent/`);
    await a.fill('#login-name', 'dora');
    await a.fill('#login-password', AGENTS.dora);
    await a.click('#login-submit');
    await a.locator('#conn[data-state=online]').waitFor();
    await a.click('#nav-dashboard');
    await a.locator('#dashboard-view').waitFor({ state: 'visible' });
    await a.locator('#dash-cards .card[data-figure=chats] .value[data-value="4"]').waitFor();
    const c = await cards(a), t = D.all.totals;
    for (const k of ['chats', 'missed', 'waiting_p50', 'first_response_p50', 'handling_avg', 'csat', 'invitation_chats'])
      assert(same(c[k], t[k]), `card ${k}: ${c[k]} but the API says ${t[k]}`);
    assert(await a.locator('#dash-cards .card[data-figure=csat] .value').textContent() === '67 %', 'CSAT 2 of 3 as 67 %');
    assert(await a.inputValue('#dash-from') === D.all.from && await a.inputValue('#dash-to') === D.all.to,
      'the range defaults to the last 7 days');
    const groups = a.locator('#dash-chart svg g.day');
    assert(await groups.count() === 7, `bar groups: ${await groups.count()} for 7 days`);
    const last = groups.last();
    assert(await last.getAttribute('data-day') === D.all.to, 'the last group is today');
    assert((await last.locator('title').textContent()).startsWith(`${D.all.to}: 4 chats, 1 missed`), 'tooltip');
    assert(await last.locator('rect.missed').count() === 1 && await last.locator('circle.first-response').count() === 1, 'stacked bar and dot');
    const rows = a.locator('#dash-agents-list tr');
    assert(await rows.count() === 2, 'one table row per agent');
    assert(await rows.nth(0).locator('th').textContent() === 'dora' && await rows.nth(1).locator('th').textContent() === 'eli', 'agents by name');
    await h.shot(a, 'dashboard.png');
  });

  test('dashboard: the agent filter changes the figures', async () => {
    const a = D.page;
    await a.selectOption('#dash-agent', 'eli');
    await a.locator('#dash-cards .card[data-figure=chats] .value[data-value="1"]').waitFor();
    const eli = await stats('?agent=eli'), c = await cards(a);
    for (const k of ['chats', 'missed', 'waiting_p50', 'first_response_p50', 'handling_avg', 'csat'])
      assert(same(c[k], eli.totals[k]), `eli's card ${k}: ${c[k]} but the API says ${eli.totals[k]}`);
    assert(c.csat === '0', `eli's one rating is a 2: CSAT 0, got ${c.csat}`);
    assert(await a.locator('#dash-agents-list tr').count() === 1, 'the table shows eli only');
    await a.selectOption('#dash-agent', '');
    await a.locator('#dash-cards .card[data-figure=chats] .value[data-value="4"]').waitFor();
  });

  test('dashboard: Download CSV saves beckon-service-FROM-TO.csv with the header line', async () => {
    const a = D.page;
    const [download] = await Promise.all([a.waitForEvent('download'), a.click('#dash-csv')]);
    assert(download.suggestedFilename() === `beckon-service-${D.all.from}-${D.all.to}.csv`, download.suggestedFilename());
    const text = readFileSync(await download.path(), 'utf8');
    const lines = text.split('\r\n');
    assert(lines[0] === HEADER, `header: ${lines[0]}`);
    assert(lines[7].startsWith(`${D.all.to},4,1,3,`) && lines[8].startsWith('total,4,1,3,'), `rows: ${lines.slice(7, 9)}`);
  });

  test('dashboard: a range over 366 days is refused with a message; at 380 px nothing spills sideways', async () => {
    const a = D.page;
    await a.fill('#dash-from', '2020-01-01');
    await a.click('#dash-show');
    await a.locator('#dash-error').filter({ hasText: 'at most 366 days' }).waitFor();
    await a.fill('#dash-from', D.all.from);
    await a.click('#dash-show');
    await waitFor('the error to clear', async () => (await a.textContent('#dash-error')) === '');
    await a.setViewportSize({ width: 380, height: 800 });
    const spill = await a.evaluate(() => [...document.querySelectorAll('#dashboard-view .view-body > *, #dash-cards, .chart')]
      .filter((n) => n.scrollWidth > n.clientWidth + 1 && !n.classList.contains('table-wrap')).map((n) => n.id || n.className));
    assert(spill.length === 0, `wider than the screen: ${spill.join(', ')}`);
    await a.context().close();
  });
}
