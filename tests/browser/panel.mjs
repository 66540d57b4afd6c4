// Browser tests for the agent panel's tools and the widget parts they need (docs/protocol.md:
// "Agent requests", "Visitor requests"): leave a message, status, the visitor sidebar, notes,
// transfer, "Visitors now" with a manual invitation, canned responses, identify().
//
// Registered into run.mjs's TAP stream with its helpers: panelTests({ test, ctx, ... }).
// They run right after the CSP check, before the widget's own tests: the first one needs no agent
// to be online. They end with alice and bob signed in and online, with no chat left in the queue.
import { join } from 'node:path';

export function panelTests(h) {
  const { test, ctx, W, newPage, waitFor, assert, sleep } = h;
  const BOB = 'bob', BOB_PASSWORD = 'bob-password-1';
  const ALICE = 'alice', ALICE_PASSWORD = 'alice-password-1';
  const P = {}; // state shared between these steps

  function beckon(args, input) {
    const sock = join(h.tmp, 'redis.sock');
    const common = ['--redis', `unix://${sock}`, '--data-dir', join(h.tmp, 'data'), '--web-root', h.ROOT];
    return h.start(process.env.BECKON_BIN, [...common, ...args], args.join(' '), input);
  }

  async function signIn(name, password) {
    const context = await h.browser.newContext({ viewport: { width: 1440, height: 860 } });
    const a = await newPage(context, `panel-${name}`);
    await a.goto(`${ctx.base}/agent/`);
    await a.fill('#login-name', name);
    await a.fill('#login-password', password);
    await a.click('#login-submit');
    await a.locator('#conn[data-state=online]').waitFor();
    return a;
  }

  async function visitor(path, init) {
    const context = await h.browser.newContext({ viewport: { width: 1280, height: 800 } });
    const p = await newPage(context, `panel-visitor${path}`);
    if (init) await p.addInitScript(init);
    await p.goto(`${ctx.base}${path}`);
    await W(p, '.bubble').waitFor();
    return p;
  }

  // The texts of every message the widget shows (notes must never be among them).
  const widgetTexts = (p) => p.evaluate(() => [...document.querySelector('beckon-chat').shadowRoot.querySelectorAll('.text, .note, .invitation-text')]
    .map((n) => n.textContent));

  test('panel: no agent online → leave-a-message form; the message reaches the inbox (stored and live); away agents do not count', async () => {
    const add = beckon(['agent', 'add', BOB], BOB_PASSWORD + '\n');
    const r = await add.exited;
    assert(r.code === 0, `agent add bob: ${add.out}`);

    // Nobody is signed in: the widget offers the form instead of the chat input.
    const v1 = await visitor('/demo/product.html');
    await W(v1, '.bubble').click();
    await W(v1, 'form.leave-message').waitFor({ state: 'visible' });
    assert(await W(v1, 'form.composer').isHidden(), 'the chat input should be hidden while no agent is online');
    assert(/Leave a message/.test(await W(v1, '.log .note').first().textContent()), 'offline intro');
    await W(v1, '.leave-message input[type=email]').fill('ole@example.no');
    await W(v1, '.leave-message input:not([type=email])').fill('Ole Nordmann');
    await W(v1, '.leave-message textarea').fill('Do you ship Gyokuro to Tromsø? <b>no markup</b>');
    await W(v1, '.leave-message .primary').click();
    await W(v1, '.note').filter({ hasText: "Thank you! We'll reply to ole@example.no." }).waitFor();
    assert(await W(v1, 'form.leave-message').isHidden(), 'the form should give way to the thank-you note');
    await v1.context().close();

    // alice signs in: the stored message is in her inbox, with a badge.
    const a = P.alice = await signIn(ALICE, ALICE_PASSWORD);
    await a.locator('#inbox-badge').filter({ hasText: '1' }).waitFor();
    await a.click('#nav-inbox');
    const m1 = a.locator('#inbox-list li').filter({ hasText: 'Do you ship Gyokuro to Tromsø? <b>no markup</b>' });
    await m1.waitFor();
    assert(await m1.locator('b').first().textContent() === 'Ole Nordmann', 'name');
    assert(await m1.locator('a[href^="mailto:ole@example.no"]').count() >= 1, 'mailto link');
    assert(await a.locator('#inbox-list li b').filter({ hasText: 'no markup' }).count() === 0, 'markup must not be parsed');
    assert(await a.locator('#inbox-badge').isHidden(), 'badge clears when the inbox is open');

    // alice sets herself away: a new visitor gets the form again, and alice gets the message live.
    await a.click('#status');
    await a.locator('#status[data-status=away]').waitFor();
    const v2 = await visitor('/demo/');
    await W(v2, '.bubble').click();
    await W(v2, 'form.leave-message').waitFor({ state: 'visible' });
    await W(v2, '.leave-message input[type=email]').fill('kari@example.no');
    await W(v2, '.leave-message textarea').fill('Please call me back about the Office plan.');
    await W(v2, '.leave-message .primary').click();
    await W(v2, '.note').filter({ hasText: 'kari@example.no' }).waitFor();
    await a.locator('#inbox-list li').first().filter({ hasText: 'Please call me back about the Office plan.' }).waitFor();
    await v2.context().close();

    // Back online: a visitor gets the chat input.
    await a.click('#status');
    await a.locator('#status[data-status=online]').waitFor();
    const v3 = await visitor('/demo/');
    await W(v3, '.bubble').click();
    await W(v3, 'textarea#bk-input').waitFor({ state: 'visible' });
    assert(await W(v3, 'form.leave-message').isHidden(), 'no form while an agent is online');
    await v3.context().close();
  });

  test('panel: identify() name, email and attrs show in the sidebar', async () => {
    const a = P.alice;
    const p = P.v = await visitor('/demo/pricing.html', () => {
      window.Beckon = { q: [['identify', { name: 'Ida Jensen', email: 'ida@example.dk', attrs: { plan: 'pro', seats: 12, nested: { no: 1 } } }]] };
    });
    await W(p, '.bubble').click();
    await W(p, 'textarea#bk-input').fill('Hi! Which plan suits an office of 12?');
    await p.keyboard.press('Enter');
    await W(p, '.message.visitor[data-id] .delivery').filter({ hasText: 'Sent' }).waitFor();
    const item = a.locator('#queue .item').filter({ hasText: 'office of 12' });
    await item.waitFor();
    await item.click();
    await a.click('#accept');
    await a.locator('#composer').waitFor({ state: 'visible' });
    await a.locator('#visitor-card .visitor-name').filter({ hasText: 'Ida Jensen' }).waitFor();
    assert(await a.locator('#visitor-card a.visitor-email').textContent() === 'ida@example.dk', 'email');
    const details = await a.locator('#visitor-details').textContent();
    assert(/plan\s*pro/.test(details) && /seats\s*12/.test(details) && !/nested/.test(details), `attrs: ${details}`);
    assert(/Devicedesktop/.test(details) && /Languageen/.test(details) && /Visits1/.test(details), `details: ${details}`);
    await a.locator('#conv-title').filter({ hasText: 'Ida Jensen' }).waitFor();
    await a.locator('#chats .item').filter({ hasText: 'Ida Jensen' }).waitFor();
    await W(p, '.status').filter({ hasText: "You're chatting with alice" }).waitFor();
  });

  test('panel: the sidebar shows the current page and follows the visitor live (page load and pushState)', async () => {
    const a = P.alice, p = P.v;
    const now = a.locator('#visitor-card .current-page');
    await now.locator('.page-title').filter({ hasText: 'Subscriptions — Northwind Tea Co.' }).waitFor();
    const t1 = await now.locator('[data-since]').textContent();
    await sleep(2100);
    assert(await now.locator('[data-since]').textContent() !== t1, 'time on the page does not tick');
    // The visitor follows a link to another demo page.
    await p.click('nav >> text=Shop');
    await p.waitForURL(/product\.html$/);
    await now.locator('.page-title').filter({ hasText: 'Gyokuro Asahi — Northwind Tea Co.' }).waitFor();
    await a.locator('#visitor-pages li.current').filter({ hasText: 'Gyokuro Asahi' }).waitFor();
    const pages = await a.locator('#visitor-pages li').allTextContents();
    assert(pages.length >= 2 && /Subscriptions/.test(pages[pages.length - 2]), `pages: ${JSON.stringify(pages)}`);
    // A single-page app navigates with pushState: that is a page view too (once per URL).
    await W(p, '.bubble').waitFor();
    await p.evaluate(() => { document.title = 'Reviews — Gyokuro'; history.pushState({}, '', '/demo/product.html#reviews'); history.replaceState({}, '', '/demo/product.html#reviews'); });
    await now.locator('.page-title').filter({ hasText: 'Reviews — Gyokuro' }).waitFor();
    await waitFor('one page view for pushState + replaceState of the same URL', async () =>
      (await a.locator('#visitor-pages li').filter({ hasText: 'Reviews' }).count()) === 1);
  });

  test('panel: a note is seen by the agents and never by the visitor', async () => {
    const a = P.alice, p = P.v;
    const NOTE = 'Internal: VIP customer, offer free shipping';
    await a.click('#note-toggle');
    assert(await a.locator('#note-toggle').getAttribute('aria-pressed') === 'true', 'note toggle');
    await a.locator('#note-hint').filter({ hasText: 'only agents see this' }).waitFor();
    await a.fill('#input', NOTE);
    await a.press('#input', 'Enter');
    const note = a.locator('#log .msg.internal[data-id]').filter({ hasText: NOTE });
    await note.waitFor();
    assert(/only agents see this/.test(await note.locator('.meta').textContent()), 'note label');
    const bg = await note.locator('.text').evaluate((n) => getComputedStyle(n).backgroundColor);
    assert(bg === 'rgb(254, 247, 195)', `note colour ${bg}`);
    assert(await a.locator('#note-toggle').getAttribute('aria-pressed') === 'false', 'note mode ends after one note');
    // A reply after the note: once the visitor has it, a pushed note would have arrived too.
    await a.fill('#input', 'Free shipping is on us today!');
    await a.press('#input', 'Enter');
    await W(p, '.message.agent').filter({ hasText: 'Free shipping is on us today!' }).waitFor();
    assert(!(await widgetTexts(p)).some((t) => t.includes('VIP customer')), 'the visitor sees the note (live)');
    await p.reload();
    await W(p, '[role=dialog]').waitFor({ state: 'visible' });
    await W(p, '.message.agent[data-id]').filter({ hasText: 'Free shipping is on us today!' }).waitFor();
    assert(!(await widgetTexts(p)).some((t) => t.includes('VIP customer')), 'the visitor sees the note (history)');
  });

  test('panel: transfer moves the chat from alice to bob; the visitor sees bob', async () => {
    const a = P.alice, p = P.v;
    const b = P.bob = await signIn(BOB, BOB_PASSWORD);
    await a.click('#transfer');
    await a.locator('#transfer-dialog').waitFor({ state: 'visible' });
    await a.fill('#transfer-to', 'nobody-here');
    await a.click('#transfer-send');
    await a.locator('#transfer-error').filter({ hasText: /nobody-here|Could not/ }).waitFor();
    await a.fill('#transfer-to', BOB);
    await a.click('#transfer-send');
    await a.locator('#transfer-dialog').waitFor({ state: 'hidden' });
    await W(p, '.status').filter({ hasText: "You're chatting with bob" }).waitFor();
    const item = b.locator('#chats .item').filter({ hasText: 'Ida Jensen' });
    await item.waitFor();
    await item.click();
    await b.locator('#composer').waitFor({ state: 'visible' });
    await b.locator('#log .msg.internal').filter({ hasText: 'VIP customer' }).waitFor(); // notes travel with the chat
    await b.locator('#log .msg.visitor').filter({ hasText: 'office of 12' }).waitFor();
    await a.locator('#chats .item').filter({ hasText: 'Ida Jensen' }).waitFor({ state: 'detached' });
    await a.locator('#conv-state').filter({ hasText: 'Active with bob' }).waitFor();
    assert(await a.locator('#composer').isHidden(), 'alice can no longer write in the chat');
    await b.fill('#input', 'Hi, bob here — I handle office plans.');
    await b.press('#input', 'Enter');
    const m = W(p, '.message.agent').filter({ hasText: 'bob here' });
    await m.waitFor();
    assert(await m.locator('.author').textContent() === 'bob', 'author label');
  });

  test('panel: canned responses — add, edit, delete, and insert with "/"', async () => {
    const b = P.bob, p = P.v;
    await b.click('#nav-canned');
    await b.locator('#canned-view').waitFor({ state: 'visible' });
    const add = async (sc, text) => {
      await b.fill('#canned-shortcut', sc);
      await b.fill('#canned-text', text);
      await b.click('#canned-save');
      await b.locator('#canned-list li').filter({ hasText: text }).waitFor();
    };
    await add('/shipping', 'Shipping is free on orders over €40 and takes 3–5 days.');
    await add('hello', 'Hi! How can I help?');
    await add('/office', 'Our Office plan is 1 kg a month, invoiced.');
    const hello = b.locator('#canned-list li').filter({ hasText: '/hello' });
    await hello.locator('button', { hasText: 'Edit' }).click();
    await b.fill('#canned-text', 'Hello! How can I help you today?');
    await b.click('#canned-save');
    await b.locator('#canned-list li').filter({ hasText: 'How can I help you today?' }).waitFor();
    await hello.locator('button', { hasText: 'Delete' }).click();
    await hello.locator('button', { hasText: 'Really delete?' }).click();
    await hello.waitFor({ state: 'detached' });
    const r = await fetch(`${ctx.base}/api/canned`, { headers: { authorization: `Bearer ${await b.evaluate(() => sessionStorage.getItem('beckon-agent-token'))}` } });
    const list = (await r.json()).canned.map((k) => k.shortcut).sort();
    assert(JSON.stringify(list) === '["/office","/shipping"]', `GET /api/canned: ${JSON.stringify(list)}`);

    // In the chat: "/" opens the list, typing filters by shortcut or text, Enter inserts.
    await b.locator('#chats .item').filter({ hasText: 'Ida Jensen' }).click();
    await b.locator('#input').focus();
    await b.keyboard.type('/');
    await b.locator('#canned-pop li[role=option]').nth(1).waitFor();
    await b.keyboard.type('invoic'); // matches /office by its text
    await waitFor('one match', async () => (await b.locator('#canned-pop li[role=option]').count()) === 1);
    await b.keyboard.press('Backspace');
    await b.keyboard.press('Backspace');
    await b.keyboard.press('Backspace');
    await b.keyboard.press('Backspace');
    await b.keyboard.press('Backspace');
    await b.keyboard.press('Backspace');
    await b.keyboard.type('ship');
    await b.locator('#canned-pop li[aria-selected=true]').filter({ hasText: '/shipping' }).waitFor();
    await b.keyboard.press('Enter');
    await b.locator('#canned-pop').waitFor({ state: 'hidden' });
    assert(await b.inputValue('#input') === 'Shipping is free on orders over €40 and takes 3–5 days.', `inserted: ${await b.inputValue('#input')}`);
    await b.keyboard.press('Enter');
    await W(p, '.message.agent').filter({ hasText: 'Shipping is free on orders over €40' }).waitFor();
    // Esc closes the list and "/" text can still be sent as is.
    await b.keyboard.type('/nothing-like-this');
    await b.locator('#canned-pop li.none').waitFor();
    await b.keyboard.press('Escape');
    await b.locator('#canned-pop').waitFor({ state: 'hidden' });
    await b.fill('#input', '');
  });

  test('panel: "Visitors now" lists live visitors; a manual invitation shows on the visitor page', async () => {
    const a = P.alice;
    const p = await visitor('/demo/blog.html');
    await a.click('#nav-visitors');
    await a.locator('#visitors-view').waitFor({ state: 'visible' });
    const row = a.locator('#visitors-list tr').filter({ hasText: 'Journal — Northwind Tea Co.' }).first();
    await row.waitFor();
    const t1 = await row.locator('[data-since]').textContent();
    await sleep(2100);
    assert(await row.locator('[data-since]').textContent() !== t1, 'time on site does not tick');
    // The list follows page views live.
    await p.click('nav >> text=Subscriptions');
    const moved = a.locator('#visitors-list tr').filter({ hasText: 'Subscriptions — Northwind Tea Co.' }).filter({ has: a.locator('button', { hasText: 'Invite' }) }).first();
    await moved.waitFor();
    await W(p, '.bubble').waitFor();
    await moved.locator('button', { hasText: 'Invite' }).click();
    await a.locator('#invite-dialog').waitFor({ state: 'visible' });
    await a.fill('#invite-text', 'Hi from alice! Questions about subscriptions?');
    await a.click('#invite-send');
    await a.locator('#invite-dialog').waitFor({ state: 'hidden' });
    const card = W(p, '.invitation');
    await card.waitFor();
    assert(await card.locator('.invitation-text').textContent() === 'Hi from alice! Questions about subscriptions?', 'invitation text');
    assert(await card.locator('.author').textContent() === 'alice', 'invitation names the agent');
    await card.locator('.link').click(); // dismissed: nothing is left in the queue
    await card.waitFor({ state: 'detached' });
    await p.context().close();
  });

  test('panel: past conversations open read-only from the sidebar; chats are closed', async () => {
    const a = P.alice, b = P.bob, p = P.v;
    await b.click('#close-conv');
    await b.locator('#conv-state').filter({ hasText: 'Closed' }).waitFor();
    await W(p, '.status').filter({ hasText: 'The chat has ended' }).waitFor();
    // Ida comes back with a new question; alice opens her earlier chat from the sidebar.
    await W(p, 'textarea#bk-input').fill('Me again — one more thing.');
    await p.keyboard.press('Enter');
    const item = a.locator('#queue .item').filter({ hasText: 'one more thing' });
    await item.waitFor();
    await item.click();
    await a.click('#accept');
    const past = a.locator('#visitor-convs button').filter({ hasText: 'closed' }).first();
    await past.waitFor();
    await past.click();
    await a.locator('#conv-state').filter({ hasText: 'read-only' }).waitFor();
    await a.locator('#log .msg.visitor').filter({ hasText: 'office of 12' }).waitFor();
    assert(await a.locator('#composer').isHidden(), 'read-only: no composer');
    await a.locator('#chats .item').filter({ hasText: 'Ida Jensen' }).first().click();
    await a.locator('#log .msg.visitor').filter({ hasText: 'one more thing' }).waitFor();
    await a.click('#close-conv');
    await W(p, '.status').filter({ hasText: 'The chat has ended' }).waitFor();
    await p.context().close();
    assert(await a.locator('#queue .item').count() === 0, 'queue should be empty');
    assert(await a.locator('#status[data-status=online]').count() === 1 && await b.locator('#status[data-status=online]').count() === 1, 'both online');
  });
}
