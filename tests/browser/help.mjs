// Browser tests for help articles in the visitor widget (docs/widget.md "Help articles"): the
// Help tab loaded only once the chat opens (beckon-help.js), search as you type, categories, an
// article drawn from the server's blocks (no HTML from the article anywhere), "Did this help?";
// suggestions above the composer while the first message is typed, opened and answered "helped";
// the figures counted. Registered into run.mjs's TAP stream: helpTests({ test, ctx, ... }).
// Self-contained (BECKON_BROWSER_ONLY=help runs them alone): a marketer is made here.

import { join } from 'node:path';
import { startInstance, rawAgent } from './instances.mjs';

export function helpTests(h) {
  const { test, ctx, W, newPage, waitFor, assert, sleep } = h;
  const S = {}; // state shared between these steps
  const MARKETER = 'mia-help', PASSWORD = 'mia-help-password';

  async function api(method, path, body) {
    const r = await fetch(`${ctx.base}${path}`, {
      method, headers: { Authorization: `Bearer ${S.token}`, 'Content-Type': 'application/json' },
      body: body ? JSON.stringify(body) : undefined,
    });
    const parsed = await r.json().catch(() => null);
    assert(r.ok, `${method} ${path}: ${r.status} ${JSON.stringify(parsed)}`);
    return parsed;
  }

  test('help: a marketer saves articles in two categories, one with script and a javascript: link', async () => {
    const add = h.start(ctx.beckon.bin, [...ctx.beckon.common, 'agent', 'add', MARKETER, 'marketer'], 'agent add', PASSWORD + '\n');
    assert((await add.exited).code === 0, `agent add: ${add.out}`);
    const login = await fetch(`${ctx.base}/api/login`, { method: 'POST', headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ name: MARKETER, password: PASSWORD }) });
    S.token = (await login.json()).token;
    const articles = {
      'refund-time': { title: 'When do I get my refund', category: 'Returns',
        body: 'We refund **within 5 working days** after the return reaches us.\n\n- Card: 5 days\n- Invoice: at once\n\n' +
              '<script>window.pwned = 1</script>\n\n[Our terms](https://shop.example/terms) and [this](javascript:window.pwned=2)' },
      'track-order': { title: 'Track your order', category: 'Orders',
        body: 'Open *My orders* and choose **Track** to follow the parcel with the carrier. The tracking number is in the email.' },
      'reset-password': { title: 'Reset your password', category: 'Account', body: 'Choose *Forgot password* on the login page.' },
    };
    for (const [id, a] of Object.entries(articles))
      await api('PUT', `/api/help/demo/articles/${id}`, { ...a, lang: 'en', state: 'published' });
    // an agent online, so that the widget offers the chat (and its composer) beside the help
    const context = await h.browser.newContext({ viewport: { width: 1440, height: 860 } });
    const a = S.agent = await newPage(context, 'help-agent');
    await a.goto(`${ctx.base}/agent/`);
    await a.fill('#login-name', h.agent.name);
    await a.fill('#login-password', h.agent.password);
    await a.click('#login-submit');
    await a.locator('#conn[data-state=online]').waitFor();
  });

  test('help: the Help tab loads with the chat, searches as you type and shows an article from its blocks', async () => {
    const context = await h.browser.newContext({ viewport: { width: 1280, height: 800 } });
    const p = S.page = await newPage(context, 'help-visitor');
    const scripts = [];
    p.on('request', (r) => { if (/beckon-help\.js/.test(r.url())) scripts.push(r.url()); });
    await p.goto(`${ctx.base}/demo/`);
    await W(p, '.bubble').waitFor();
    await sleep(300);
    assert(scripts.length === 0, 'beckon-help.js loaded before the chat opened');
    await W(p, '.bubble').click();
    await W(p, 'button.help-tab').waitFor();
    assert(scripts.length === 1, `beckon-help.js requests: ${scripts.length}`);
    await W(p, 'button.help-tab').click();
    await W(p, '.help-categories button').filter({ hasText: 'Returns' }).waitFor();
    assert(await W(p, 'form.composer').isHidden(), 'the composer is hidden under the Help view');
    await W(p, '.help-categories button').filter({ hasText: 'Orders' }).click();
    await waitFor('only Orders listed', async () => (await W(p, '.help-result').allTextContents()).join('|').startsWith('Track your order') &&
      (await W(p, '.help-result').count()) === 1);
    await W(p, '.help-categories button').filter({ hasText: 'All articles' }).click();
    await W(p, 'input.help-search').pressSequentially('refnd', { delay: 40 }); // a typo, typed key by key
    await W(p, '.help-result').filter({ hasText: 'When do I get my refund' }).first().waitFor();
    await W(p, '.help-result').filter({ hasText: 'When do I get my refund' }).first().click();
    const art = W(p, 'article.help-article');
    await art.locator('h3').filter({ hasText: 'When do I get my refund' }).waitFor();
    assert(await art.locator('strong').filter({ hasText: 'within 5 working days' }).count() === 1, 'strong kept');
    assert(await art.locator('li').count() === 2, 'the list kept');
    const links = await art.locator('a').evaluateAll((as) => as.map((a) => [a.getAttribute('href'), a.rel, a.target]));
    assert(JSON.stringify(links) === JSON.stringify([['https://shop.example/terms', 'noopener noreferrer nofollow', '_blank']]),
      `links: ${JSON.stringify(links)}`);
    const unsafe = await p.evaluate(() => {
      const root = document.querySelector('beckon-chat').shadowRoot;
      return { scripts: root.querySelectorAll('script').length, pwned: window.pwned || 0,
        html: root.querySelector('article.help-article').textContent.includes('<script') };
    });
    assert(unsafe.scripts === 0 && unsafe.pwned === 0 && !unsafe.html, `unsafe: ${JSON.stringify(unsafe)}`);
    await art.locator('.help-feedback button').filter({ hasText: 'Yes' }).click();
    await art.locator('.help-feedback [role=status]').filter({ hasText: 'Glad it helped' }).waitFor();
    await W(p, '.help-back').click();
    await W(p, '.help-result').first().waitFor();
    await W(p, 'button.help-tab').click(); // back to the chat
    await W(p, 'form.composer').waitFor();
    assert(await W(p, 'section.help').isHidden(), 'the Help view is closed');
  });

  test('help: suggestions appear above the composer while the first message is typed; "helped" ends there', async () => {
    const p = S.page;
    await W(p, 'textarea#bk-input').pressSequentially('where is my parcel, I need the tracking', { delay: 15 });
    const tip = W(p, '.suggestions .help-result').filter({ hasText: 'Track your order' });
    await tip.waitFor();
    assert((await W(p, '.suggestions .help-result').count()) <= 3, 'at most three suggestions');
    await tip.click();
    await W(p, 'article.help-article h3').filter({ hasText: 'Track your order' }).waitFor();
    await W(p, 'article.help-article .help-feedback button').filter({ hasText: 'Yes' }).click();
    await W(p, 'article.help-article [role=status]').filter({ hasText: 'Glad it helped' }).waitFor();
    // the figures: two searches at least, views, helped, a suggestion shown
    await waitFor('the help figures counted', async () => {
      const r = await api('GET', '/api/stats/help?site=demo');
      S.totals = r.totals;
      return r.totals.helped >= 2 && r.totals.views >= 2 && r.totals.suggested >= 1 && r.totals.searches >= 1;
    }, 8000);
  });

  test('help: a visitor who writes anyway is queued, and the agent sees the articles they saw beside the chat', async () => {
    const p = S.page, a = S.agent;
    await W(p, 'button.help-tab').click(); // back to the chat
    await W(p, 'textarea#bk-input').fill('The tracking page says nothing, can someone look?');
    await p.keyboard.press('Enter');
    await W(p, '.message.visitor[data-id]').first().waitFor();
    await a.locator('#queue .item').filter({ hasText: 'The tracking page says nothing' }).click();
    const seen = a.locator('#visitor-help li[data-article="track-order"]');
    await seen.first().waitFor();
    const hows = await seen.evaluateAll((lis) => lis.map((li) => li.getAttribute('data-how')).sort());
    assert(JSON.stringify(hows) === JSON.stringify(['helped', 'suggested', 'viewed']), `seen: ${JSON.stringify(hows)}`);
    await p.context().close();
  });

  test('help: a marketer edits articles in the panel: errors at the field, preview from the server, versions, revert', async () => {
    const context = await h.browser.newContext({ viewport: { width: 1440, height: 900 } });
    const m = await newPage(context, 'help-marketer');
    await m.goto(`${ctx.base}/agent/`);
    await m.fill('#login-name', MARKETER);
    await m.fill('#login-password', PASSWORD);
    await m.click('#login-submit');
    await m.locator('#nav-articles').click();
    await m.locator('#art-rows tr[data-article="track-order"]').waitFor();
    await m.locator('#art-new').click();
    await m.fill('#art-id', 'opening-hours');
    await m.fill('#art-title', '');
    await m.fill('#art-body', 'We are open 9-17.');
    await m.click('#art-save');
    await m.locator('#art-err-title').filter({ hasText: 'must not be empty' }).waitFor();
    assert(await m.locator('#art-title').getAttribute('aria-invalid') === 'true', 'the title is marked invalid');
    await m.fill('#art-title', 'Opening hours');
    await m.fill('#art-body', '## Shops\n\nOpen **9-17**.\n\n<iframe src="https://evil.example"></iframe>\n\n- Monday\n- Friday');
    await m.click('#art-preview-button');
    await m.locator('#art-preview-body strong').filter({ hasText: '9-17' }).waitFor();
    assert(await m.locator('#art-preview-body li').count() === 2, 'the list previewed');
    assert(await m.locator('#art-preview-body iframe').count() === 0, 'no iframe in the preview');
    await m.locator('#art-removed li').filter({ hasText: 'raw HTML' }).waitFor();
    await m.selectOption('#art-state', 'published');
    await m.click('#art-save');
    await m.locator('#art-status').filter({ hasText: 'Saved as version' }).waitFor();
    await m.locator('#art-rows tr[data-article="opening-hours"]').waitFor();
    await m.fill('#art-title', 'Opening hours and holidays');
    await m.click('#art-save');
    await m.locator('#art-versions li').nth(1).waitFor();
    assert(await m.locator('#art-versions li').count() === 2, 'two versions');
    await m.locator('#art-versions li button').filter({ hasText: 'Revert' }).click();
    await waitFor('reverted', async () => (await m.inputValue('#art-title')) === 'Opening hours' &&
      (await m.locator('#art-versions li').count()) === 3);
    // the dashboard's self-service figures
    await m.locator('#nav-dashboard').click();
    await m.locator('#dash-help-cards [data-figure="helped"] .value').waitFor();
    const helped = Number(await m.locator('#dash-help-cards [data-figure="helped"] .value').getAttribute('data-value'));
    assert(helped >= 2, `helped on the dashboard: ${helped}`);
    await context.close();
    await S.agent.context().close();
  });

  test('help: while the chat waits, the automatic acknowledgement brings the best articles for the question', async () => {
    // an instance of its own that acknowledges after 1 s, its articles put in Redis and announced
    const { base } = await startInstance(h, 'help-queue', { agents: { quinn: 'quinn-password-1' }, flags: ['--auto-ack-seconds', '1'] });
    const sock = join(h.tmp, 'help-queue', 'redis.sock');
    const article = { id: 'refund-time', title: 'When do I get my refund', body: 'We refund within 5 working days.',
      lang: 'en', category: 'Returns', state: 'published' };
    for (const args of [['HSET', 'bk:{g}:help:demo:published', article.id, JSON.stringify(article)],
      ['SADD', 'bk:{g}:help:sites', 'demo'], ['SPUBLISH', 'bk:{g}:to:nodes', '!help demo']]) {
      const r = await h.start('redis-cli', ['-s', sock, ...args], 'redis-cli').exited;
      assert(r.code === 0, `redis-cli ${args[0]}`);
    }
    const agent = await rawAgent(h, base, 'quinn', 'quinn-password-1', 'help-queue-agent');
    const context = await h.browser.newContext({ viewport: { width: 1280, height: 800 } });
    const p = await newPage(context, 'help-queue-visitor');
    await p.goto(`${base}/demo/`);
    await W(p, '.bubble').click();
    await W(p, 'button.help-tab').waitFor();
    await W(p, 'textarea#bk-input').fill('Hello, when do I get my refund?');
    await p.keyboard.press('Enter');
    await W(p, '.message.system').first().waitFor({ timeout: 8000 }); // the acknowledgement
    const tip = W(p, '.suggestions .help-result').filter({ hasText: 'When do I get my refund' });
    await tip.waitFor();
    assert((await W(p, '.suggestions p').textContent()).startsWith('While you wait'), 'the waiting heading');
    await tip.click();
    await W(p, 'article.help-article h3').filter({ hasText: 'When do I get my refund' }).waitFor();
    await context.close();
    await agent.context().close();
  });
}
