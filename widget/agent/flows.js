// @ts-check: type-checked by tsc from widget/jsconfig.json (meson test widget_types); no build step.
/* The agent panel's Flows page (docs/flows.md): each site's quick-reply flow for marketers and
 * admins, over REST (/api/flows). A flow is edited as a form or as JSON; "Check" asks the server
 * (POST /api/flows/validate), "Save" stores a new version (PUT /api/flows/{site}), and the first
 * problem the server names is shown at the field its `path` names (steps.returns.buttons[1].next),
 * else with the JSON. Older versions can be looked at and saved again (revert).
 * Also what the chat view shows of a flow: the path a visitor took, and a bot message's offer.
 * Everything is built with textContent, never innerHTML. */
import { $, el } from '../shared/dom.js';
import { errorText } from '../shared/api.js';
import { dayAndTime } from '../shared/time.js';
import { toast } from '../shared/toast.js';

/** @typedef {(method: string, path: string, body?: any) => Promise<import('../shared/api.js').ApiReply>} Api */

/** @type {Api} */
var api;
var flows = [];          // GET /api/flows: [{site, version, by, at, flow}]
var ed = null;           // the flow being edited: {site, version, doc, steps: [{id, step}], view}
var reg = new Map();     // JSON path -> the form control that edits it (rebuilt with the form)
var KINDS = [['buttons', 'Buttons (more choices)'], ['end', 'An answer (the flow ends)'], ['handoff', 'Hand off to a person']];

/**
 * Wires the page; the panel calls show() when the Flows view opens.
 * @param {{ api: Api }} options
 */
export function initFlows(options) {
  api = options.api;
  $('flow-new').addEventListener('submit', function (/** @type {Event} */ e) {
    e.preventDefault();
    var site = $('flow-new-site').value.trim();
    if (!/^[A-Za-z0-9_.-]{1,64}$/.test(site)) { $('flow-new-error').textContent = 'A site id: letters, digits, “.”, “_” or “-”.'; return; }
    $('flow-new-error').textContent = '';
    var known = flows.filter(function (f) { return f.site === site; })[0];
    edit(site, known ? known.version : 0, known ? known.flow : starter());
  });
  $('flow-view-form').addEventListener('click', function () { setView('form'); });
  $('flow-view-json').addEventListener('click', function () { setView('json'); });
  $('flow-check').addEventListener('click', function () { check(false); });
  $('flow-editor').addEventListener('submit', function (/** @type {Event} */ e) { e.preventDefault(); check(true); });
  $('flow-close').addEventListener('click', function () { ed = null; renderEditor(); renderList(); });
}

/** The Flows view was opened: load the list. */
export function showFlows() {
  api('GET', '/api/flows').then(function (r) {
    if (r.status !== 200) { $('flows-error').textContent = 'Flows cannot be listed: ' + errorText(r); return; }
    $('flows-error').textContent = '';
    flows = r.body.flows || [];
    renderList();
  }, function (e) { $('flows-error').textContent = e.message; });
}

// A new site's flow starts from a small working example.
function starter() {
  return { name: 'Help', enabled: true, start: 'greeting', steps: {
    greeting: { text: 'Hi! What can we help with?', buttons: [{ id: 'person', label: 'Talk to a person', next: 'person' }] },
    person: { text: 'Connecting you with a person…', handoff: true } } };
}

function renderList() {
  var ul = $('flows-list'); ul.textContent = '';
  flows.slice().sort(function (a, b) { return a.site.localeCompare(b.site); }).forEach(function (f) {
    var li = el('li', null, null, { 'data-site': f.site, 'aria-current': String(!!ed && ed.site === f.site) });
    var about = el('div', 'flow-about');
    about.appendChild(el('b', null, f.site));
    about.appendChild(el('span', null, (f.flow && f.flow.name) || 'Flow'));
    about.appendChild(el('span', 'tag' + (f.flow && f.flow.enabled === false ? ' off' : ''), f.flow && f.flow.enabled === false ? 'disabled' : 'enabled'));
    about.appendChild(el('span', 'muted small', 'version ' + f.version + ' · ' + (f.by || '?') + ' · ' + dayAndTime(f.at)));
    li.appendChild(about);
    var b = el('button', 'ghost', 'Edit', { type: 'button', 'aria-label': 'Edit the flow of ' + f.site });
    b.addEventListener('click', function () { edit(f.site, f.version, f.flow); });
    li.appendChild(b);
    ul.appendChild(li);
  });
  $('flows-empty').hidden = flows.length > 0;
}

