#!/usr/bin/env node
// The shared browser modules (widget/shared/) under node, without a browser: what they compute,
// and the one REST policy of api.js (401 signs out, 403 is the role's, 503 or no answer is waited
// out for a repeatable request) against a scripted fetch. The browser suite drives them in pages;
// these cases pin the edges a page rarely meets. Prints TAP.
//
//   BECKON_SOURCE_ROOT  the source tree (default: ../..)
import { join, resolve, dirname } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const ROOT = resolve(process.env.BECKON_SOURCE_ROOT || join(here, '..', '..'));
const load = (name) => import(pathToFileURL(join(ROOT, 'widget', 'shared', name)).href);

/* ---------- the little DOM the modules touch: elements by id, createElement, storage ---------- */
class FakeElement {
  constructor(tag) { this.tagName = tag.toUpperCase(); this.attributes = {}; this.className = ''; this.textContent = ''; this.hidden = false; }
  setAttribute(name, value) { this.attributes[name] = String(value); }
}
class FakeStorage {
  constructor() { this.items = new Map(); }
  getItem(k) { return this.items.has(k) ? this.items.get(k) : null; }
  setItem(k, v) { this.items.set(k, String(v)); }
  removeItem(k) { this.items.delete(k); }
}
const page = { toast: new FakeElement('div') };
globalThis.document = {
  createElement: (tag) => new FakeElement(tag),
  getElementById: (id) => page[id] || null,
};
globalThis.window = globalThis;
globalThis.localStorage = new FakeStorage();
globalThis.sessionStorage = new FakeStorage();

const { el } = await load('dom.js');
const { compareIds, randomHex } = await load('ids.js');
const { retryDelay } = await load('backoff.js');
const { storeValue, sessionValue, localValue } = await load('storage.js');
const { clockTime, duration, isoDay, addDays, dateAndTime, shortDateAndTime } = await load('time.js');
const { createApi, request, errorText, ApiError } = await load('api.js');

/* ---------- TAP ---------- */
let n = 0, failed = 0;
function check(ok, name, detail) {
  n++;
  if (!ok) failed++;
  process.stdout.write(`${ok ? 'ok' : 'not ok'} ${n} - ${name}\n`);
  if (!ok && detail !== undefined) process.stdout.write(`# ${String(detail).replace(/\n/g, '\n# ')}\n`);
}
const same = (got, want, name) => check(JSON.stringify(got) === JSON.stringify(want), name, `got ${JSON.stringify(got)}, want ${JSON.stringify(want)}`);

/* ---------- dom.js ---------- */
{
  const node = el('button', 'primary', 'Send', { type: 'button', list: null, title: undefined, hidden: '' });
  same([node.tagName, node.className, node.textContent, node.attributes], ['BUTTON', 'primary', 'Send', { type: 'button', hidden: '' }],
    'el(): class, text, attributes; null and undefined ones left out, "" kept');
  same([el('i').className, el('i').textContent], ['', ''], 'el(tag) alone: no class, no text');
}

/* ---------- ids.js ---------- */
for (const [a, b, sign] of [
  ['1-0', '1-0', 0], ['1-2', '1-10', -1], ['10-0', '9-99', 1], ['1716800000123-0', '1716800000123-1', -1],
  ['', '1-0', -1], ['1-0', '', 1], ['', '', 0],
]) same(Math.sign(compareIds(a, b)), sign, `compareIds(${JSON.stringify(a)}, ${JSON.stringify(b)}) is ${sign}: numbers, not text`);
{
  const a = randomHex(), b = randomHex();
  check(/^[0-9a-f]{16}$/.test(a) && a !== b, 'randomHex(): 16 hex digits, a new one each time', `${a} ${b}`);
}

/* ---------- backoff.js ---------- */
{
  const random = Math.random;
  Math.random = () => 0;
  const low = [0, 1, 10].map(retryDelay);
  Math.random = () => 0.999999;
  const high = [0, 1, 5, 6, 60].map((a) => Math.round(retryDelay(a)));
  Math.random = random;
  same(low, [250, 250, 250], 'retryDelay(): at least 250 ms');
  same(high, [750, 1250, 16250, 30250, 30250], 'retryDelay(): the random part doubles, up to 30 s');
}

/* ---------- storage.js ---------- */
{
  same([storeValue('localStorage', 'k', 'v'), localValue('k')], [null, 'v'], 'localValue(): written, then read');
  sessionValue('t', 'token');
  same([sessionValue('t'), localValue('t')], ['token', null], 'sessionValue() and localValue() are apart');
  sessionValue('t', null);
  same(sessionValue('t'), null, 'null removes');
  const blocked = globalThis.sessionStorage;
  Object.defineProperty(globalThis, 'sessionStorage', { configurable: true, get() { throw new Error('SecurityError'); } });
  same([sessionValue('t', 'x'), sessionValue('t')], [null, null], 'blocked storage: nothing kept, reads are null, nothing thrown');
  Object.defineProperty(globalThis, 'sessionStorage', { configurable: true, writable: true, value: blocked });
}

