// Browser tests for the rules editor (widget/rules/, served at /rules/). Registered by run.mjs, which
// owns the servers and the browser; these cases run after its own, in the same TAP stream.
// Contract: docs/protocol.md ("Routes for marketers"), rule format: docs/rules.md.

const MARKETER = 'mia', MARKETER_PASSWORD = 'mia-marketer-pass-1';
const RULE_ID = 'pricing-dk';
const TEXT_V1 = 'Hej! Kan jeg hjælpe med priserne?';
const TEXT_V2 = 'Hej! Har du spørgsmål til vores priser? Skriv til os.';

export function rulesTests(h) {
  const { test, ctx, sleep, waitFor, newPage, shot, assert, W, log } = h;
  const r = {};  // state shared between the cases below

  const token = () => r.page.evaluate(() => sessionStorage.getItem('beckon-rules-token'));
  async function apiGet(path) {
    const res = await fetch(`${ctx.base}${path}`, { headers: { authorization: `Bearer ${r.token}` } });
    return { status: res.status, body: await res.json().catch(() => null) };
  }
  const cond = (i) => r.page.locator('#when-root .cond').nth(i);
  // The error shown for a control: aria-invalid, and aria-describedby naming a visible message.
  async function fieldError(control) {
    if (await control.getAttribute('aria-invalid') !== 'true') return null;
    const ids = (await control.getAttribute('aria-describedby') || '').split(/\s+/).filter((x) => x.startsWith('err-'));
    if (!ids.length) return null;
    return r.page.locator(`#${ids[ids.length - 1]}`).textContent();
  }

  test('rules: an agent-role login is refused with the role message', async () => {
    // The marketer account for the cases below (password on stdin, as an admin would).
    const add = h.start(ctx.beckon.bin, [...ctx.beckon.common, 'agent', 'add', MARKETER, 'marketer'], 'marketer add', MARKETER_PASSWORD + '\n');
    const res = await add.exited;
    assert(res.code === 0, `agent add ${MARKETER} marketer: ${add.out}`);
    r.context = await h.browser().newContext({ viewport: { width: 1440, height: 1000 } });
    const p = r.page = await newPage(r.context, 'rules');
    await p.goto(`${ctx.base}/rules/`);
    await p.fill('#login-name', h.agent.name);
    await p.fill('#login-password', h.agent.password);
    await p.click('#login-submit');
    await p.locator('#login-error').filter({ hasText: 'may not edit rules' }).waitFor();
    assert(/role \(agent\)/.test(await p.textContent('#login-error')), 'the message names the role');
    assert(await p.locator('#app').isHidden(), 'the editor must stay hidden');
    assert(await p.evaluate(() => !sessionStorage.getItem('beckon-rules-token')), 'no token may be kept for an agent');
  });

  test('rules: a marketer signs in; the token is kept in sessionStorage', async () => {
    const p = r.page;
    await p.fill('#login-name', MARKETER);
    await p.fill('#login-password', MARKETER_PASSWORD);
    await p.click('#login-submit');
    await p.locator('#list-view').waitFor();
    r.token = await token();
    assert(r.token, 'token not in sessionStorage');
    assert((await p.textContent('#me')) === `${MARKETER} · marketer`, 'name and role in the header');
    await p.locator('#rules-empty').waitFor();
  });

  test('rules: invalid values are shown at their field (typing and saving); nothing is saved', async () => {
    const p = r.page;
    await p.click('#new-rule');
    await p.locator('#editor-view').waitFor();
    await p.fill('#r-id', RULE_ID);
    await p.fill('#r-name', 'Hjælp på prissiden');
    await p.fill('#r-priority', '10');
    await p.fill('#r-text', TEXT_V1);
    // Row 1: page.path with a regex that does not compile.
    await cond(0).locator('select.field').selectOption('page.path');
    await cond(0).locator('select.operator').selectOption('regex');
    await cond(0).locator('input.value').fill('^/demo/(pricing');
    // Row 2: page.seconds >= "abc".
    await p.getByRole('button', { name: 'When: add a condition' }).click();
    await cond(1).locator('select.field').selectOption('page.seconds');
    await cond(1).locator('select.operator').selectOption('>=');
    await cond(1).locator('input.value').fill('abc');
    // As the marketer types (debounced POST /api/rules/validate), the first problem shows at its field.
    const v0 = cond(0).locator('input.value');
    await waitFor('regex error at row 1', async () => /invalid regex/.test(await fieldError(v0) || ''));
    assert(/when\.all\[0\]\.page\.path\.regex/.test(await fieldError(v0)), 'the error names its path');
    assert(await cond(0).locator('.field-error').count() === 1, 'the message is inside the row');
    // Fix the regex: now the number is the first problem.
    await cond(0).locator('select.operator').selectOption('glob');
    await cond(0).locator('input.value').fill('/demo/pricing*');
    const v1 = cond(1).locator('input.value');
    await waitFor('number error at row 2', async () => /expected a number/.test(await fieldError(v1) || ''));
    assert(await fieldError(v0) === null, 'row 1 is no longer marked invalid');
    // Saving anyway: 400 invalid_rule, shown at the field, focus there, nothing stored.
    await p.click('#save');
    await p.locator('#check').filter({ hasText: 'Not saved' }).waitFor();
    assert(/expected a number/.test(await fieldError(v1) || ''), 'error at the field after Save');
    assert(await v1.evaluate((n) => n === document.activeElement), 'focus moves to the invalid field');
    assert(/when\.all\[1\]\.page\.seconds\.>=/.test(await p.textContent('#summary')), 'summary names the path');
    const all = await apiGet('/api/rules');
    assert(all.status === 200 && all.body.rules.length === 0, `nothing may be saved: ${JSON.stringify(all.body)}`);
    assert((await apiGet(`/api/rules/${RULE_ID}`)).status === 404, 'the rule must not exist');
  });

  test('rules: after fixing the value the rule saves as version 1', async () => {
    const p = r.page;
    const v1 = cond(1).locator('input.value');
    await v1.fill('2');
    await p.locator('#check').filter({ hasText: 'No problems found' }).waitFor();
    assert(await fieldError(v1) === null, 'the error is gone once fixed');
    await p.click('#save');
    await waitFor('editor of the saved rule', async () => p.url().endsWith(`#/rule/${RULE_ID}`));
    await p.locator('#versions li').first().waitFor();
    assert(await p.locator('#versions li').count() === 1, 'one version');
    const got = await apiGet(`/api/rules/${RULE_ID}`);
    // Version numbers come from the server (one sequence for the whole rule set): take them as given.
    assert(got.status === 200 && Number.isInteger(got.body.version) && got.body.by === MARKETER, `GET: ${JSON.stringify(got.body)}`);
    r.v1 = got.body.version;
    const rule = got.body.rule;
    assert(JSON.stringify(rule.when) === '{"all":[{"page.path":{"glob":"/demo/pricing*"}},{"page.seconds":{">=":2}}]}', `when: ${JSON.stringify(rule.when)}`);
    assert(rule.then.invite.text === TEXT_V1 && rule.priority === 10 && rule.enabled === true && rule.name === 'Hjælp på prissiden', `rule: ${JSON.stringify(rule)}`);
  });

  test('rules: a visitor on /demo/pricing.html gets the invitation (saved rule, no restart)', async () => {
    const context = r.visitor = await h.browser().newContext({ viewport: { width: 1280, height: 800 } });
    const v = await newPage(context, 'rules-visitor');
    const t0 = Date.now();
    await v.goto(`${ctx.base}/demo/pricing.html`);
    const card = W(v, '.invitation');
    await card.waitFor({ timeout: 8000 });
    const secs = (Date.now() - t0) / 1000;
    log(`# invitation shown after ${secs.toFixed(1)} s (rule: page.seconds >= 2)`);
    assert(await card.locator('.invitation-text').textContent() === TEXT_V1, 'the rule\'s Danish text');
    assert(secs >= 1.5, `shown too early (${secs} s): page.seconds >= 2`);
    r.visitorPage = v;
  });

  test('rules: the rule list shows the funnel counts afterwards (fired, shown)', async () => {
    const p = r.page;
    await p.click('a.back');
    await p.locator('#list-view').waitFor();
    const row = p.locator(`#rules-body tr[data-id="${RULE_ID}"]`);
    await row.waitFor();
    const n = async (k) => Number((await row.locator(`.stat-${k}`).textContent()).replace(/\D/g, ''));
    await waitFor('fired 1 and shown 1 in the list', async () => {
      await p.click('#refresh');
      await sleep(300);
      return (await n('fired')) >= 1 && (await n('shown')) >= 1 && (await n('evaluated')) >= 1 && (await n('matched')) >= 1;
    }, 15000);
    assert(/0\.0 %/.test(await row.locator('.conv').textContent()), 'conversion 0 % (no chat yet)');
    assert(await row.locator('.funnel .funnel-bar').count() === 5, 'funnel bars');
    await r.visitor.close();
  });

  test('rules: an edit adds a version; history lists them; revert restores the old text', async () => {
    const p = r.page;
    await p.locator(`#rules-body tr[data-id="${RULE_ID}"] .rule-name`).click();
    await p.locator('#versions li').first().waitFor();
    const before = await p.locator('#versions li').count();
    assert(before === 1, `versions before the edit: ${before}`);
    await p.fill('#r-text', TEXT_V2);
    await p.locator('#ed-sub').filter({ hasText: 'unsaved changes' }).waitFor();
    // Leaving with unsaved changes needs a second try: the first one stays, and says why.
    await p.click('a.back');
    await p.locator('#toast').filter({ hasText: 'unsaved changes' }).waitFor();
    assert(await p.locator('#editor-view').isVisible() && p.url().endsWith(`#/rule/${RULE_ID}`), 'still in the editor');
    assert(await p.inputValue('#r-text') === TEXT_V2, 'the edit is kept');
    await p.click('#save');
    await waitFor('one more version', async () => (await p.locator('#versions li').count()) === before + 1);
    const vs = await apiGet(`/api/rules/${RULE_ID}/versions`);
    assert(vs.body.versions.length === before + 1, `versions: ${vs.body.versions.length}`);
    const last = vs.body.versions[vs.body.versions.length - 1];
    assert(last.rule.then.invite.text === TEXT_V2 && last.by === MARKETER, 'the new version has the new text');
    // two versions, each with who and when; the newest is current
    assert(await p.locator('#versions li').count() === 2, 'history shows 2 versions');
    const top = p.locator('#versions li').first();
    assert((await top.textContent()).includes(MARKETER) && (await top.locator('.tag.current').count()) === 1, 'who, and the current mark');
    await p.getByRole('button', { name: `Revert to version ${r.v1}`, exact: true }).click();
    await waitFor('reverted version', async () => (await p.locator('#versions li').count()) === before + 2);
    await waitFor('form shows the old text', async () => (await p.inputValue('#r-text')) === TEXT_V1);
    const got = await apiGet(`/api/rules/${RULE_ID}`);
    const vs2 = (await apiGet(`/api/rules/${RULE_ID}/versions`)).body.versions;
    assert(vs2.length === before + 2 && got.body.version === vs2[vs2.length - 1].version && got.body.rule.then.invite.text === TEXT_V1,
      `after revert: ${JSON.stringify(got.body)}`);
    assert(await p.locator('#versions li.current .v-num').textContent() === `v${got.body.version}`, 'the restored version is marked current');
    r.versions = before + 2;
  });

  test('rules: the JSON view round-trips with the form', async () => {
    const p = r.page;
    await p.click('#view-json');
    await p.locator('#json-pane').waitFor();
    const shown = JSON.parse(await p.inputValue('#json'));
    const saved = (await apiGet(`/api/rules/${RULE_ID}`)).body.rule;
    const canon = (v) => JSON.stringify(v, Object.keys(flat(v)).sort());
    assert(canon(shown) === canon(saved), `JSON view ${JSON.stringify(shown)} vs saved ${JSON.stringify(saved)}`);
    // Invalid JSON: switching is refused, with the reason.
    await p.fill('#json', '{"name": "x",');
    await p.click('#view-form');
    await p.locator('#json-error').filter({ hasText: 'invalid JSON' }).waitFor();
    assert(await p.locator('#rule-form').isHidden(), 'stays in the JSON view');
    assert(await p.getAttribute('#json', 'aria-invalid') === 'true', 'the textarea is marked invalid');
    // An edit in JSON shows up in the form: priority, a number with two operators, an unless, a time zone.
    const edited = { ...saved, priority: 7, unless: { 'conversation.open': true }, only: { tz: 'Europe/Oslo' } };
    edited.when = { all: [edited.when.all[0], { 'page.seconds': { '>=': 2, '<': 600 } }] };
    await p.fill('#json', JSON.stringify(edited, null, 2));
    await p.click('#view-form');
    await p.locator('#rule-form').waitFor();
    assert(await p.inputValue('#r-priority') === '7', 'priority');
    assert(await p.inputValue('#r-tz') === 'Europe/Oslo', 'time zone');
    assert(await p.locator('#unless-root .cond select.field').inputValue() === 'conversation.open', 'unless row');
    assert(await cond(1).locator('select.operator').count() === 2, 'two operators on page.seconds');
    // …and back: the same JSON.
    await p.click('#view-json');
    const back = JSON.parse(await p.inputValue('#json'));
    assert(canon(back) === canon(edited), `round trip: ${JSON.stringify(back)}`);
    await p.click('#view-form');
    await p.click('#save');
    await waitFor('saved', async () => (await p.locator('#versions li').count()) === r.versions + 1);
    const got = (await apiGet(`/api/rules/${RULE_ID}`)).body.rule;
    assert(canon(got) === canon(edited), `saved: ${JSON.stringify(got)}`);
  });

  test('rules: a dry run of a simulated visit shows the rule firing at the right second', async () => {
    const p = r.page;
    const urls = p.locator('#dry-pages .dry-url'), ats = p.locator('#dry-pages .dry-at');
    await urls.nth(0).fill('/demo/');
    await ats.nth(0).fill('0');
    await urls.nth(1).fill('/demo/pricing.html');
    await ats.nth(1).fill('5');
    await p.fill('#dry-until', '30');
    await p.click('#dry-run');
    const head = p.locator('#dry-result .dry-head');
    await head.waitFor();
    // page.seconds >= 2 on the pricing page, which was opened at second 5: fires at second 7.
    assert(await head.getAttribute('data-rule') === RULE_ID && await head.getAttribute('data-at') === '7', `head: ${await head.textContent()}`);
    assert(/fires at second 7/.test(await head.textContent()), 'says the second');
    assert(await p.locator(`#dry-result tr[data-id="${RULE_ID}"] .outcome`).textContent() === 'fires', 'outcome fires');
    await p.locator('#toast').waitFor({ state: 'hidden' });
    await shot(p, 'rules-editor.png');
    // A visit that never reaches the pricing page: no rule fires; the failing condition is named.
    await urls.nth(1).fill('/demo/blog.html');
    await p.click('#dry-run');
    await p.locator('#dry-result .dry-head.no').waitFor();
    const row = p.locator(`#dry-result tr[data-id="${RULE_ID}"]`);
    assert(await row.locator('.outcome').textContent() === 'when', 'outcome when');
    const why = await row.locator('.why').textContent();
    assert(why.includes('when.all[0]') && why.includes('/demo/blog.html'), `why: ${why}`);
  });

  test('rules: the enabled switch saves the rule with enabled flipped', async () => {
    const p = r.page;
    await p.click('a.back');
    await p.locator(`#rules-body tr[data-id="${RULE_ID}"]`).waitFor();
    const v0 = (await apiGet(`/api/rules/${RULE_ID}`)).body.version;
    const sw = p.locator(`#rules-body tr[data-id="${RULE_ID}"] .switch`);
    assert(await sw.getAttribute('aria-checked') === 'true', 'starts enabled');
    await sw.click();
    await p.locator(`#rules-body tr[data-id="${RULE_ID}"] .switch[aria-checked="false"]`).waitFor();
    let got = await apiGet(`/api/rules/${RULE_ID}`);
    assert(got.body.rule.enabled === false && got.body.version > v0, `after off: ${JSON.stringify(got.body)}`);
    await p.locator(`#rules-body tr[data-id="${RULE_ID}"] .switch`).click();
    await p.locator(`#rules-body tr[data-id="${RULE_ID}"] .switch[aria-checked="true"]`).waitFor();
    got = await apiGet(`/api/rules/${RULE_ID}`);
    assert(got.body.rule.enabled === true && got.body.version > v0 + 1, `after on: ${JSON.stringify(got.body)}`);
    await p.locator(`#rules-body tr[data-id="${RULE_ID}"] .rule-name`).click();
    await p.locator('#versions li').first().waitFor();
  });

  test('rules: delete removes the rule from the list (the deletion is a version)', async () => {
    const p = r.page;
    await p.click('#delete');
    await p.locator('#delete[data-armed]').waitFor();
    await p.click('#delete');
    await p.locator('#list-view').waitFor();
    await p.locator('#rules-empty').waitFor();
    assert((await apiGet(`/api/rules/${RULE_ID}`)).status === 404, 'deleted');
    const vs = (await apiGet(`/api/rules/${RULE_ID}/versions`)).body.versions;
    assert(vs[vs.length - 1].deleted === true, 'last version is the deletion');
  });

  test('rules: a stale token leads back to the sign-in form; no CSP violations or script errors', async () => {
    const p = r.page;
    await p.evaluate(() => sessionStorage.setItem('beckon-rules-token', 'not-a-valid-token'));
    await p.reload();
    await p.locator('#login-error').filter({ hasText: 'expired' }).waitFor();
    await r.context.close();
    const mine = (list) => list.filter((e) => /^rules/.test(e));
    const csp = mine(h.cspViolations);
    assert(csp.length === 0, `CSP: ${csp.join(' | ')}`);
    // 400 (validation), 401 (stale token) and 404 answers are expected; Chromium logs them as errors.
    const errs = mine(h.consoleErrors).filter((e) => !/status of (400|401|404)/.test(e));
    assert(errs.length === 0, `console: ${errs.join(' | ')}`);
  });
}

// All keys at any depth (for a key-order-independent JSON.stringify).
function flat(v, out = {}) {
  if (v && typeof v === 'object') for (const k of Object.keys(v)) { out[k] = 1; flat(v[k], out); }
  return out;
}