/* ---------- the editor ---------- */
/**
 * @param {string} site
 * @param {number} version 0: not saved yet
 * @param {any} doc the flow document
 */
function edit(site, version, doc) {
  ed = { site: site, version: version, doc: JSON.parse(JSON.stringify(doc || {})), view: 'form', steps: [] };
  fromDoc();
  renderEditor();
  renderList();
  loadVersions();
  $('ff-name').focus();
}
// The steps, in order, as the form edits them (an id may be renamed); the rest stays in ed.doc.
function fromDoc() {
  var steps = ed.doc.steps && typeof ed.doc.steps === 'object' && !Array.isArray(ed.doc.steps) ? ed.doc.steps : {};
  ed.steps = Object.keys(steps).map(function (id) { return { id: id, step: steps[id] && typeof steps[id] === 'object' ? steps[id] : {} }; });
}
/** The document the form shows: ed.doc with its steps from the form, in their order. */
function toDoc() {
  /** @type {Record<string, any>} */
  var steps = {};
  ed.steps.forEach(function (s) { steps[s.id] = s.step; });
  ed.doc.steps = steps;
  return ed.doc;
}

function renderEditor() {
  $('flow-editor').hidden = !ed;
  $('flows-list-box').hidden = !!ed && window.matchMedia('(max-width: 700px)').matches;
  if (!ed) return;
  $('flow-title').textContent = 'Flow for ' + ed.site + (ed.version ? ' · version ' + ed.version : ' · not saved yet');
  $('flow-view-form').setAttribute('aria-pressed', String(ed.view === 'form'));
  $('flow-view-json').setAttribute('aria-pressed', String(ed.view === 'json'));
  $('flow-form').hidden = ed.view !== 'form';
  $('flow-json-box').hidden = ed.view !== 'json';
  if (ed.view === 'json') $('flow-json').value = JSON.stringify(toDoc(), null, 2);
  else renderForm();
  clearErrors();
}

/**
 * @param {'form' | 'json'} v
 */
function setView(v) {
  if (!ed || ed.view === v) return;
  if (v === 'form') {
    var doc = parseJson();
    if (!doc) return;
    ed.doc = doc;
    fromDoc();
  } else toDoc();
  ed.view = v;
  renderEditor();
}
function parseJson() {
  var doc;
  try { doc = JSON.parse($('flow-json').value); } catch (e) {
    showError({ path: '', message: 'invalid JSON: ' + (e instanceof Error ? e.message : String(e)) });
    return null;
  }
  if (!doc || typeof doc !== 'object' || Array.isArray(doc)) { showError({ path: '', message: 'a flow is a JSON object: { … }' }); return null; }
  return doc;
}

/**
 * A labelled control in the form, registered under its JSON path.
 * @param {Element} parent
 * @param {string} label
 * @param {string} path
 * @param {any} control
 */
function field(parent, label, path, control) {
  var id = 'ff-' + path.replace(/[^A-Za-z0-9_-]/g, '_');
  control.id = id;
  var box = el('div', 'ffield' + (control.type === 'checkbox' ? ' check' : ''));
  var l = el('label', null, label, { for: id });
  if (control.type === 'checkbox') { box.appendChild(control); box.appendChild(l); } else { box.appendChild(l); box.appendChild(control); }
  parent.appendChild(box);
  reg.set(path, control);
  return control;
}
/**
 * A text input or textarea bound to obj[key] (an empty one removes the key when optional).
 * @param {any} obj
 * @param {string} key
 * @param {{ area?: boolean, optional?: boolean, list?: string, max?: number }} [o]
 */
function textOf(obj, key, o) {
  o = o || {};
  var input = el(o.area ? 'textarea' : 'input', null, null, { rows: o.area ? '2' : null, list: o.list || null, maxlength: o.max ? String(o.max) : null });
  input.value = obj[key] == null ? '' : String(obj[key]);
  input.addEventListener('input', function () {
    if (o.optional && input.value === '') delete obj[key]; else obj[key] = input.value;
  });
  return input;
}

