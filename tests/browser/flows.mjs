// Browser tests for quick-reply flows (docs/flows.md, docs/widget.md "Flows"), both sides: a site
// with a flow; a visitor opens the chat and gets the greeting's buttons, chooses by mouse and by
// keyboard (Tab, Enter, Space) and reaches an answer, and a reload draws the buttons again
// (disabled but on the last message, the choice marked); another visitor is handed to a person
// and the agent sees the chat in the queue with the path; typing instead hands off too; a
// marketer edits the flow in the panel, a wrong `next` is shown at its field, a good one is
// saved and the next visitor gets the new greeting; versions and revert; the flow figures on the
// Dashboard; the Flows page at phone width.
// Registered into run.mjs's TAP stream: flowsTests({ test, ... }). Its own redis-server and
// beckon (instances.mjs), so that no other case meets the flow (BECKON_BROWSER_ONLY='^flows').
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { startInstance } from './instances.mjs';

const AGENTS = { fay: 'fay-password-1', mark: 'mark-password-1' };
const FLOW = {
  name: 'Shop help', start: 'greeting',
  steps: {
    greeting: { text: 'Hi! What can we help with?', buttons: [
      { id: 'track', label: 'Track my order', next: 'track' },
      { id: 'returns', label: 'Returns', next: 'returns' },
      { id: 'person', label: 'Talk to a person', next: 'person' }] },
    track: { text: 'Your orders are here.', link: { url: 'https://shop.example/orders', label: 'My orders' }, end: true },
    returns: { text: 'You have 30 days.', article: 'returns-policy', buttons: [
      { id: 'more', label: 'Still need help', next: 'person' },
      { id: 'menu', label: 'Back', next: 'greeting' }] },
    person: { text: 'Connecting you with a person…', handoff: true }
  }
};