/* ---------- time.js ---------- */
{
  same([duration(0), duration(42), duration(60), duration(185), duration(3599), duration(3720)],
    ['0 s', '42 s', '1 min 00 s', '3 min 05 s', '59 min 59 s', '1 h 02 min'], 'duration(): s, min s, h min');
  const ts = new Date(2025, 0, 2, 14, 5).getTime();
  same([clockTime(ts, 'en-GB'), clockTime(ts, 'da')], ['14:05', '14.05'], 'clockTime() in the language given');
  same([isoDay(new Date(Date.UTC(2025, 2, 1, 23, 59))), addDays('2025-03-01', -1), addDays('2024-02-28', 1), addDays('2025-12-31', 1)],
    ['2025-03-01', '2025-02-28', '2024-02-29', '2026-01-01'], 'isoDay() and addDays(): UTC days, across months and years');
  same([dateAndTime(0), shortDateAndTime(0)], ['', ''], 'no time: empty text');
  check(shortDateAndTime(new Date(2001, 5, 7, 9, 30).getTime()).includes('2001'), 'shortDateAndTime(): an earlier year is named');
}

/* ---------- api.js: request(), errorText() ---------- */
let script = [], calls = [];
// fetch answers from the script, in order: a number (status, JSON body {}), [status, text] or 'down' (no answer).
globalThis.fetch = async (path, init) => {
  calls.push({ path, init });
  const next = script.shift();
  if (next === undefined || next === 'down') throw new TypeError('Failed to fetch');
  const [status, text] = Array.isArray(next) ? next : [next, '{}'];
  return { status, headers: new Map([['content-type', 'application/json']]), text: async () => text };
};
{
  script = [[200, '{"ok":true}']];
  const r = await request('PUT', '/api/x', { a: 1 });
  same([r.status, r.body, calls[0].init.body, calls[0].init.headers['content-type']], [200, { ok: true }, '{"a":1}', 'application/json'],
    'request(): an object goes as JSON, the answer is parsed');
  script = [[200, 'day,chats\n']]; calls = [];
  const csv = await request('GET', '/api/x.csv', '{"raw":1}');
  same([csv.body, csv.text, calls[0].init.body], [{}, 'day,chats\n', '{"raw":1}'], 'request(): a string body goes as it is; a body that is not JSON is {} with its text kept');
  same([errorText({ status: 400, body: { error: { path: 'when.all[0]', message: 'unknown field' } } }), errorText({ status: 502, body: {} })],
    ['when.all[0]: unknown field', 'The server answered 502.'], 'errorText(): path and message, or the status');
}

/* ---------- api.js: the policy ---------- */
function policy(token = 'TOKEN') {
  const seen = { signedOut: 0, forbidden: [], retrying: [], token };
  return {
    seen,
    api: createApi({
      token: () => seen.token,
      onSignedOut: () => { seen.signedOut++; },
      onForbidden: (reply) => { seen.forbidden.push(reply.status); },
      onRetrying: (waiting) => { seen.retrying.push(waiting); },
    }),
  };
}
async function outcome(promise) {
  try { const r = await promise; return ['answer', r.status]; } catch (e) { return [e instanceof ApiError ? e.kind : 'other ' + e, e.message]; }
}
Math.random = () => 0; // every retry waits 250 ms
{
  const { api, seen } = policy();
  script = [200]; calls = [];
  same(await outcome(api('GET', '/api/rules')), ['answer', 200], '200: the answer');
  same(calls[0].init.headers.authorization, 'Bearer TOKEN', 'the session token goes as a bearer token');
  script = [401];
  same([await outcome(api('GET', '/api/rules')), seen.signedOut], [['signed-out', 'Your session has expired. Please sign in again.'], 1], '401: the page signs out, the caller gets no answer');
  script = [[403, '{"error":{"code":"forbidden","message":"your role may not do this"}}']];
  same([await outcome(api('PUT', '/api/rules/a', {})), seen.forbidden, seen.signedOut], [['forbidden', 'your role may not do this'], [403], 1], '403: the page is told the role may not; no sign-out by the policy');
  same(seen.retrying, [], 'no waiting so far');
}
for (const [method, path] of [['GET', '/api/rules'], ['PUT', '/api/rules/a'], ['POST', '/api/rules/validate'], ['POST', '/api/rules/test']]) {
  const { api, seen } = policy();
  script = [503, 'down', 503, 200]; calls = [];
  same([await outcome(api(method, path, method === 'GET' ? undefined : {})), calls.length, seen.retrying, seen.signedOut],
    [['answer', 200], 4, [true, false], 0], `${method} ${path}: 503 and no answer are waited out with backoff, never a sign-out`);
}
for (const [method, path] of [['DELETE', '/api/rules/a'], ['POST', '/api/rules/a/revert']]) {
  const { api, seen } = policy();
  script = [503]; calls = [];
  same([await outcome(api(method, path)), calls.length, seen.retrying], [['answer', 503], 1, []], `${method}: not repeated; the caller gets the 503`);
  script = ['down']; page.toast.textContent = '';
  same([await outcome(api(method, path)), page.toast.textContent, page.toast.hidden],
    [['unreachable', 'The server cannot be reached.'], 'The server cannot be reached. Try again.', false], `${method}: no answer rejects, and the page says so`);
}
{
  const { api, seen } = policy();
  script = [503, 503, 503]; calls = [];
  const pending = outcome(api('GET', '/api/rules'));
  setTimeout(() => { seen.token = null; }, 100); // signed out (in another way) while waiting
  same([await pending, calls.length, seen.retrying], [['signed-out', 'You are signed out.'], 1, [true, false]], 'signed out while waiting: no more tries');
}
{
  const { api, seen } = policy();
  script = [503, 503, 200, 200]; calls = [];
  const both = await Promise.all([outcome(api('GET', '/a')), outcome(api('GET', '/b'))]);
  same([both, seen.retrying], [[['answer', 200], ['answer', 200]], [true, false]], 'two requests waiting: one "reconnecting", over when both are answered');
}

process.stdout.write(`1..${n}\n`);
process.exit(failed ? 1 : 0); // not waiting for the toast's timer