function renderForm() {
  reg = new Map();
  var doc = ed.doc, form = $('flow-form-fields');
  form.textContent = '';
  var top = el('div', 'fgrid');
  field(top, 'Name (for the editor)', 'name', textOf(doc, 'name', { optional: true, max: 200 }));
  var on = el('input', null, null, { type: 'checkbox' });
  on.checked = doc.enabled !== false;
  on.addEventListener('change', function () { doc.enabled = on.checked; });
  field(top, 'Enabled: visitors get this flow', 'enabled', on);
  field(top, 'First step', 'start', textOf(doc, 'start', { list: 'flow-step-ids', max: 64 }));
  form.appendChild(top);
  var ids = el('datalist', null, null, { id: 'flow-step-ids' });
  ed.steps.forEach(function (s) { ids.appendChild(el('option', null, null, { value: s.id })); });
  form.appendChild(ids);

  ed.steps.forEach(function (s, i) { form.appendChild(stepBox(s, i)); });
  var add = el('button', 'ghost', 'Add a step', { type: 'button' });
  add.addEventListener('click', function () {
    var n = ed.steps.length + 1;
    while (ed.steps.some(function (x) { return x.id === 'step' + n; })) n++;
    ed.steps.push({ id: 'step' + n, step: { text: '', end: true } });
    renderForm();
    reg.get('steps.step' + n + '.text').focus();
  });
  form.appendChild(add);
  reg.set('steps', add);

  var closed = doc.closed && typeof doc.closed === 'object' ? doc.closed : null;
  var fs = el('fieldset', 'fstep');
  fs.appendChild(el('legend', null, 'Outside business hours'));
  var want = el('input', null, null, { type: 'checkbox' });
  want.checked = !!closed;
  want.addEventListener('change', function () {
    if (want.checked) doc.closed = { text: 'We are closed now. Leave your email and we will write to you.', collect_email: true };
    else delete doc.closed;
    renderForm();
  });
  field(fs, 'Ask for an email at a hand-off outside hours', 'closed', want);
  if (closed) {
    field(fs, 'Text', 'closed.text', textOf(closed, 'text', { area: true, max: 1000 }));
    var mail = el('input', null, null, { type: 'checkbox' });
    mail.checked = closed.collect_email !== false;
    mail.addEventListener('change', function () { closed.collect_email = mail.checked; });
    field(fs, 'Collect the email (else the chat is queued as usual)', 'closed.collect_email', mail);
    field(fs, 'Thanks (after the email)', 'closed.thanks', textOf(closed, 'thanks', { area: true, optional: true, max: 1000 }));
  }
  form.appendChild(fs);
}

/**
 * One step's fieldset: its id, text, article, link, and what follows (buttons, end, hand-off).
 * @param {{ id: string, step: any }} s
 * @param {number} index
 */