export function flowsTests(h) {
  const { test, W, newPage, waitFor, assert, sleep } = h;
  const S = {}; // state shared between these steps

  async function token(name) {
    const r = await fetch(`${S.base}/api/login`, { method: 'POST', headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ name, password: AGENTS[name] }) });
    assert(r.status === 200, `login ${name}: ${r.status}`);
    return (await r.json()).token;
  }
  async function visitor(label, viewport = { width: 1280, height: 800 }) {
    const context = await h.browser().newContext({ viewport });
    const p = await newPage(context, label);
    await p.goto(`${S.base}/demo/`);
    await W(p, '.bubble').click();
    return p;
  }
  const focused = (p) => p.evaluate(() => {
    const a = document.querySelector('beckon-chat').shadowRoot.activeElement;
    return a ? a.textContent : null;
  });
  const bot = (p, text) => W(p, '.message.bot[data-id]').filter({ hasText: text });
  async function signIn(name, viewport = { width: 1440, height: 860 }) {
    const page = await newPage(await h.browser().newContext({ viewport }), `flows-${name}`);
    await page.goto(`${S.base}/agent/`);
    await page.fill('#login-name', name);
    await page.fill('#login-password', AGENTS[name]);
    await page.click('#login-submit');
    await page.locator('#conn[data-state=online]').waitFor();
    return page;
  }

  test('flows: a site with a flow (saved over REST by a marketer); an agent is online', async () => {
    S.base = (await startInstance(h, 'flows', { agents: AGENTS, roles: { mark: 'marketer' } })).base;
    S.mark = await token('mark');
    const r = await fetch(`${S.base}/api/flows/demo`, { method: 'PUT', headers: { 'content-type': 'application/json', authorization: `Bearer ${S.mark}` },
      body: JSON.stringify(FLOW) });
    assert(r.status === 200, `PUT /api/flows/demo: ${r.status} ${await r.text()}`);
    S.agent = await signIn('fay');
    assert(await S.agent.locator('#nav-flows').isHidden(), 'an agent has no Flows page');
    for (const name of ['beckon.js', 'beckon-flows.js', 'beckon-rating.js']) {
      const size = gzipSync(readFileSync(join(h.ROOT, 'widget', name)), { level: 9 }).length;
      h.log(`# ${name}: ${size} bytes gzipped`);
    }
  });

  test('flows: the visitor opens the chat and gets the greeting with its buttons', async () => {
    const scripts = [];
    const context = await h.browser().newContext({ viewport: { width: 1280, height: 800 } });
    const p = S.v = await newPage(context, 'flows-visitor');
    p.on('request', (r) => { if (/beckon-flows\.js/.test(r.url())) scripts.push(r.url()); });
    await p.goto(`${S.base}/demo/`);
    await W(p, '.bubble').waitFor();
    await sleep(300);
    assert(scripts.length === 0, 'beckon-flows.js loaded before a bot spoke');
    await W(p, '.bubble').click();
    const greeting = bot(p, 'Hi! What can we help with?');
    await greeting.waitFor();
    const group = greeting.locator('[role=group]');
    assert(await group.getAttribute('aria-label') === 'Choose an answer', 'the buttons are a labelled group');
    const labels = await group.locator('button').allTextContents();
    assert(JSON.stringify(labels) === '["Track my order","Returns","Talk to a person"]', `buttons ${labels}`);
    assert(await group.locator('button:enabled').count() === 3, 'the greeting\'s buttons can be chosen');
    assert(scripts.length === 1, `beckon-flows.js requests: ${scripts.length}`);
    assert(await W(p, '.status').textContent() === '', 'no chat state while the flow runs');
  });

  test('flows: a choice by mouse; the reload draws the buttons again, only the last message\'s enabled', async () => {
    const p = S.v;
    await bot(p, 'Hi! What can we help with?').locator('button', { hasText: 'Returns' }).click();
    await W(p, '.message.visitor[data-id]').filter({ hasText: 'Returns' }).waitFor();
    const answer = bot(p, 'You have 30 days.');
    await answer.waitFor();
    assert(await answer.locator('.flow-article').textContent() === 'Article: returns-policy', 'the article');
    const first = bot(p, 'Hi! What can we help with?').locator('button');
    await waitFor('the greeting\'s buttons disabled', async () => (await first.evaluateAll((l) => l.every((b) => b.disabled))));
    assert(await first.filter({ hasText: 'Returns' }).getAttribute('aria-pressed') === 'true', 'the choice is marked');
    assert(await first.filter({ hasText: 'Track my order' }).getAttribute('aria-pressed') === 'false', 'the others are not');
    await waitFor('the next step\'s first button has the focus', async () => (await focused(p)) === 'Still need help');
    await p.reload();
    await bot(p, 'You have 30 days.').locator('button').first().waitFor();
    await waitFor('history: the old buttons disabled, the last ones enabled', async () => {
      const old = await bot(p, 'Hi! What can we help with?').locator('button').evaluateAll((l) => l.map((b) => b.disabled + ':' + b.getAttribute('aria-pressed')));
      const last = await bot(p, 'You have 30 days.').locator('button').evaluateAll((l) => l.map((b) => b.disabled));
      return JSON.stringify(old) === '["true:false","true:true","true:false"]' && JSON.stringify(last) === '[false,false]';
    });
  });

  test('flows: choices by keyboard (Tab and Enter, then Space) reach an answer with its link', async () => {
    const p = S.v;
    const step = bot(p, 'You have 30 days.');
    await step.locator('button').first().focus();
    await p.keyboard.press('Tab');
    assert(await focused(p) === 'Back', `Tab moves to ${await focused(p)}`);
    await p.keyboard.press('Enter');
    await waitFor('the greeting again', async () => await bot(p, 'Hi! What can we help with?').count() === 2);
    await waitFor('its first button has the focus', async () => (await focused(p)) === 'Track my order');
    await p.keyboard.press('Space');
    const answer = bot(p, 'Your orders are here.');
    await answer.waitFor();
    const link = answer.locator('a.flow-link');
    assert(await link.textContent() === 'My orders', 'link text');
    assert(await link.getAttribute('href') === 'https://shop.example/orders' && await link.getAttribute('target') === '_blank' &&
      await link.getAttribute('rel') === 'noopener', 'the link opens in a new tab, without an opener');
    await waitFor('every button disabled: an answer was reached', async () =>
      (await W(p, '.flow-button').evaluateAll((l) => l.length === 8 && l.every((b) => b.disabled))));
    await p.context().close();
  });

  test('flows: a hand-off queues the chat; the agent sees the path and the bot\'s messages', async () => {
    const p = await visitor('flows-handoff'), a = S.agent;
    await bot(p, 'Hi! What can we help with?').locator('button', { hasText: 'Returns' }).click();
    await bot(p, 'You have 30 days.').locator('button', { hasText: 'Still need help' }).click();
    await bot(p, 'Connecting you with a person…').waitFor();
    await waitFor('queued', async () => (await W(p, '.status').textContent()) === 'Waiting for an agent…');
    const item = a.locator('#queue .item').filter({ hasText: 'Returns › Still need help' });
    await item.waitFor();
    await item.click();
    await a.locator('#conv-flow').filter({ hasText: 'Came through the flow: Returns › Still need help' }).waitFor();
    const greeting = a.locator('#log .msg.bot').filter({ hasText: 'Hi! What can we help with?' });
    await greeting.waitFor();
    assert(JSON.stringify(await greeting.locator('.flow-choices li').allTextContents()) === '["Track my order","Returns","Talk to a person"]', 'the buttons offered');
    assert(/^Bot \(flow\)/.test(await greeting.locator('.meta').textContent()), 'a bot message is said to be one');
    await a.click('#accept');
    await W(p, '.message.system').filter({ hasText: 'fay joined the chat' }).waitFor();
    await waitFor('the flow\'s buttons are all disabled', async () => (await W(p, '.flow-button').evaluateAll((l) => l.every((b) => b.disabled))));
    await a.click('#close-conv');
    await a.locator('#conv-state').filter({ hasText: 'Closed' }).waitFor();
    await p.context().close();
  });

  test('flows: typing instead of choosing hands off with the typed text', async () => {
    const p = await visitor('flows-typing'), a = S.agent;
    await bot(p, 'Hi! What can we help with?').locator('button').first().waitFor();
    await W(p, 'textarea#bk-input').fill('Where is my parcel?');
    await p.keyboard.press('Enter');
    await waitFor('queued', async () => (await W(p, '.status').textContent()) === 'Waiting for an agent…');
    await waitFor('the greeting\'s buttons disabled', async () => (await bot(p, 'Hi! What can we help with?').locator('button').evaluateAll((l) => l.every((b) => b.disabled))));
    const item = a.locator('#queue .item').filter({ hasText: 'Where is my parcel?' });
    await item.waitFor();
    assert(await item.locator('.flow-path').count() === 0, 'no path: nothing was chosen');
    await item.click();
    await a.locator('#log .msg.bot').filter({ hasText: 'Hi! What can we help with?' }).waitFor();
    assert(await a.locator('#conv-flow').isHidden(), 'no path shown');
    await a.click('#close-conv');
    await a.locator('#conv-state').filter({ hasText: 'Closed' }).waitFor();
    await p.context().close();
  });

  test('flows: outside hours a hand-off asks for an email, checked before it is sent; the thanks follows', async () => {
    // Hours that hold only the UTC hour three hours from now: closed now, whatever the time of day.
    const later = new Date(Date.now() + 3 * 3600 * 1000);
    const day = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'][later.getUTCDay()], hh = later.getUTCHours();
    const span = `${day} ${String(hh).padStart(2, '0')}:00-${hh === 23 ? '24' : String(hh + 1).padStart(2, '0')}:00`;
    const { base } = await startInstance(h, 'flows-closed', { agents: { mark: AGENTS.mark }, roles: { mark: 'marketer' }, site: { hours: span } });
    const login = await fetch(`${base}/api/login`, { method: 'POST', headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'mark', password: AGENTS.mark }) });
    const closed = { text: 'We are closed. Leave your email and we will write.', collect_email: true, thanks: 'Thanks, we will write to you.' };
    const r = await fetch(`${base}/api/flows/demo`, { method: 'PUT', headers: { 'content-type': 'application/json', authorization: `Bearer ${(await login.json()).token}` },
      body: JSON.stringify({ ...FLOW, closed }) });
    assert(r.status === 200, `PUT: ${r.status} ${await r.text()}`);
    const context = await h.browser().newContext({ viewport: { width: 1280, height: 800 } });
    const p = await newPage(context, 'flows-closed');
    await p.goto(`${base}/demo/`);
    await W(p, '.bubble').click();
    await bot(p, 'Hi! What can we help with?').locator('button', { hasText: 'Talk to a person' }).click();
    const ask = bot(p, closed.text);
    await ask.waitFor();
    const input = ask.locator('form.flow-email input[type=email]');
    assert(await input.getAttribute('aria-label') === 'Email' && await input.getAttribute('required') === '', 'a labelled, required address field');
    // (That the next step takes the focus after a choice is the keyboard case's; here, under a
    // loaded CI machine, it once came later than the wait: this case is about the address.)
    await input.fill('not an address');
    await ask.locator('form.flow-email button').click();
    await sleep(500);
    assert(await W(p, '.message.visitor').count() === 1, 'an address that is none is not sent');
    await input.fill('kari@example.com');
    await p.keyboard.press('Enter');
    await W(p, '.message.visitor[data-id]').filter({ hasText: 'kari@example.com' }).waitFor();
    await bot(p, closed.thanks).waitFor();
    await waitFor('the form is done', async () => input.isDisabled());
    assert(await W(p, '.status').textContent() === '', 'not queued');
    await context.close();
  });

  test('flows: the marketer edits the flow; a wrong next is shown at its field, a good one is saved', async () => {
    const m = S.m = await signIn('mark');
    await m.locator('#nav-flows').click();
    const row = m.locator('#flows-list li[data-site=demo]');
    await row.waitFor();
    assert(/Shop help/.test(await row.textContent()) && /version 1/.test(await row.textContent()), `row: ${await row.textContent()}`);
    await row.locator('button', { hasText: 'Edit' }).click();
    const text = m.locator('#ff-steps_greeting_text');
    await text.waitFor();
    await text.fill('Hello! Pick a topic.');
    const next = m.locator('[id="ff-steps_greeting_buttons_1__next"]');
    assert(await next.inputValue() === 'returns', `next ${await next.inputValue()}`);
    await next.fill('refund');
    await m.click('#flow-save');
    const error = m.locator('.ffield').filter({ has: next }).locator('.field-error');
    await error.waitFor();
    assert(/no step 'refund'/.test(await error.textContent()) && /steps\.greeting\.buttons\[1\]\.next/.test(await error.textContent()), `error: ${await error.textContent()}`);
    assert(await next.getAttribute('aria-invalid') === 'true', 'the field is marked invalid');
    assert(await m.evaluate(() => document.activeElement && document.activeElement.id) === 'ff-steps_greeting_buttons_1__next', 'the field has the focus');
    assert(/steps\.greeting\.buttons\[1\]\.next: no step 'refund'/.test(await m.textContent('#flow-summary')), 'summary');
    await next.fill('returns');
    await m.click('#flow-check');
    await m.locator('#flow-status').filter({ hasText: 'No problems found.' }).waitFor();
    assert(await m.locator('.field-error').count() === 0, 'the error is gone');
    await m.click('#flow-save');
    await m.locator('#flow-status').filter({ hasText: 'Saved as version 2.' }).waitFor();
    await m.locator('#flow-versions li[data-version="1"] button', { hasText: 'Revert' }).waitFor();
    const p = await visitor('flows-new-greeting');
    await bot(p, 'Hello! Pick a topic.').locator('button').first().waitFor();
    await p.context().close();
  });

  test('flows: the JSON view shows the same flow and names a problem; revert saves an old version again', async () => {
    const m = S.m;
    await m.click('#flow-view-json');
    const json = JSON.parse(await m.inputValue('#flow-json'));
    assert(json.steps.greeting.text === 'Hello! Pick a topic.' && json.start === 'greeting', 'the JSON is the flow');
    json.start = 'hello';
    await m.fill('#flow-json', JSON.stringify(json, null, 2));
    await m.click('#flow-check');
    await m.locator('#flow-json-box .field-error').filter({ hasText: "no step 'hello'" }).waitFor();
    await m.click('#flow-view-form');
    assert(await m.inputValue('#ff-start') === 'hello', 'the form has what the JSON said');
    await m.locator('#flow-versions li[data-version="1"] button').click();
    await m.locator('#flow-title').filter({ hasText: 'version 3' }).waitFor();
    assert(await m.inputValue('#ff-steps_greeting_text') === 'Hi! What can we help with?', 'version 1\'s text is back');
    const r = await fetch(`${S.base}/api/flows/demo`, { headers: { authorization: `Bearer ${S.mark}` } });
    const body = await r.json();
    assert(body.version === 3 && body.flow.steps.greeting.text === 'Hi! What can we help with?', `GET: ${JSON.stringify(body).slice(0, 200)}`);
  });

  test('flows: the Dashboard shows the four flow figures the API counts', async () => {
    const a = S.agent;
    await a.click('#nav-dashboard');
    await a.locator('#dash-cards .card[data-figure=flows_started]').waitFor();
    const r = await fetch(`${S.base}/api/stats/service`, { headers: { authorization: `Bearer ${S.mark}` } });
    const t = (await r.json()).totals;
    assert(t.flows_started === 4 && t.flows_handed_off === 2 && t.flows_completed === 1, `API: ${JSON.stringify(t)}`);
    for (const k of ['flows_started', 'flows_completed', 'flows_handed_off', 'flows_emails']) {
      const v = await a.locator(`#dash-cards .card[data-figure=${k}] .value`).getAttribute('data-value');
      assert(v === String(t[k]), `card ${k}: ${v} but the API says ${t[k]}`);
    }
    await a.context().close();
  });

  test('flows: at phone width (390 px) the Flows page and its editor fit the screen', async () => {
    const m = S.m;
    await m.setViewportSize({ width: 390, height: 800 });
    await m.click('#flow-view-form').catch(() => {});
    const spill = await m.evaluate(() => [...document.querySelectorAll('#flows-view, #flows-view .view-body, #flow-editor, #flow-editor .fstep, #flow-editor .ffield')]
      .filter((n) => n.getBoundingClientRect().right > 391 || n.scrollWidth > n.clientWidth + 1).map((n) => n.id || n.className));
    assert(spill.length === 0, `wider than the screen: ${spill.slice(0, 5).join(', ')}`);
    const save = await m.locator('#flow-save').boundingBox();
    assert(save && save.x >= 0 && save.x + save.width <= 390, `Save button ${JSON.stringify(save)}`);
    await m.context().close();
  });
}
