// @ts-check: type-checked by tsc from widget/jsconfig.json (meson test widget_types); no build step.
/* Beckon rules editor, for marketers. Contract: docs/protocol.md ("Routes for marketers"),
 * rule format: docs/rules.md. An ES module, no build step: the helpers it shares with the agent
 * panel are imported from ../shared/.
 * All user-provided text is rendered with textContent, never innerHTML; no inline styles. */
import { $, el } from '../shared/dom.js';
import { sessionValue } from '../shared/storage.js';
import { toast } from '../shared/toast.js';
import { dateAndTime, shortDateAndTime, isoDay, addDays } from '../shared/time.js';
import { createApi, errorText } from '../shared/api.js';
import { showLogin, handleLogin } from '../shared/login.js';

var TOKEN_KEY = 'beckon-rules-token', NAME_KEY = 'beckon-rules-name', ROLE_KEY = 'beckon-rules-role';
var ROLE_MESSAGE = 'Your role may not edit rules. Sign in with a marketer or admin account.';

/* ================= helpers ================= */
function num(n) { return (n || 0).toLocaleString(); }
function clone(v) { return v === undefined ? undefined : JSON.parse(JSON.stringify(v)); }
function canonical(v) {
  if (Array.isArray(v)) return '[' + v.map(canonical).join(',') + ']';
  if (v && typeof v === 'object') {
    return '{' + Object.keys(v).sort().map(function (k) { return JSON.stringify(k) + ':' + canonical(v[k]); }).join(',') + '}';
  }
  return JSON.stringify(v);
}
/* The first path where two JSON values differ (to say what the form cannot show). */
function firstDiff(a, b, path) {
  if (canonical(a) === canonical(b)) return null;
  if (a && b && typeof a === 'object' && typeof b === 'object' && Array.isArray(a) === Array.isArray(b)) {
    var keys = Object.keys(a).concat(Object.keys(b));
    for (var i = 0; i < keys.length; i++) {
      var k = keys[i], p = Array.isArray(a) ? path + '[' + k + ']' : (path ? path + '.' : '') + k;
      var d = firstDiff(a[k], b[k], p);
      if (d !== null) return d;
    }
  }
  return path;
}
function getPath(o, path) {
  var parts = path.split('.');
  for (var i = 0; i < parts.length; i++) {
    if (!o || typeof o !== 'object' || Array.isArray(o)) return undefined;
    o = o[parts[i]];
  }
  return o;
}
function setPath(o, path, v) {
  var parts = path.split('.');
  for (var i = 0; i < parts.length - 1; i++) {
    if (!o[parts[i]] || typeof o[parts[i]] !== 'object') o[parts[i]] = {};
    o = o[parts[i]];
  }
  o[parts[parts.length - 1]] = v;
}
var NUMRE = /^-?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;
var ID_RE = /^[A-Za-z0-9_-]{1,64}$/;
var uidN = 0;
function uid() { return 'u' + (++uidN); }
function ClientError(path, message) { this.path = path; this.message = message; }

/* ================= the rule vocabulary (docs/rules.md) ================= */
/** @type {[string, [string, string][]][]} (group label, [field, value type]) */
var FIELD_GROUPS = [
  ['Page', [['page.path', 'text'], ['page.url', 'text'], ['page.title', 'text'], ['page.seconds', 'num']]],
  ['Visit', [['visit.seconds', 'num'], ['visit.pages', 'num'], ['visit.referrer', 'text'],
    ['visit.utm.source', 'text'], ['visit.utm.medium', 'text'], ['visit.utm.campaign', 'text'],
    ['visit.utm.term', 'text'], ['visit.utm.content', 'text']]],
  ['Visitor', [['visitor.visits', 'num'], ['visitor.chats', 'num'], ['visitor.days_since_last_chat', 'num'],
    ['visitor.lang', 'text'], ['visitor.device', 'text'], ['visitor.attrs.*', 'any']]],
  ['Event', [['event.name', 'text'], ['event.props.*', 'any']]],
  ['Time', [['time.weekday', 'weekday'], ['time.hour', 'num']]],
  ['Other', [['conversation.open', 'bool'], ['idle.seconds', 'num']]]
];
var FIELD_TYPE = {};
FIELD_GROUPS.forEach(function (g) { g[1].forEach(function (f) { FIELD_TYPE[f[0]] = f[1]; }); });
var WILDCARDS = ['visitor.attrs.', 'event.props.'];
var OPS = ['=', '!=', '<', '<=', '>', '>=', 'contains', 'starts_with', 'glob', 'regex', 'in', 'exists'];
var TIMEZONES = ['UTC', 'Europe/Copenhagen', 'Europe/Oslo', 'Europe/Stockholm', 'Europe/Helsinki', 'Atlantic/Reykjavik',
  'Europe/London', 'Europe/Dublin', 'Europe/Berlin', 'Europe/Amsterdam', 'Europe/Paris', 'Europe/Madrid',
  'Europe/Warsaw', 'Europe/Tallinn', 'America/New_York', 'America/Chicago', 'America/Los_Angeles',
  'Asia/Tokyo', 'Australia/Sydney'];
var DATALIST = { 'visitor.device': 'dl-device', 'visitor.lang': 'dl-lang', 'event.name': 'dl-event', 'time.weekday': 'dl-weekday' };

function splitField(f) {
  for (var i = 0; i < WILDCARDS.length; i++) {
    if (f.indexOf(WILDCARDS[i]) === 0) return { key: WILDCARDS[i] + '*', name: f.slice(WILDCARDS[i].length) };
  }
  return { key: f, name: '' };
}
function fieldType(key) { return FIELD_TYPE[key] || 'any'; }