function stepBox(s, index) {
  var p = 'steps.' + s.id, step = s.step;
  var fs = el('fieldset', 'fstep', null, { 'data-step': s.id });
  fs.appendChild(el('legend', null, 'Step ' + (index + 1) + (ed.doc.start === s.id ? ' (first)' : '')));
  var grid = el('div', 'fgrid');
  var idInput = el('input', null, s.id, { maxlength: '64', spellcheck: 'false' });
  idInput.value = s.id;
  idInput.addEventListener('change', function () {
    var was = s.id, now = idInput.value.trim();
    if (!now || now === was) { idInput.value = was; return; }
    s.id = now;
    if (ed.doc.start === was) ed.doc.start = now;
    ed.steps.forEach(function (x) { (x.step.buttons || []).forEach(function (/** @type {any} */ b) { if (b.next === was) b.next = now; }); });
    renderForm();
  });
  field(grid, 'Step id', p, idInput);
  field(grid, 'Text the bot says', p + '.text', textOf(step, 'text', { area: true, max: 1000 }));
  field(grid, 'Article id (optional)', p + '.article', textOf(step, 'article', { optional: true }));
  var link = step.link && typeof step.link === 'object' ? step.link : {};
  var url = textOf(link, 'url'), label = textOf(link, 'label');
  [url, label].forEach(function (input) {
    input.addEventListener('input', function () {
      if (!link.url && !link.label) delete step.link; else step.link = link;
    });
  });
  field(grid, 'Link address (optional, https://…)', p + '.link.url', url);
  reg.set(p + '.link', url);
  field(grid, 'Link text', p + '.link.label', label);
  var kind = el('select');
  KINDS.forEach(function (k) { kind.appendChild(el('option', null, k[1], { value: k[0] })); });
  kind.value = step.handoff ? 'handoff' : step.end ? 'end' : 'buttons';
  kind.addEventListener('change', function () {
    delete step.buttons; delete step.end; delete step.handoff;
    if (kind.value === 'buttons') step.buttons = [{ id: 'b1', label: '', next: '' }];
    else step[kind.value] = true;
    renderForm();
  });
  field(grid, 'Then', p + '.buttons', kind);
  reg.set(p + '.end', kind); reg.set(p + '.handoff', kind);
  fs.appendChild(grid);

  if (Array.isArray(step.buttons)) {
    var list = el('ol', 'fbuttons', null, { 'aria-label': 'Buttons of step ' + s.id });
    step.buttons.forEach(function (/** @type {any} */ b, /** @type {number} */ i) {
      var bp = p + '.buttons[' + i + ']', li = el('li', 'fgrid');
      field(li, 'Button label', bp + '.label', textOf(b, 'label', { max: 60 }));
      reg.set(bp, reg.get(bp + '.label'));
      field(li, 'Leads to step', bp + '.next', textOf(b, 'next', { list: 'flow-step-ids', max: 64 }));
      field(li, 'Button id', bp + '.id', textOf(b, 'id', { max: 32 }));
      var rm = el('button', 'ghost small-btn', 'Remove', { type: 'button', 'aria-label': 'Remove button ' + (i + 1) + ' of step ' + s.id });
      rm.addEventListener('click', function () { step.buttons.splice(i, 1); renderForm(); });
      li.appendChild(rm);
      list.appendChild(li);
    });
    fs.appendChild(list);
    var addB = el('button', 'ghost', 'Add a button', { type: 'button' });
    addB.addEventListener('click', function () {
      var n = step.buttons.length + 1;
      while (step.buttons.some(function (/** @type {any} */ x) { return x.id === 'b' + n; })) n++;
      step.buttons.push({ id: 'b' + n, label: '', next: '' });
      renderForm();
      reg.get(p + '.buttons[' + (step.buttons.length - 1) + '].label').focus();
    });
    fs.appendChild(addB);
  }
  var rmStep = el('button', 'danger small-btn', 'Remove this step', { type: 'button' });
  rmStep.addEventListener('click', function () { ed.steps.splice(index, 1); renderForm(); });
  fs.appendChild(rmStep);
  return fs;
}

/* ---------- check and save: the server's first problem at its field ---------- */
var checking = 0;
/**
 * @param {boolean} save PUT it when it is valid (the PUT checks again)
 */
function check(save) {
  if (!ed) return;
  var doc = ed.view === 'json' ? parseJson() : toDoc();
  if (!doc) return;
  var site = ed.site, seq = ++checking;
  $('flow-status').textContent = save ? 'Saving…' : 'Checking…';
  var done = function (/** @type {import('../shared/api.js').ApiReply} */ r) {
    if (seq !== checking || !ed) return;
    $('flow-status').textContent = '';
    if (r.status === 400 && r.body.error) { showError(r.body.error); return; }
    if (r.status !== 200) { showError({ path: '', message: errorText(r) }); return; }
    clearErrors();
    if (!save) { $('flow-status').textContent = 'No problems found.'; return; }
    ed.version = r.body.version;
    $('flow-status').textContent = 'Saved as version ' + r.body.version + '.';
    $('flow-title').textContent = 'Flow for ' + site + ' · version ' + ed.version;
    toast('Flow for ' + site + ' saved.');
    showFlows();
    loadVersions();
  };
  var fail = function (/** @type {any} */ e) { if (seq === checking) $('flow-status').textContent = e.message; };
  if (save) api('PUT', '/api/flows/' + encodeURIComponent(site), doc).then(done, fail);
  else api('POST', '/api/flows/validate', doc).then(done, fail);
}

function clearErrors() {
  document.querySelectorAll('#flow-editor .field-error').forEach(function (n) { n.remove(); });
  document.querySelectorAll('#flow-editor [aria-invalid="true"]').forEach(function (n) {
    n.removeAttribute('aria-invalid'); n.removeAttribute('aria-describedby');
  });
  $('flow-summary').textContent = '';
  $('flow-summary').hidden = true;
}
// The control of the path, or of the nearest path above it that the form has.
/** @param {string} path */
function controlOf(path) {
  var p = path;
  while (p) {
    if (reg.has(p)) return reg.get(p);
    var up = p.replace(/(\.[^.[\]]*|\[\d+\])$/, '');
    p = up === p ? '' : up;
  }
  return null;
}
/**
 * @param {{ path?: string, message?: string }} error
 */
