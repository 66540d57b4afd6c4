// Browser tests for a waiting visitor (docs/protocol.md: the pushes `queue_position` and
// `offer_email`, the automatic acknowledgement) and for tracking consent (`welcome.consent_required`,
// `consent`, `Beckon.consent()`).
//
// Registered into run.mjs's TAP stream with the same helpers as panelTests. These cases run their
// own redis-server and beckon instances (own data dirs, own agent), so the shared server's agents,
// queue and sites are left as they were.
import { startInstance, rawAgent, agentRequest } from './instances.mjs';

export function waitingTests(h) {
  const { test, W, newPage, waitFor, assert } = h;
  const AGENT = 'wendy', PASSWORD = 'wendy-password-1';
  const S = {}; // state shared between these steps
  let n = 0;

  // A fresh redis + beckon with extra flags; `site` adds the site "demo" (for this origin) with these settings.
  const instance = (flags, site) => startInstance(h, `waiting-${++n}`, { agents: { [AGENT]: PASSWORD }, flags, site });
  // The agent, as a raw agent socket from a page of the instance's own origin: window.ag.
  const agent = (base) => rawAgent(h, base, AGENT, PASSWORD, 'waiting-agent');
  const agentReq = agentRequest;
  // The queued conversation whose preview has this text (from the agent's queue_add pushes).
  async function queued(a, text) {
    let id = null;
    await waitFor(`queue_add "${text}"`, async () => {
      id = await a.evaluate((text) => (window.ag.frames.find((f) => f.type === 'queue_add' && f.conversation.preview === text) || {}).conversation?.id, text);
      return !!id;
    });
    return id;
  }

  // A visitor page; lang "da" serves the demo page with <html lang="da">; attrs go on the script tag.
  async function visitor(base, { lang, attrs, path = '/demo/index.html', init } = {}) {
    const context = await h.browser.newContext({ viewport: { width: 1280, height: 800 } });
    const p = await newPage(context, `waiting-visitor${lang ? '-' + lang : ''}`);
    p.sent = []; p.got = [];
    p.on('websocket', (ws) => {
      ws.on('framesent', (f) => { try { p.sent.push(JSON.parse(f.payload)); } catch (e) { /* binary */ } });
      ws.on('framereceived', (f) => { try { p.got.push(JSON.parse(f.payload)); } catch (e) { /* binary */ } });
    });
    // <html lang> and the script tag's attributes, set as the parser inserts them (before beckon.js runs).
    if (lang || attrs) {
      await p.addInitScript(([lang, attrs]) => {
        new MutationObserver(() => {
          if (lang && document.documentElement) document.documentElement.lang = lang;
          const sc = document.querySelector('script[data-site]');
          if (sc && attrs) for (const [k, v] of Object.entries(attrs)) sc.setAttribute(k, v);
        }).observe(document, { childList: true, subtree: true });
      }, [lang, attrs]);
    }
    if (init) await p.addInitScript(init);
    await p.goto(`${base}${path}`);
    await W(p, '.bubble').waitFor();
    return p;
  }
  async function ask(p, text) {
    await W(p, '.bubble').click();
    await W(p, 'textarea#bk-input').fill(text);
    await p.keyboard.press('Enter');
    await W(p, '.message.visitor[data-id]').filter({ hasText: text }).waitFor()
      .catch((e) => { throw new Error(`${e.message.split('\n')[0]}; sent ${JSON.stringify(p.sent.slice(-4))}; got ${JSON.stringify(p.got.slice(-6))}`); });
  }
  // The state line (.st) and the queue line (.qs) under it; failures show what the visitor received.
  const statusIs = (p, want, sel = '.status') => waitFor(`${sel} "${want}"`, async () => (await W(p, sel).textContent()) === want)
    .catch(async (e) => { throw new Error(`${e.message}; it says "${await W(p, sel).textContent()}"; got ${JSON.stringify(p.got.slice(-6))}`); });
  const queueIs = (p, re) => waitFor(`queue line ${re}`, async () => re.test(await W(p, '.queue span').textContent()))
    .catch(async (e) => { throw new Error(`${e.message}; it says "${await W(p, '.queue span').textContent()}"; got ${JSON.stringify(p.got.slice(-6))}`); });

  test('waiting: two queued visitors see "number 1" and "number 2"; after an accept the second is number 1', async () => {
    S.w = await instance(['--auto-ack-seconds', '1', '--offer-email-seconds', '3']);
    S.a = await agent(S.w.base);
    S.v1 = await visitor(S.w.base);
    await ask(S.v1, 'First in line');
    await queueIs(S.v1, /^You are number 1 in the queue$/);
    await statusIs(S.v1, 'Waiting for an agent…');
    S.v2 = await visitor(S.w.base);
    await ask(S.v2, 'Second in line');
    // No wait history yet: expected_wait_seconds is null, so no time is shown.
    await queueIs(S.v2, /^You are number 2 in the queue$/);
    const r = await agentReq(S.a, { type: 'accept', conversation: await queued(S.a, 'First in line') });
    assert(r.type === 'ok', `accept: ${JSON.stringify(r)}`);
    await statusIs(S.v1, "You're chatting with wendy");
    await W(S.v1, '.queue').waitFor({ state: 'hidden' }); // cleared once active
    await queueIs(S.v2, /^You are number 1 in the queue( · about \d+ min)?$/); // now with one wait of history
    assert(await W(S.v2, '.leave-message-button').isHidden(), 'the leave-a-message button is only for when nobody is online');
  });

  test('waiting: the automatic acknowledgement comes in Danish', async () => {
    S.v3 = await visitor(S.w.base, { lang: 'da' });
    await ask(S.v3, 'Hvornår sender I?');
    await W(S.v3, '.message.system .text').filter({ hasText: 'Vi har set dit spørgsmål og svarer om lidt.' }).waitFor();
    await queueIs(S.v3, /^Du er nummer 2 i køen( · ca\. \d+ min)?$/);
  });

  test('waiting: after offer-email-seconds the email card appears, opens the form, and can be dismissed', async () => {
    const card = W(S.v3, '.offer-email');
    await card.waitFor();
    assert(await card.locator('p').textContent() === 'Vil du hellere have svaret på e-mail?', 'Danish card text');
    assert(await W(S.v3, 'form.leave-message').isHidden(), 'the form waits for the button');
    await card.locator('.primary').click();
    await W(S.v3, 'form.leave-message').waitFor({ state: 'visible' });
    await card.waitFor({ state: 'detached' });
    // The other waiting visitor dismisses theirs.
    const c2 = W(S.v2, '.offer-email');
    await c2.waitFor();
    await c2.locator('.close').click();
    await c2.waitFor({ state: 'detached' });
    assert(await W(S.v2, 'form.leave-message').isHidden(), 'dismissing must not open the form');
    // The form works while queued.
    await W(S.v3, '.leave-message input[type=email]').fill('kunde@example.dk');
    await W(S.v3, '.leave-message textarea').fill('Skriv gerne til mig.');
    await W(S.v3, '.leave-message .primary').click();
    await W(S.v3, '.note').filter({ hasText: 'Tak! Vi svarer til kunde@example.dk.' }).waitFor();
  });

  test('waiting: with nobody online the queued visitor is offered the message form', async () => {
    // wendy goes away (an away agent does not count); accepting the Danish visitor changes the queue.
    assert((await agentReq(S.a, { type: 'status', status: 'away' })).type === 'ok', 'status away');
    const r = await agentReq(S.a, { type: 'accept', conversation: await queued(S.a, 'Hvornår sender I?') });
    assert(r.type === 'ok', `accept: ${JSON.stringify(r)}`);
    await queueIs(S.v2, /^No one is online right now — leave a message and we'll write back$/);
    const b = W(S.v2, '.leave-message-button');
    await b.waitFor({ state: 'visible' });
    assert(await b.textContent() === 'Leave a message', 'button text');
    await b.click();
    await W(S.v2, 'form.leave-message').waitFor({ state: 'visible' });
    await b.waitFor({ state: 'hidden' });
    for (const p of [S.a, S.v1, S.v2, S.v3]) await p.context().close();
  });

  test('after hours: the widget says when someone is back and offers the message form instead of the chat', async () => {
    // Hours that hold only the UTC hour three hours from now: closed now, whatever the time of day.
    const later = new Date(Date.now() + 3 * 3600 * 1000);
    const day = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'][later.getUTCDay()], hh = later.getUTCHours();
    const span = `${day} ${String(hh).padStart(2, '0')}:00-${hh === 23 ? '24' : String(hh + 1).padStart(2, '0')}:00`;
    const c = await instance([], { hours: span });
    const a = await agent(c.base); // an agent is online, but the site is closed
    for (const [lang, re] of [[undefined, /^We're closed right now and back .+\. Leave a message and we'll reply by email\.$/],
                              ['da', /^Vi har lukket lige nu og er tilbage .+\. Skriv en besked, så svarer vi på e-mail\.$/]]) {
      const p = await visitor(c.base, { lang });
      await W(p, '.bubble').click();
      await waitFor(`after-hours text (${lang || 'en'})`, async () => re.test(await W(p, '.note').first().textContent()))
        .catch(async (e) => { throw new Error(`${e.message}; it says "${await W(p, '.note').first().textContent()}"; got ${JSON.stringify(p.got.slice(-3))}`); });
      const welcome = p.got.find((f) => f.type === 'welcome');
      assert(welcome.hours && welcome.hours.open === false && welcome.hours.opens_at > Date.now(), `welcome.hours ${JSON.stringify(welcome.hours)}`);
      const hour = new Date(welcome.hours.opens_at).toLocaleString(lang || 'en', { hour: '2-digit', minute: '2-digit' });
      assert((await W(p, '.note').first().textContent()).includes(hour), `the text names ${hour}`);
      await W(p, 'form.leave-message').waitFor({ state: 'visible' });
      assert(await W(p, 'textarea#bk-input').isHidden(), 'no chat composer while closed');
      if (!lang) await h.shot(p, 'widget-after-hours.png');
      if (!lang) {
        await W(p, '.leave-message input[type=email]').fill('night-owl@example.com');
        await W(p, '.leave-message textarea').fill('Please call me tomorrow.');
        await W(p, '.leave-message .primary').click();
        await W(p, '.note').filter({ hasText: "Thank you! We'll reply to night-owl@example.com." }).waitFor();
        const left = await agentReq(a, { type: 'left_messages' });
        assert(left.messages.some((m) => m.text === 'Please call me tomorrow.'), `left_messages ${JSON.stringify(left)}`);
      }
      await p.context().close();
    }
    await a.context().close();
  });

  test('consent: no browsing data before Beckon.consent(true), one page view after; chat works without consent', async () => {
    const c = await instance([], { consent: 'required' });
    const a = await agent(c.base);
    const seen = async (vid) => ((await agentReq(a, { type: 'visitors' })).visitors || []).find((v) => v.id === vid);
    const init = () => { window.Beckon = { q: [['on', 'ready', (r) => { window.__vid = r.visitor; }]] }; };
    // The page says consent is required: the first hello carries no page.
    const p = await visitor(c.base, { attrs: { 'data-consent': 'required' }, init });
    await waitFor('ready', () => p.evaluate(() => !!window.__vid))
      .catch((e) => { throw new Error(`${e.message}; sent ${JSON.stringify(p.sent)}; got ${JSON.stringify(p.got)}`); });
    const vid = await p.evaluate(() => { Beckon.track('viewed_pricing', { plan: 'daily' }); return window.__vid; });
    await p.evaluate(() => history.pushState({}, '', '/demo/index.html?spa=1'));
    await p.waitForTimeout(500);
    const browsing = (f) => f.type === 'page_view' || f.type === 'event' || (f.type === 'hello' && f.page);
    assert(!p.sent.some(browsing), `browsing data before consent: ${JSON.stringify(p.sent.filter(browsing))}`);
    const before = await seen(vid);
    assert(!before || !before.page_url, `visitors before consent: ${JSON.stringify(before)}`);
    await p.evaluate(() => Beckon.consent(true));
    await waitFor('consent + page_view frames', () => {
      const i = p.sent.findIndex((f) => f.type === 'consent' && f.granted === true);
      return i >= 0 && p.sent.slice(i + 1).filter((f) => f.type === 'page_view').length === 1;
    });
    let after;
    await waitFor('page in visitors', async () => (after = await seen(vid)) && /\/demo\/index\.html\?spa=1$/.test(after.page_url));
    // The chat works without consent (and without the attribute: learnt from welcome).
    const q = await visitor(c.base, { path: '/demo/pricing.html' });
    await waitFor('welcome', () => q.sent.some((f) => f.type === 'hello'));
    await q.evaluate(() => Beckon.track('viewed_pricing', {}));
    await ask(q, 'No cookies, but a question');
    await queued(a, 'No cookies, but a question');
    await W(q, '.message.visitor[data-id] .delivery').filter({ hasText: 'Sent' }).waitFor();
    assert(!q.sent.some((f) => f.type === 'event' || f.type === 'page_view'), 'events sent without consent');
    await q.evaluate(() => Beckon.consent(false));
    await waitFor('consent false', () => q.sent.some((f) => f.type === 'consent' && f.granted === false));
    for (const x of [a, p, q]) await x.context().close();
  });
}