/* Values typed into a condition's input, to JSON and back (per field type). */
function scalarParse(type, s) {
  var t = s.trim();
  if (type === 'num') return NUMRE.test(t) ? Number(t) : s;
  if (type === 'bool') return t === 'true' ? true : t === 'false' ? false : s;
  if (type === 'any') {
    if (NUMRE.test(t)) return Number(t);
    if (t === 'true' || t === 'false') return t === 'true';
    if (/^".*"$/.test(t)) { try { return JSON.parse(t); } catch (e) { /* as text */ } }
  }
  return s;
}
function scalarFormat(type, v) {
  if (typeof v === 'string') {
    if (type === 'any' && (NUMRE.test(v.trim()) || v.trim() === 'true' || v.trim() === 'false' || /^"/.test(v.trim()))) return JSON.stringify(v);
    return v;
  }
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  return JSON.stringify(v);
}
function valueParse(type, op, s) {
  if (op === 'exists') return scalarParse('bool', s);
  if (op === 'in') {
    var t = s.trim();
    if (t.charAt(0) === '[') { try { return JSON.parse(t); } catch (e) { return s; } }
    if (t === '') return [];
    return t.split(',').map(function (x) { return scalarParse(type, x.trim()); });
  }
  return scalarParse(type, s);
}
function valueFormat(type, op, v) {
  if (op === 'in' && Array.isArray(v)) {
    var parts = v.map(function (x) { return scalarFormat(type, x); });
    var plain = parts.every(function (p) { return p !== '' && p.indexOf(',') < 0 && p === p.trim() && p.charAt(0) !== '['; });
    return plain && parts.length ? parts.join(', ') : JSON.stringify(v);
  }
  return scalarFormat(type, v);
}

/* ================= condition model ================= */
// group: {t:'group', kind:'all'|'any', items:[], neg, bare (root only: a single condition without all/any)}
// cmp:   {t:'cmp', key, name, pairs:[{op, text, orig, origText, short}], neg}
// raw:   {t:'raw', text}  (anything the form has no control for, e.g. not(not(...)))
function isObj(v) { return v && typeof v === 'object' && !Array.isArray(v); }
function condFromJson(c) {
  if (!isObj(c)) return { t: 'raw', uid: uid(), text: JSON.stringify(c) };
  var keys = Object.keys(c);
  if (keys.length !== 1) return { t: 'raw', uid: uid(), text: JSON.stringify(c) };
  var k = keys[0], v = c[k];
  if ((k === 'all' || k === 'any') && Array.isArray(v)) {
    return { t: 'group', uid: uid(), kind: k, items: v.map(condFromJson), neg: false };
  }
  if (k === 'not') {
    var inner = condFromJson(v);
    if (inner.t === 'raw' || inner.neg) return { t: 'raw', uid: uid(), text: JSON.stringify(c) };
    inner.neg = true;
    return inner;
  }
  var sf = splitField(k), type = fieldType(sf.key), pairs;
  if (isObj(v) && Object.keys(v).length) {
    pairs = Object.keys(v).map(function (op) {
      var text = valueFormat(type, op, v[op]);
      return { op: op, text: text, orig: v[op], origText: text, short: false };
    });
  } else {
    var text = valueFormat(type, '=', v);
    pairs = [{ op: '=', text: text, orig: v, origText: text, short: true }];
  }
  return { t: 'cmp', uid: uid(), key: sf.key, name: sf.name, pairs: pairs, neg: false };
}
function rootFromJson(c, defKind) {
  if (c === undefined) return { t: 'group', uid: uid(), kind: defKind, items: [], neg: false, root: true, present: false };
  var n = condFromJson(c);
  if (n.t === 'group' && !n.neg) { n.root = true; n.present = true; return n; }
  return { t: 'group', uid: uid(), kind: defKind, items: [n], neg: false, root: true, bare: true, present: true };
}
function newCmp(key, op) {
  return { t: 'cmp', uid: uid(), key: key || 'page.path', name: '', pairs: [{ op: op || 'glob', text: '', short: false }], neg: false };
}
function fullField(n) { return /\*$/.test(n.key) ? n.key.slice(0, -1) + n.name : n.key; }

/* Serialise; reg(path, entry) records which control each JSON path belongs to. */
function condToJson(n, path, reg) {
  if (n.neg) {
    reg(path, { el: n.els.not });
    return { not: condBare(n, path + '.not', reg) };
  }
  return condBare(n, path, reg);
}
function condBare(n, path, reg) {
  if (n.t === 'raw') {
    reg(path, { el: n.els.raw });
    try { return JSON.parse(n.text); } catch (e) { throw new ClientError(path, 'invalid JSON: ' + e.message); }
  }
  if (n.t === 'group') {
    reg(path, { el: n.els.kind }); reg(path + '.' + n.kind, { el: n.els.kind });
    var o = {};
    o[n.kind] = n.items.map(function (c, i) { return condToJson(c, path + '.' + n.kind + '[' + i + ']', reg); });
    return o;
  }
  var f = fullField(n), fp = path + '.' + f, type = fieldType(n.key), out = {};
  if (/\*$/.test(n.key) && !n.name.trim()) {
    reg(path, { el: n.els.name });
    throw new ClientError(path, 'enter the ' + (n.key === 'event.props.*' ? 'property' : 'attribute') + ' name');
  }
  var fieldCtl = n.els.name || n.els.field;
  reg(path, { el: fieldCtl });
  var val = function (p) { return p.origText !== undefined && p.text === p.origText ? clone(p.orig) : valueParse(type, p.op, p.text); };
  if (n.pairs.length === 1 && n.pairs[0].short && n.pairs[0].op === '=') {
    reg(fp, { el: n.pairs[0].els.value, field: fieldCtl });
    out[f] = val(n.pairs[0]);
    return out;
  }
  reg(fp, { el: fieldCtl });
  var ops = {};
  n.pairs.forEach(function (p) {
    var pp = fp + '.' + p.op;
    if (Object.prototype.hasOwnProperty.call(ops, p.op)) {
      reg(pp, { el: p.els.op });
      throw new ClientError(pp, 'operator ' + p.op + ' is used twice for this field');
    }
    reg(pp, { el: p.els.value, op: p.els.op, field: fieldCtl });
    ops[p.op] = val(p);
  });
  out[f] = ops;
  return out;
}
function rootToJson(g, path, reg) {
  if (g.bare && g.items.length === 1) return condToJson(g.items[0], path, reg);
  return condBare(g, path, reg);
}

/* ================= simple fields ================= */
var SIMPLE = [
  { path: 'name', id: 'r-name', kind: 'text' },
  { path: 'description', id: 'r-description', kind: 'text' },
  { path: 'priority', id: 'r-priority', kind: 'num' },
  { path: 'only.agents_available', id: 'r-agents', kind: 'select' },
  { path: 'only.hours', id: 'r-hours', kind: 'text' },
  { path: 'only.tz', id: 'r-tz', kind: 'select' },
  { path: 'only.site', id: 'r-site', kind: 'list' },
  { path: 'cap.per_visit', id: 'r-per-visit', kind: 'num' },
  { path: 'cap.cooldown_days', id: 'r-cooldown', kind: 'num' },
  { path: 'then.invite.text', id: 'r-text', kind: 'text' },
  { path: 'then.invite.delay_seconds', id: 'r-delay', kind: 'num' },
  { path: 'then.invite.agent', id: 'r-agent', kind: 'text' }
];
function simpleFormat(s, v) {
  if (v === undefined) return '';
  if (s.kind === 'list' && Array.isArray(v) && v.every(function (x) { return typeof x === 'string' && x && x.indexOf(',') < 0 && x === x.trim(); })) return v.join(', ');
  if (typeof v === 'string') return v;
  return s.kind === 'select' && typeof v === 'boolean' ? String(v) : (typeof v === 'number' ? String(v) : JSON.stringify(v));
}
function simpleParse(s, text) {
  if (s.kind === 'num') return NUMRE.test(text.trim()) ? Number(text.trim()) : text;
  if (s.kind === 'list') {
    if (text.indexOf(',') < 0) return text.trim();
    return text.split(',').map(function (x) { return x.trim(); }).filter(Boolean);
  }
  if (s.path === 'only.agents_available') return text === 'true' ? true : text === 'false' ? false : text;
  return text;
}
function ensureOption(select, value) {
  if (value === '' || Array.prototype.some.call(select.options, function (o) { return o.value === value; })) return;
  select.appendChild(el('option', null, value + ' (as saved)', { value: value }));
}

/* ================= state ================= */
var me = null;
var rules = [];        // GET /api/rules: [{id, version, by, at, rule}]
var stats = {};        // totals per rule id
/** @type {any} */
var ed = null;         // the open editor: {id, isNew, when, unless, simple:{}, containers:{}, saved, loaded}
var view = 'form';     // 'form' or 'json'
var statsTimer = 0;

/* ================= API: the policy of shared/api.js ================= */
// Every route the editor calls is for marketers and admins: a 403 means this account may not use
// the editor at all, so it signs out with the role message, as a 401 does with its own.
// While requests wait for a busy server (503, no answer), the bar says "Reconnecting…".
var api = createApi({
  token: function () { return sessionValue(TOKEN_KEY); },
  onSignedOut: function () { signOut('Your session has expired. Please sign in again.'); },
  onForbidden: function () { signOut(ROLE_MESSAGE); },
  onRetrying: function (waiting) { $('conn').hidden = !waiting; }
});

/* ================= login ================= */
handleLogin({
  tokenKey: TOKEN_KEY, nameKey: NAME_KEY,
  refuse: function (body) {
    var role = body.agent && body.agent.role;
    if (role === 'marketer' || role === 'admin') return '';
    return 'Your role (' + (role || 'unknown') + ') may not edit rules. Sign in with a marketer or admin account.';
  },
  signedIn: function (body) { sessionValue(ROLE_KEY, body.agent.role); start(); }
});
function showSignIn(message) {
  stopTimers();
  showLogin(message, NAME_KEY);
}
function signOut(message) {
  sessionValue(TOKEN_KEY, null); sessionValue(ROLE_KEY, null);
  me = null; ed = null;
  showSignIn(message);
}
$('logout').addEventListener('click', function () { signOut('You are signed out.'); });

function start() {
  me = { name: sessionValue(NAME_KEY) || '', role: sessionValue(ROLE_KEY) || '' };
  $('me').textContent = me.name + (me.role ? ' · ' + me.role : '');
  $('login').hidden = true; $('app').hidden = false;
  route();
}
function stopTimers() { clearInterval(statsTimer); statsTimer = 0; }

/* ================= routing ================= */
function route() {
  if (!sessionValue(TOKEN_KEY)) { showSignIn(''); return; }
  var h = location.hash;
  var m = /^#\/rule\/(.+)$/.exec(h);
  if (m) openRule(decodeURIComponent(m[1]));
  else if (h === '#/new') openNew();
  else showList();
}
// Leaving an editor with unsaved changes takes a second try within 5 s (as Delete does).
var leaveArmedUntil = 0, skipGuard = false;
function go(hash) { if (location.hash === hash) { route(); return; } skipGuard = true; location.hash = hash; }
window.addEventListener('hashchange', function (e) {
  if (!sessionValue(TOKEN_KEY)) return;
  var guard = !skipGuard && ed && !$('editor-view').hidden && isDirty();
  skipGuard = false;
  if (guard && Date.now() > leaveArmedUntil) {
    leaveArmedUntil = Date.now() + 5000;
    history.replaceState(null, '', e.oldURL);
    toast('This rule has unsaved changes. Save them, or go there again to discard them.');
    return;
  }
  leaveArmedUntil = 0;
  route();
});
window.addEventListener('beforeunload', function (e) { if (ed && isDirty()) { e.preventDefault(); e.returnValue = ''; } });

/* ================= rule list ================= */
function showList() {
  ed = null;
  $('editor-view').hidden = true; $('list-view').hidden = false;
  document.title = 'Beckon — Rules';
  if (!$('range-from').value) setRange(7);
  loadList();
  stopTimers();
  statsTimer = setInterval(function () { if (!$('list-view').hidden && !document.hidden) loadStats(); }, 15000);
}
function setRange(days) {
  var to = isoDay(new Date());
  $('range-to').value = to; $('range-from').value = addDays(to, 1 - days);
}
function loadRules() {
  return api('GET', '/api/rules').then(function (r) {
    if (r.status !== 200) { toast('Could not load the rules: ' + errorText(r)); return; }
    rules = (r.body.rules || []).slice().sort(function (a, b) {
      var pa = (a.rule && typeof a.rule.priority === 'number') ? a.rule.priority : 0;
      var pb = (b.rule && typeof b.rule.priority === 'number') ? b.rule.priority : 0;
      return pb - pa || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
    });
  });
}
function loadList() { return Promise.all([loadRules(), loadStats(true)]).then(renderList, function () {}); }
function loadStats(noRender) {
  var from = $('range-from').value, to = $('range-to').value;
  var q = from && to ? '?from=' + encodeURIComponent(from) + '&to=' + encodeURIComponent(to) : '';
  return api('GET', '/api/stats/rules' + q).then(function (r) {
    if (r.status !== 200) { $('stats-error').textContent = 'Statistics: ' + errorText(r); stats = {}; }
    else {
      $('stats-error').textContent = '';
      stats = {};
      var rs = r.body.rules || {};
      Object.keys(rs).forEach(function (id) { stats[id] = rs[id].totals || {}; });
    }
    if (!noRender) renderList();
  });
}
// The funnel's stages, in the order of its bars (one class each: stage-matched ...).
var FUNNEL = ['matched', 'fired', 'shown', 'accepted', 'chats'];
// The class of a bar's length, part of whole in steps (the CSS has width-0..20, height-0..10:
// inline styles are not allowed by the CSP); anything above zero shows at least one step.
function widthClass(prefix, part, whole, steps) {
  var f = whole > 0 ? Math.max(0, Math.min(1, part / whole)) : 0;
  var n = Math.round(f * steps);
  if (n === 0 && part > 0) n = 1;
  return prefix + n;
}
function renderList() {
  if ($('list-view').hidden) return;
  var body = $('rules-body');
  body.textContent = '';
  $('rules-empty').hidden = rules.length > 0;
  $('rules-table').hidden = rules.length === 0;
  rules.forEach(function (r) {
    var rule = r.rule || {}, s = stats[r.id] || {};
    var tr = el('tr', rule.enabled === false ? 'off' : null, null, { 'data-id': r.id });
    var on = rule.enabled !== false, label = rule.name || r.id;
    var sw = el('button', 'switch', null, { type: 'button', role: 'switch', 'aria-checked': String(on), 'aria-label': 'Enabled: ' + label });
    sw.appendChild(el('span', 'knob', null, { 'aria-hidden': 'true' }));
    sw.addEventListener('click', function () { toggleEnabled(r, sw); });
    var td = el('td'); td.appendChild(sw); tr.appendChild(td);

    td = el('td', 'rule-cell');
    var a = el('a', 'rule-name', label, { href: '#/rule/' + encodeURIComponent(r.id) });
    td.appendChild(a);
    td.appendChild(el('div', 'mono muted small rule-id', r.id));
    tr.appendChild(td);
    tr.appendChild(el('td', 'num', String(typeof rule.priority === 'number' ? rule.priority : 0)));
    ['evaluated', 'matched', 'fired', 'shown', 'accepted', 'chats'].forEach(function (k) {
      tr.appendChild(el('td', 'num stat-' + k, num(s[k])));
    });
    td = el('td', 'num conv');
    var fired = s.fired || 0, chats = s.chats || 0;
    td.appendChild(el('span', 'percent', fired ? (100 * chats / fired).toFixed(1) + ' %' : '—'));
    var bar = el('span', 'meter', null, { 'aria-hidden': 'true' });
    bar.appendChild(el('span', 'fill ' + widthClass('width-', chats, fired, 20)));
    td.appendChild(bar);
    tr.appendChild(td);

    td = el('td');
    var top = Math.max(s.matched || 0, fired);
    var funnel = el('span', 'funnel', null, {
      role: 'img',
      'aria-label': 'matched ' + (s.matched || 0) + ', fired ' + fired + ', shown ' + (s.shown || 0) + ', accepted ' + (s.accepted || 0) + ', chats ' + chats
    });
    [s.matched || 0, fired, s.shown || 0, s.accepted || 0, chats].forEach(function (v, i) {
      funnel.appendChild(el('span', 'funnel-bar stage-' + FUNNEL[i] + ' ' + widthClass('height-', v, top, 10)));
    });
    td.appendChild(funnel);
    tr.appendChild(td);
    tr.appendChild(el('td', 'small muted', 'v' + r.version + ' · ' + (r.by || '?') + ' · ' + shortDateAndTime(r.at), { title: dateAndTime(r.at) }));
    body.appendChild(tr);
  });
}
function toggleEnabled(r, sw) {
  var rule = clone(r.rule) || {};
  var next = rule.enabled === false;
  rule.enabled = next;
  sw.disabled = true;
  api('PUT', '/api/rules/' + encodeURIComponent(r.id), rule).then(function (res) {
    sw.disabled = false;
    if (res.status !== 200) { toast('Not saved: ' + errorText(res)); return; }
    toast((rule.name || r.id) + (next ? ' is enabled' : ' is disabled') + ' (version ' + res.body.version + ').');
    return loadRules().then(renderList).then(function () {
      var again = document.querySelector('#rules-body tr[data-id="' + CSS.escape(r.id) + '"] .switch');
      if (again) /** @type {HTMLElement} */ (again).focus();
    });
  }, function () { sw.disabled = false; });
}
$('range-form').addEventListener('submit', function (e) { e.preventDefault(); loadList(); });
['range-from', 'range-to'].forEach(function (id) { $(id).addEventListener('change', function () { if ($('range-from').value && $('range-to').value) loadStats(); }); });
Array.prototype.forEach.call(document.querySelectorAll('.range-presets button'), function (b) {
  b.addEventListener('click', function () { setRange(Number(b.getAttribute('data-days'))); loadStats(); });
});

/* ================= editor: open ================= */
function showEditor() {
  stopTimers();
  $('list-view').hidden = true; $('editor-view').hidden = false;
  window.scrollTo(0, 0);
}
function openNew() {
  showEditor();
  loadIntoEditor({ enabled: true, when: { all: [] }, then: { invite: { text: '' } } }, { isNew: true });
  ed.when.items.push(newCmp('page.path', 'glob'));
  renderConditions();
  setView('form', true);
  ed.saved = canonical(buildRule(function () {}));  // leaving an untouched new rule needs no confirmation
  loadRules();
  $('r-id').focus();
}
function openRule(id) {
  showEditor();
  $('ed-title').textContent = id; $('ed-sub').textContent = 'Loading…';
  api('GET', '/api/rules/' + encodeURIComponent(id)).then(function (r) {
    if (r.status === 404) { toast('No rule “' + id + '”.'); go('#/'); return; }
    if (r.status !== 200) { toast('Could not load the rule: ' + errorText(r)); return; }
    loadIntoEditor(r.body.rule || {}, { id: r.body.id || id, version: r.body.version, by: r.body.by, at: r.body.at });
    loadVersions();
  }, function () {});
  if (!rules.length) loadRules();
}

function loadIntoEditor(rule, meta) {
  var isNew = !!meta.isNew;
  ed = { id: isNew ? '' : meta.id, isNew: isNew, meta: meta, simple: {}, containers: {} };
  $('ed-title').textContent = isNew ? 'New rule' : (rule.name || meta.id);
  updateSub();
  $('delete').hidden = isNew; $('history').hidden = isNew;
  resetDelete();
  $('r-id').value = isNew ? (typeof rule.id === 'string' ? rule.id : '') : meta.id;
  $('r-id').readOnly = !isNew;
  $('f-id').classList.toggle('readonly', !isNew);
  fillForm(rule);
  ed.saved = isNew ? null : canonical(withId(rule, ed.id));
  clearErrors(); $('summary').hidden = true; setCheck('', '');
  $('dry-draft-fld').hidden = false;
  $('dry-result').textContent = '';
  var ok = representable(rule);
  setView(ok === true ? 'form' : 'json', true, rule);
  if (ok !== true) showSummary([{ message: 'The form has no control for part of this rule (at “' + ok + '”). Edit it as JSON.' }]);
  updateSub();
}
function withId(rule, id) {
  var r = clone(rule) || {};
  if (id && r.id === undefined) r.id = id;
  return r;
}
function fillForm(rule) {
  ed.containers = {};
  ['only', 'cap', 'then', 'then.invite'].forEach(function (p) { if (getPath(rule, p) !== undefined) ed.containers[p] = true; });
  ed.enabledPresent = rule.enabled !== undefined;
  ed.enabledOrig = rule.enabled;
  $('r-enabled').checked = rule.enabled !== false;
  SIMPLE.forEach(function (s) {
    var v = getPath(rule, s.path), text = simpleFormat(s, v), input = $(s.id);
    if (input.tagName === 'SELECT') ensureOption(input, text);
    input.value = text;
    ed.simple[s.path] = { present: v !== undefined, orig: clone(v), origText: text };
  });
  ed.when = rootFromJson(rule.when, 'all');
  ed.unless = rootFromJson(rule.unless, 'any');
  ed.extra = {};
  Object.keys(rule).forEach(function (k) {
    if (['id', 'name', 'description', 'enabled', 'priority', 'when', 'unless', 'only', 'cap', 'then'].indexOf(k) < 0) ed.extra[k] = rule[k];
  });
  renderConditions();
}
/* true when the form shows all of the rule, else the first path it cannot show */
function representable(rule) {
  try {
    var back = buildRule(function () {});
    var a = withId(rule, ed.id || rule.id), b = back;
    if (ed.isNew && rule.id === undefined) delete b.id;
    var d = firstDiff(a, b, '');
    return d === null ? true : d;
  } catch (e) {
    return e.path || '(unknown)';
  }
}

/* ================= editor: build the rule from the form ================= */
function buildRule(reg) {
  var rule = {}, id = ed.isNew ? $('r-id').value.trim() : ed.id;
  reg('id', { el: $('r-id') });
  if (id) rule.id = id;
  var put = function (path) {
    var s = SIMPLE.filter(function (x) { return x.path === path; })[0], st = ed.simple[path], input = $(s.id);
    reg(path, { el: input });
    var text = input.value;
    if (st && st.present && text === st.origText) { setPath(rule, path, clone(st.orig)); return; }
    if (text === '') return;
    setPath(rule, path, simpleParse(s, text));
  };
  put('name'); put('description');
  reg('enabled', { el: $('r-enabled') });
  var en = $('r-enabled').checked;
  if (ed.enabledPresent && typeof ed.enabledOrig !== 'boolean' && en) rule.enabled = ed.enabledOrig;
  else if (ed.enabledPresent || !en || ed.isNew) rule.enabled = en;
  put('priority');
  reg('when', { el: ed.when.els.kind });
  rule.when = rootToJson(ed.when, 'when', reg);
  reg('unless', { el: ed.unless.els.kind });
  if (ed.unless.items.length || (ed.unless.present && !ed.unless.touched)) rule.unless = rootToJson(ed.unless, 'unless', reg);
  ['only', 'cap'].forEach(function (c) { if (ed.containers[c]) rule[c] = {}; });
  reg('only', { el: $('r-agents') });
  put('only.agents_available'); put('only.hours'); put('only.tz'); put('only.site');
  reg('cap', { el: $('r-per-visit') });
  put('cap.per_visit'); put('cap.cooldown_days');
  reg('then', { el: $('r-text') }); reg('then.invite', { el: $('r-text') });
  if (ed.containers.then) rule.then = {};
  if (ed.containers['then.invite']) rule.then = { invite: {} };
  put('then.invite.text'); put('then.invite.delay_seconds'); put('then.invite.agent');
  Object.keys(ed.extra).forEach(function (k) { rule[k] = clone(ed.extra[k]); });
  return rule;
}

/* ================= editor: render conditions ================= */
function renderConditions(focus) {
  renderRoot($('when-root'), ed.when, 'When');
  renderRoot($('unless-root'), ed.unless, 'Unless');
  if (focus) {
    var f = document.querySelector('[data-uid="' + focus.uid + '"][data-role="' + focus.role + '"]');
    if (f) /** @type {HTMLElement} */ (f).focus();
  }
}
function renderRoot(box, g, label) {
  box.textContent = '';
  box.appendChild(renderGroup(g, label, null));
}
function structural(focus) {
  changed();
  renderConditions(focus);
}
function notToggle(n, what) {
  var b = el('button', 'not-btn', 'not', { type: 'button', 'aria-pressed': String(!!n.neg), 'data-uid': n.uid, 'data-role': 'not', title: 'Negate this ' + what, 'aria-label': 'Negate this ' + what });
  b.addEventListener('click', function () { n.neg = !n.neg; structural({ uid: n.uid, role: 'not' }); });
  return b;
}
function renderGroup(g, label, parent) {
  g.els = {};
  var box = el('div', 'group' + (g.root ? ' root' : '') + (g.neg ? ' neg' : ''), null, { 'data-uid': g.uid });
  var head = el('div', 'group-head', null, { 'data-errs': '' });
  if (!g.root) head.appendChild(g.els.not = notToggle(g, 'group'));
  var kind = el('select', 'kind', null, { 'aria-label': label + ': combine conditions', 'data-uid': g.uid, 'data-role': 'kind' });
  kind.appendChild(el('option', null, g.root ? 'All of these hold' : 'all of', { value: 'all' }));
  kind.appendChild(el('option', null, g.root ? 'Any of these holds' : 'any of', { value: 'any' }));
  kind.value = g.kind;
  kind.addEventListener('change', function () { g.kind = kind.value; g.bare = false; structural({ uid: g.uid, role: 'kind' }); });
  head.appendChild(kind);
  g.els.kind = kind;
  if (g.root && !g.items.length) g.els.not = kind;
  head.appendChild(el('span', 'spacer'));
  var addC = el('button', 'ghost small-btn', '+ Condition', { type: 'button', 'aria-label': label + ': add a condition' });
  addC.addEventListener('click', function () {
    var n = newCmp(g.root && label === 'Unless' && !g.items.length ? 'conversation.open' : 'page.seconds',
      g.root && label === 'Unless' && !g.items.length ? '=' : '>=');
    g.items.push(n); g.bare = false; g.touched = true;
    structural({ uid: n.uid, role: 'field' });
  });
  var addG = el('button', 'ghost small-btn', '+ Group', { type: 'button', 'aria-label': label + ': add a group of conditions' });
  addG.addEventListener('click', function () {
    var n = { t: 'group', uid: uid(), kind: g.kind === 'all' ? 'any' : 'all', items: [newCmp('page.path', 'glob')], neg: false };
    g.items.push(n); g.bare = false; g.touched = true;
    structural({ uid: n.uid, role: 'kind' });
  });
  head.appendChild(addC); head.appendChild(addG);
  if (parent) head.appendChild(removeBtn(g, parent, 'group'));
  head.appendChild(el('div', 'errs'));
  box.appendChild(head);
  var list = el('ul', 'items', null, { 'aria-label': label + ' conditions' });
  g.items.forEach(function (c, i) {
    var li = c.t === 'group' ? renderGroup(c, label + ' · group ' + (i + 1), g) : c.t === 'raw' ? renderRaw(c, g, label + ' · ' + (i + 1)) : renderCmp(c, g, label + ' · ' + (i + 1));
    var item = el('li', 'item');
    item.appendChild(li);
    list.appendChild(item);
  });
  box.appendChild(list);
  if (!g.items.length) {
    box.appendChild(el('p', 'empty small', g.kind === 'any'
      ? (g.root && label === 'Unless' ? 'Nothing: the rule is never held back.' : 'Add at least one condition.')
      : (label === 'Unless' ? 'Nothing: the rule is never held back.' : 'No conditions: always holds.')));
  }
  return box;
}
function removeBtn(n, parent, what) {
  var b = el('button', 'icon-btn', '×', { type: 'button', 'aria-label': 'Remove this ' + what, title: 'Remove this ' + what });
  b.addEventListener('click', function () {
    var i = parent.items.indexOf(n);
    parent.items.splice(i, 1); parent.touched = true;
    var next = parent.items[Math.min(i, parent.items.length - 1)];
    changed();
    renderConditions(next ? { uid: next.uid, role: next.t === 'group' ? 'kind' : next.t === 'raw' ? 'raw' : 'field' } : { uid: parent.uid, role: 'kind' });
  });
  return b;
}
function renderRaw(n, parent, label) {
  n.els = {};
  var box = el('div', 'cond raw', null, { 'data-errs': '', 'data-uid': n.uid });
  var main = el('div', 'cond-main');
  var ta = el('textarea', 'mono', null, { rows: '2', spellcheck: 'false', 'aria-label': label + ': condition as JSON', 'data-uid': n.uid, 'data-role': 'raw' });
  ta.value = n.text;
  ta.addEventListener('input', function () { n.text = ta.value; changed(); });
  n.els.raw = n.els.not = ta;
  main.appendChild(ta);
  main.appendChild(removeBtn(n, parent, 'condition'));
  box.appendChild(main);
  box.appendChild(el('p', 'hint', 'Shown as JSON: the form has no control for this condition.'));
  box.appendChild(el('div', 'errs'));
  return box;
}
function fieldSelect(n, label) {
  var s = el('select', 'field', null, { 'aria-label': label + ': field', 'data-uid': n.uid, 'data-role': 'field' });
  FIELD_GROUPS.forEach(function (g) {
    var og = el('optgroup', null, null, { label: g[0] });
    g[1].forEach(function (f) { og.appendChild(el('option', null, f[0].replace(/\*$/, '…'), { value: f[0] })); });
    s.appendChild(og);
  });
  if (!FIELD_TYPE[n.key]) s.appendChild(el('option', null, n.key, { value: n.key }));
  s.value = n.key;
  return s;
}
function renderCmp(n, parent, label) {
  n.els = {};
  var type = fieldType(n.key);
  var box = el('div', 'cond' + (n.neg ? ' neg' : ''), null, { 'data-errs': '', 'data-uid': n.uid });
  var main = el('div', 'cond-main');
  main.appendChild(n.els.not = notToggle(n, 'condition'));
  var fs = n.els.field = fieldSelect(n, label);
  fs.addEventListener('change', function () {
    n.key = fs.value;
    n.pairs.forEach(function (p) { p.short = false; });
    structural({ uid: n.uid, role: 'field' });
  });
  main.appendChild(fs);
  if (/\*$/.test(n.key)) {
    var nm = n.els.name = el('input', 'name-in mono', null, {
      'aria-label': label + ': ' + (n.key === 'event.props.*' ? 'property' : 'attribute') + ' name',
      placeholder: n.key === 'event.props.*' ? 'value' : 'plan', spellcheck: 'false', 'data-uid': n.uid, 'data-role': 'name'
    });
    nm.value = n.name;
    nm.addEventListener('input', function () { n.name = nm.value; changed(); });
    main.appendChild(nm);
  }
  n.pairs.forEach(function (p, i) {
    p.els = {};
    var pair = el('span', 'pair');
    if (i > 0) pair.appendChild(el('span', 'and muted small', 'and'));
    var os = p.els.op = el('select', 'operator', null, { 'aria-label': label + ': operator' + (i ? ' ' + (i + 1) : ''), 'data-uid': n.uid, 'data-role': 'op' + i });
    OPS.forEach(function (o) { os.appendChild(el('option', null, o.replace('_', ' '), { value: o })); });
    if (OPS.indexOf(p.op) < 0) os.appendChild(el('option', null, p.op, { value: p.op }));
    os.value = p.op;
    os.addEventListener('change', function () {
      p.op = os.value; p.short = false;
      if (p.op === 'exists' && p.text === '') p.text = 'true';
      structural({ uid: n.uid, role: 'op' + i });
    });
    pair.appendChild(os);
    var list = p.op === 'exists' || type === 'bool' ? 'dl-bool' : DATALIST[n.key];
    var vi = p.els.value = el('input', 'value', null, {
      'aria-label': label + ': value' + (i ? ' ' + (i + 1) : ''), spellcheck: 'false', list: list,
      placeholder: placeholderFor(type, p.op), 'data-uid': n.uid, 'data-role': 'value' + i,
      inputmode: type === 'num' && p.op !== 'in' && p.op !== 'exists' ? 'decimal' : null
    });
    vi.value = p.text;
    vi.addEventListener('input', function () { p.text = vi.value; changed(); });
    pair.appendChild(vi);
    if (i > 0) {
      var rm = el('button', 'icon-btn', '×', { type: 'button', 'aria-label': 'Remove operator ' + (i + 1), title: 'Remove this comparison' });
      rm.addEventListener('click', function () { n.pairs.splice(i, 1); structural({ uid: n.uid, role: 'field' }); });
      pair.appendChild(rm);
    }
    main.appendChild(pair);
  });
  var more = el('button', 'ghost small-btn', '+ and', { type: 'button', title: 'Another comparison on this field, e.g. ≥ 30 and < 60', 'aria-label': label + ': add another comparison on this field' });
  more.addEventListener('click', function () {
    var used = n.pairs.map(function (p) { return p.op; });
    var op = ['<', '<=', '>', '>=', '!=', '='].filter(function (o) { return used.indexOf(o) < 0; })[0] || '=';
    n.pairs.forEach(function (p) { p.short = false; });
    n.pairs.push({ op: op, text: '', short: false });
    structural({ uid: n.uid, role: 'value' + (n.pairs.length - 1) });
  });
  main.appendChild(more);
  main.appendChild(removeBtn(n, parent, 'condition'));
  box.appendChild(main);
  box.appendChild(el('div', 'errs'));
  return box;
}
function placeholderFor(type, op) {
  if (op === 'exists') return 'true or false';
  if (op === 'in') return type === 'num' ? '1, 2, 3' : 'a, b, c';
  if (op === 'glob') return '/pricing*';
  if (op === 'regex') return '^/blog/';
  if (type === 'num') return '30';
  if (type === 'bool') return 'true';
  if (type === 'weekday') return 'mon';
  return 'text';
}

/* ================= editor: changes, validation ================= */
var validateTimer = 0, validateGen = 0;
function isDirty() {
  if (!ed || ed.saved === undefined) return false;
  var cur;
  try { cur = currentRule(); } catch (e) { return true; }
  if (ed.saved === null) return true;
  return canonical(cur.rule) !== ed.saved;
}
function updateSub() {
  if (!ed) return;
  var m = ed.meta || {};
  var parts = [];
  if (!ed.isNew) parts.push(ed.id + ' · version ' + m.version + ' · ' + (m.by || '?') + ', ' + dateAndTime(m.at));
  var dirty = !ed.isNew && isDirty();
  if (dirty) parts.push('unsaved changes');
  $('ed-sub').textContent = parts.join(' — ');
  $('ed-sub').classList.toggle('dirty', dirty);
}
function changed() {
  if (!ed) return;
  updateSub();
  clearTimeout(validateTimer);
  setCheck('pending', 'Checking…');
  validateTimer = setTimeout(validateNow, 500);
}
$('rule-form').addEventListener('input', function (e) {
  if (e.target.closest('.cond, .group-head')) return; // condition controls call changed() themselves
  changed();
});
$('rule-form').addEventListener('change', function (e) {
  if (e.target.closest('.cond, .group-head')) return;
  changed();
});
$('rule-form').addEventListener('submit', function (e) { e.preventDefault(); save(); });
$('json').addEventListener('input', changed);

/* The rule as the editor currently has it: {rule, raw (JSON text to send), reg} */
function currentRule() {
  var reg = new Map();
  var add = function (path, entry) { if (!reg.has(path)) reg.set(path, entry); };
  if (view === 'json') {
    var text = $('json').value, rule;
    try { rule = JSON.parse(text); } catch (e) { throw new ClientError('', jsonErrorText(text, e)); }
    if (!isObj(rule)) throw new ClientError('', 'a rule is a JSON object: { … }');
    return { rule: rule, raw: text, reg: reg };
  }
  var r = buildRule(add);
  return { rule: r, raw: JSON.stringify(r), reg: reg };
}
function jsonErrorText(text, e) {
  var msg = String(e.message || e);
  var m = /position (\d+)/.exec(msg);
  if (m) {
    var before = text.slice(0, Number(m[1])), line = before.split('\n').length;
    var col = Number(m[1]) - before.lastIndexOf('\n');
    msg = msg.replace(/ in JSON at position \d+.*$/, '') + ' (line ' + line + ', column ' + col + ')';
  }
  return 'invalid JSON: ' + msg;
}
function setCheck(state, text) {
  var c = $('check');
  c.textContent = text; c.setAttribute('data-state', state);
}
function validateNow() {
  if (!ed) return;
  var gen = ++validateGen, cur;
  clearTimeout(validateTimer);
  try { cur = currentRule(); } catch (e) {
    if (e instanceof ClientError) { showErrors([e], view === 'form' ? currentRegSafe() : null); setCheck('bad', '1 problem'); return; }
    throw e;
  }
  var raw = cur.raw;
  if (!cur.rule.id && view === 'form') { var r = clone(cur.rule); raw = JSON.stringify(Object.assign({ id: 'new-rule' }, r)); }
  api('POST', '/api/rules/validate', raw).then(function (res) {
    if (gen !== validateGen || !ed) return;
    if (res.status === 200 && res.body.valid) {
      clearErrors(); $('summary').hidden = true;
      setCheck('ok', 'No problems found');
    } else if (res.body.error) {
      showErrors([res.body.error], cur.reg);
      setCheck('bad', '1 problem');
    } else setCheck('bad', 'Could not check: ' + errorText(res));
  }, function () { if (gen === validateGen) setCheck('', ''); });
}

/* ================= errors at the field ================= */
var errN = 0;
function clearErrors() {
  Array.prototype.forEach.call(document.querySelectorAll('#rule-form .field-error'), function (p) { p.remove(); });
  Array.prototype.forEach.call(document.querySelectorAll('#rule-form [aria-invalid="true"]'), function (x) {
    x.removeAttribute('aria-invalid');
    var d = x.getAttribute('data-desc');
    if (d) x.setAttribute('aria-describedby', d); else x.removeAttribute('aria-describedby');
    x.removeAttribute('data-desc');
  });
  $('json').removeAttribute('aria-invalid');
  $('json-error').textContent = '';
}
function lookup(reg, path) {
  var p = path;
  while (reg) {
    if (reg.has(p)) return reg.get(p);
    if (p === '') return null;
    var q = p.replace(/(\.[^.[\]]*|\[\d+\])$/, '');
    p = q === p ? '' : q;
  }
  return null;
}
function pickControl(entry, message) {
  if (/operator/.test(message) && entry.op) return entry.op;
  if (/unknown field|field name|attribute|property/.test(message) && entry.field) return entry.field;
  return entry.el;
}
function showErrors(errors, reg) {
  clearErrors();
  var first = null, summary = [];
  errors.forEach(function (e) {
    var path = e.path || '', msg = e.message || 'invalid';
    if (view === 'json') {
      $('json').setAttribute('aria-invalid', 'true');
      $('json-error').textContent = (path ? path + ': ' : '') + msg;
      summary.push({ path: path, message: msg, control: $('json') });
      return;
    }
    var entry = lookup(reg || new Map(), path);
    var control = entry ? pickControl(entry, msg) : null;
    if (!control || !control.isConnected) { summary.push({ path: path, message: msg }); return; }
    var box = control.closest('[data-errs]') || control.closest('.form-field');
    var slot = box && (box.querySelector(':scope > .errs') || box);
    var id = 'err-' + (++errN);
    var p = el('p', 'field-error', null, { id: id });
    p.appendChild(el('span', null, msg));
    if (path) p.appendChild(el('span', 'err-path mono', path));
    slot.appendChild(p);
    control.setAttribute('aria-invalid', 'true');
    var d = control.getAttribute('aria-describedby');
    if (d) control.setAttribute('data-desc', d);
    control.setAttribute('aria-describedby', (d ? d + ' ' : '') + id);
    summary.push({ path: path, message: msg, control: control });
    if (!first) first = control;
  });
  showSummary(summary);
  return first || (summary[0] && summary[0].control) || null;
}
function showSummary(items) {
  var s = $('summary');
  s.textContent = '';
  if (!items.length) { s.hidden = true; return; }
  items.forEach(function (it) {
    var p = el('p');
    p.appendChild(el('strong', null, 'Not valid: '));
    p.appendChild(el('span', null, (it.path ? it.path + ' — ' : '') + it.message));
    if (it.control) {
      var b = el('button', 'linkish', 'Go to the field', { type: 'button' });
      b.addEventListener('click', function () { it.control.focus(); });
      p.appendChild(b);
    }
    s.appendChild(p);
  });
  s.hidden = false;
}

/* ================= form ⇄ JSON ================= */
function setView(v, force, rule) {
  if (!force && v === view) return true;
  if (v === 'json') {
    var r = rule;
    if (!r) {
      try { r = currentRule().rule; } catch (e) {
        if (e instanceof ClientError) { var c = showErrors([e], currentRegSafe()); if (c) c.focus(); return false; }
        throw e;
      }
    }
    $('json').value = JSON.stringify(ed && ed.isNew ? r : withId(r, ed && ed.id), null, 2);
  } else if (view === 'json' && !force) {
    var parsed;
    try { parsed = currentRule().rule; } catch (e) {
      if (e instanceof ClientError) { showErrors([e], null); $('json').focus(); return false; }
      throw e;
    }
    if (!ed.isNew && parsed.id !== undefined && parsed.id !== ed.id) {
      showErrors([{ path: 'id', message: 'the id of a saved rule cannot change (it is “' + ed.id + '”)' }], null);
      return false;
    }
    var saved = { when: ed.when, unless: ed.unless, simple: ed.simple, containers: ed.containers, extra: ed.extra, enabledPresent: ed.enabledPresent, enabledOrig: ed.enabledOrig };
    if (ed.isNew) $('r-id').value = typeof parsed.id === 'string' ? parsed.id : '';
    fillForm(parsed);
    var ok = representable(parsed);
    if (ok !== true) {
      Object.keys(saved).forEach(function (k) { ed[k] = saved[k]; });
      renderConditions();
      showErrors([{ path: ok, message: 'the form has no control for this part; keep editing it as JSON' }], null);
      return false;
    }
  }
  view = v;
  $('rule-form').hidden = v !== 'form';
  $('json-pane').hidden = v !== 'json';
  $('view-form').setAttribute('aria-pressed', String(v === 'form'));
  $('view-json').setAttribute('aria-pressed', String(v === 'json'));
  clearErrors(); $('summary').hidden = true;
  if (!force) validateNow();
  return true;
}
function currentRegSafe() {
  var reg = new Map();
  try { buildRule(function (p, e) { if (!reg.has(p)) reg.set(p, e); }); } catch (e) { /* partial is fine */ }
  return reg;
}
$('view-form').addEventListener('click', function () { setView('form'); });
$('view-json').addEventListener('click', function () { setView('json'); });

/* ================= save, delete ================= */
function save() {
  if (!ed) return;
  clearTimeout(validateTimer);
  validateGen++;
  var cur;
  try { cur = currentRule(); } catch (e) {
    if (e instanceof ClientError) { var c = showErrors([e], currentRegSafe()); if (c) c.focus(); setCheck('bad', 'Not saved'); return; }
    throw e;
  }
  var id = ed.isNew ? (view === 'json' ? cur.rule.id : $('r-id').value.trim()) : ed.id;
  var localErr = null;
  if (ed.isNew) {
    if (!id) localErr = { path: 'id', message: 'required: give the rule an id' };
    else if (typeof id !== 'string' || !ID_RE.test(id)) localErr = { path: 'id', message: 'must be 1-64 characters of A-Z a-z 0-9 _ -' };
    else if (rules.some(function (r) { return r.id === id; })) localErr = { path: 'id', message: 'a rule with this id exists already; choose another id' };
  }
  if (localErr) { var lc = showErrors([localErr], cur.reg); if (lc) lc.focus(); setCheck('bad', 'Not saved'); return; }
  $('save').disabled = true;
  setCheck('pending', 'Saving…');
  api('PUT', '/api/rules/' + encodeURIComponent(id), cur.raw).then(function (res) {
    $('save').disabled = false;
    if (res.status === 200) {
      setCheck('ok', 'Saved as version ' + res.body.version);
      toast('Saved “' + id + '” as version ' + res.body.version + '. It applies at once.');
      var wasNew = ed.isNew;
      ed.saved = null;
      if (wasNew) { go('#/rule/' + encodeURIComponent(id)); }
      else reloadCurrent();
      loadRules();
      return;
    }
    if (res.body.error) {
      var c = showErrors([res.body.error], cur.reg);
      setCheck('bad', 'Not saved');
      if (c) c.focus();
    } else { setCheck('bad', 'Not saved'); toast('Not saved: ' + errorText(res)); }
  }, function () { $('save').disabled = false; setCheck('bad', 'Not saved'); });
}
$('save').addEventListener('click', save);
document.addEventListener('keydown', function (e) {
  if ((e.ctrlKey || e.metaKey) && e.key === 's' && ed && !$('editor-view').hidden) { e.preventDefault(); save(); }
});
function reloadCurrent() {
  var id = ed.id;
  return api('GET', '/api/rules/' + encodeURIComponent(id)).then(function (r) {
    if (r.status !== 200 || !ed || ed.id !== id) return;
    var keepView = view;
    loadIntoEditor(r.body.rule || {}, { id: id, version: r.body.version, by: r.body.by, at: r.body.at });
    if (keepView === 'json' && view !== 'json') setView('json');
    loadVersions();
  });
}
var deleteTimer = 0;
function resetDelete() { clearTimeout(deleteTimer); $('delete').textContent = 'Delete'; $('delete').removeAttribute('data-armed'); }
$('delete').addEventListener('click', function () {
  if (!ed || ed.isNew) return;
  var b = $('delete');
  if (!b.hasAttribute('data-armed')) {
    b.setAttribute('data-armed', '');
    b.textContent = 'Confirm delete';
    toast('Press “Confirm delete” to delete “' + ed.id + '”. Its history is kept.');
    deleteTimer = setTimeout(resetDelete, 5000);
    return;
  }
  resetDelete();
  var id = ed.id;
  api('DELETE', '/api/rules/' + encodeURIComponent(id)).then(function (r) {
    if (r.status !== 200) { toast('Not deleted: ' + errorText(r)); return; }
    toast('Deleted “' + id + '” (version ' + r.body.version + ').');
    ed = null;
    go('#/');
  }, function () {});
});

/* ================= version history ================= */
function loadVersions() {
  if (!ed || ed.isNew) return;
  var id = ed.id;
  api('GET', '/api/rules/' + encodeURIComponent(id) + '/versions').then(function (r) {
    if (!ed || ed.id !== id) return;
    var list = $('versions');
    list.textContent = '';
    if (r.status !== 200) { list.appendChild(el('li', 'muted', 'Could not load the history: ' + errorText(r))); return; }
    var vs = (r.body.versions || []).slice().reverse();
    var currentV = ed.meta.version;
    vs.forEach(function (v) {
      var li = el('li', 'version' + (v.version === currentV ? ' current' : ''), null, { 'data-version': String(v.version) });
      var head = el('div', 'v-head');
      head.appendChild(el('span', 'v-num', 'v' + v.version));
      var who = el('span', 'v-who');
      who.appendChild(el('span', null, (v.by || '?') + ' · ' + dateAndTime(v.at)));
      if (v.deleted) who.appendChild(el('span', 'tag deleted', 'deleted'));
      if (v.version === currentV) who.appendChild(el('span', 'tag current', 'current'));
      head.appendChild(who);
      if (!v.deleted) {
        var show = el('button', 'ghost small-btn', 'Show', { type: 'button', 'aria-expanded': 'false', 'aria-label': 'Show version ' + v.version });
        var pre = el('pre', 'v-json mono', JSON.stringify(v.rule, null, 2));
        pre.hidden = true;
        show.addEventListener('click', function () {
          pre.hidden = !pre.hidden; show.setAttribute('aria-expanded', String(!pre.hidden)); show.textContent = pre.hidden ? 'Show' : 'Hide';
        });
        head.appendChild(show);
        if (v.version !== currentV) {
          var rv = el('button', 'ghost small-btn', 'Revert', { type: 'button', 'aria-label': 'Revert to version ' + v.version });
          rv.addEventListener('click', function () { revert(v.version); });
          head.appendChild(rv);
        }
        li.appendChild(head);
        li.appendChild(pre);
      } else li.appendChild(head);
      list.appendChild(li);
    });
  }, function () {});
}
function revert(version) {
  if (!ed) return;
  var id = ed.id;
  api('POST', '/api/rules/' + encodeURIComponent(id) + '/revert', { version: version }).then(function (r) {
    if (r.status !== 200) { toast('Not reverted: ' + errorText(r)); return; }
    toast('Version ' + version + ' restored as version ' + r.body.version + '.');
    ed.saved = null;
    reloadCurrent();
    loadRules();
  }, function () {});
}

/* ================= dry run ================= */
var dryMode = 'visit';
function setDryMode(m) {
  dryMode = m;
  $('dry-mode-visit').setAttribute('aria-pressed', String(m === 'visit'));
  $('dry-mode-visitor').setAttribute('aria-pressed', String(m === 'visitor'));
  $('dry-visit').hidden = m !== 'visit'; $('dry-visitor').hidden = m !== 'visitor';
}
$('dry-mode-visit').addEventListener('click', function () { setDryMode('visit'); });
$('dry-mode-visitor').addEventListener('click', function () { setDryMode('visitor'); });
function addPageRow(url, at) {
  var n = $('dry-pages').children.length + 1;
  var tr = el('tr');
  var td = el('td');
  var u = el('input', 'mono dry-url', null, { 'aria-label': 'Page ' + n + ' URL or path', spellcheck: 'false', placeholder: '/pricing' });
  u.value = url || '';
  td.appendChild(u); tr.appendChild(td);
  td = el('td', 'num');
  var a = el('input', 'dry-at', null, { 'aria-label': 'Page ' + n + ': at second', inputmode: 'numeric' });
  a.value = at == null ? '' : String(at);
  td.appendChild(a); tr.appendChild(td);
  td = el('td');
  var rm = el('button', 'icon-btn', '×', { type: 'button', 'aria-label': 'Remove page ' + n });
  rm.addEventListener('click', function () {
    if ($('dry-pages').children.length > 1) { tr.remove(); var f = $('dry-pages').querySelector('input'); if (f) f.focus(); }
  });
  td.appendChild(rm); tr.appendChild(td);
  $('dry-pages').appendChild(tr);
  return u;
}
addPageRow('/', 0);
addPageRow('/pricing', 10);
$('dry-add-page').addEventListener('click', function () {
  var last = $('dry-pages').lastElementChild, at = last ? Number(last.querySelector('.dry-at').value) || 0 : 0;
  addPageRow('', at + 10).focus();
});
function numOr(v, d) { var t = String(v).trim(); return NUMRE.test(t) ? Number(t) : (t === '' ? d : t); }
$('dry-form').addEventListener('submit', function (e) {
  e.preventDefault();
  var out = $('dry-result'), body = {};
  out.textContent = '';
  if (dryMode === 'visitor') {
    var v = $('dry-visitor-id').value.trim();
    if (!v) { out.appendChild(el('p', 'error', 'Enter a visitor id (v_…).')); $('dry-visitor-id').focus(); return; }
    body.visitor = v;
  } else {
    var pages = Array.prototype.map.call($('dry-pages').children, function (tr) {
      var url = tr.querySelector('.dry-url').value.trim();
      if (url.charAt(0) === '/') url = location.origin + url;
      return { url: url, at: numOr(tr.querySelector('.dry-at').value, 0) };
    }).filter(function (p) { return p.url; });
    if (!pages.length) { out.appendChild(el('p', 'error', 'Add at least one page view.')); return; }
    body.visit = { pages: pages, until: numOr($('dry-until').value, pages[pages.length - 1].at),
      visits: numOr($('dry-visits').value, 1), lang: $('dry-lang').value.trim() || undefined,
      device: $('dry-device').value, agents_available: $('dry-agents').checked };
  }
  if (ed && $('dry-draft').checked) {
    var cur;
    try { cur = currentRule(); } catch (err) {
      out.appendChild(el('p', 'error', 'The draft is not valid JSON: ' + err.message));
      return;
    }
    var draft = clone(cur.rule);
    var draftId = ed.isNew ? (draft.id || 'draft') : ed.id;
    draft.id = draftId;
    body.rules = rules.filter(function (r) { return r.id !== draftId; }).map(function (r) { return withId(r.rule, r.id); }).concat([draft]);
  }
  $('dry-run').disabled = true;
  var seq = dryMode;
  api('POST', '/api/rules/test', body).then(function (r) {
    $('dry-run').disabled = false;
    renderDry(r, seq, body);
  }, function () { $('dry-run').disabled = false; });
});
function ruleName(id) {
  if (ed && ed.id === id) return $('r-name').value || id;
  var r = rules.filter(function (x) { return x.id === id; })[0];
  return (r && r.rule && r.rule.name) || id;
}
function renderDry(r, mode, body) {
  var out = $('dry-result');
  out.textContent = '';
  if (r.status !== 200) {
    var e = r.body.error || {};
    var m = /^(?:rules)?\[(\d+)\]\.?(.*)$/.exec(e.path || '');
    var where = m && body.rules ? 'rule “' + (body.rules[Number(m[1])] || {}).id + '”' + (m[2] ? ', ' + m[2] : '') : e.path;
    out.appendChild(el('p', 'error', (where ? where + ': ' : '') + (e.message || 'The server answered ' + r.status + '.')));
    return;
  }
  var f = r.body.fires;
  var head = el('p', 'dry-head ' + (f ? 'yes' : 'no'));
  if (f) {
    head.appendChild(el('strong', null, ruleName(f.rule)));
    head.appendChild(el('span', null, mode === 'visit' ? ' fires at ' + secs(f.at) : ' fires now'));
    head.setAttribute('data-rule', f.rule); head.setAttribute('data-at', String(f.at));
  } else {
    head.textContent = mode === 'visit' ? 'No rule fires by second ' + (body.visit.until) + '.' : 'No rule fires now.';
  }
  out.appendChild(head);
  var t = el('table', 'dry-table');
  var thead = el('thead'), hr = el('tr');
  ['Rule', 'Outcome', 'Why'].forEach(function (h) { hr.appendChild(el('th', null, h, { scope: 'col' })); });
  thead.appendChild(hr); t.appendChild(thead);
  var tb = el('tbody');
  (r.body.rules || []).forEach(function (x) {
    var tr = el('tr', null, null, { 'data-id': x.id });
    var td = el('td');
    td.appendChild(el('div', 'dry-rule', ruleName(x.id)));
    if (ruleName(x.id) !== x.id) td.appendChild(el('div', 'mono muted small', x.id));
    tr.appendChild(td);
    td = el('td');
    td.appendChild(el('span', 'outcome outcome-' + String(x.outcome).replace(/[^a-z]/g, ''), x.outcome));
    tr.appendChild(td);
    td = el('td', 'why');
    if (x.path) td.appendChild(el('div', 'mono small', x.path));
    if (x.detail) td.appendChild(el('div', null, x.detail));
    if (x.could_fire_at != null) td.appendChild(el('div', 'muted small', 'could fire at ' + secs(x.could_fire_at)));
    if (x.could_fire_at_ms != null) td.appendChild(el('div', 'muted small', 'could fire at ' + new Date(x.could_fire_at_ms).toLocaleString()));
    tr.appendChild(td);
    tb.appendChild(tr);
  });
  t.appendChild(tb);
  out.appendChild(t);
}
function secs(s) { return 'second ' + (Math.round(Number(s) * 10) / 10); }

/* ================= tz select ================= */
(function () {
  var tz = $('r-tz');
  tz.appendChild(el('option', null, '— none —', { value: '' }));
  TIMEZONES.forEach(function (z) { tz.appendChild(el('option', null, z, { value: z })); });
})();

/* ================= boot ================= */
if (sessionValue(TOKEN_KEY)) {
  // A reload keeps the session; a stale token gets 401 on the first call and leads back here.
  start();
} else showSignIn('');