function showError(error) {
  clearErrors();
  var path = error.path || '', message = error.message || 'invalid';
  var control = ed && ed.view === 'form' ? controlOf(path) : $('flow-json');
  var summary = $('flow-summary');
  summary.appendChild(el('strong', null, 'Not saved: '));
  summary.appendChild(el('span', null, (path ? path + ': ' : '') + message));
  summary.hidden = false;
  if (!control || !control.isConnected) return;
  var note = el('p', 'field-error', null, { id: 'flow-error-at' });
  note.appendChild(el('span', null, message));
  if (path) note.appendChild(el('span', 'err-path mono', path));
  (control.closest('.ffield') || control.parentNode).appendChild(note);
  control.setAttribute('aria-invalid', 'true');
  control.setAttribute('aria-describedby', 'flow-error-at');
  control.focus();
}

/* ---------- versions and revert ---------- */
function loadVersions() {
  var ul = $('flow-versions'); ul.textContent = '';
  if (!ed || !ed.version) { ul.appendChild(el('li', 'muted', 'Not saved yet.')); return; }
  var site = ed.site;
  api('GET', '/api/flows/' + encodeURIComponent(site) + '/versions').then(function (r) {
    if (!ed || ed.site !== site) return;
    ul.textContent = '';
    if (r.status !== 200) { ul.appendChild(el('li', 'error', errorText(r))); return; }
    (r.body.versions || []).slice().reverse().forEach(function (/** @type {any} */ v) {
      var li = el('li', null, null, { 'data-version': String(v.version) });
      li.appendChild(el('span', null, 'Version ' + v.version + (v.deleted ? ' (deleted)' : '') + ' · ' + (v.by || '?') + ' · ' + dayAndTime(v.at)));
      if (v.version === ed.version) li.appendChild(el('span', 'tag', 'current'));
      else if (!v.deleted) {
        var b = el('button', 'ghost small-btn', 'Revert to this', { type: 'button', 'aria-label': 'Revert to version ' + v.version });
        b.addEventListener('click', function () { revert(site, v.version); });
        li.appendChild(b);
      }
      ul.appendChild(li);
    });
  }, function () { /* api.js said why */ });
}
/**
 * @param {string} site
 * @param {number} version
 */
function revert(site, version) {
  api('POST', '/api/flows/' + encodeURIComponent(site) + '/revert', { version: version }).then(function (r) {
    if (r.status !== 200) { toast('Not reverted: ' + errorText(r)); return; }
    toast('Version ' + version + ' saved again as version ' + r.body.version + '.');
    edit(site, r.body.version, r.body.flow);
    showFlows();
  }, function () { /* api.js said why */ });
}

/* ---------- in the chat view ---------- */
/**
 * The labels a visitor chose, in order: queue_add's `flow`, else the choices in the history
 * (a choice is the visitor's message with the cmid choose:MESSAGE).
 * @param {any} c the panel's conversation record
 * @param {any[]} messages its messages, in order
 * @returns {string[]}
 */
export function flowPath(c, messages) {
  if (c.flow && c.flow.length) return c.flow;
  return messages.filter(function (m) { return m.from === 'visitor' && /^choose:/.test(m.cmid || ''); })
    .map(function (m) { return m.text; });
}

/**
 * What a bot message offered (its buttons, article, link, email request), under its text.
 * @param {any} flow the message's `flow`
 * @returns {HTMLElement | null}
 */
export function flowOffer(flow) {
  if (!flow || typeof flow !== 'object') return null;
  var box = el('div', 'flow-offer');
  if (Array.isArray(flow.buttons) && flow.buttons.length) {
    var ul = el('ul', 'flow-choices', null, { 'aria-label': 'Buttons offered' });
    flow.buttons.forEach(function (/** @type {any} */ b) { ul.appendChild(el('li', null, b.label)); });
    box.appendChild(ul);
  }
  if (flow.article) box.appendChild(el('span', 'muted small', 'Article: ' + flow.article));
  if (flow.link && /^https?:\/\//i.test(flow.link.url || '')) {
    box.appendChild(el('a', 'small', flow.link.label || flow.link.url, { href: flow.link.url, target: '_blank', rel: 'noopener noreferrer' }));
  }
  if (flow.email) box.appendChild(el('span', 'muted small', 'Asked for an email'));
  return box.childNodes.length ? box : null;
}
