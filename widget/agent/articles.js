// @ts-check: type-checked by tsc from widget/jsconfig.json (meson test widget_types); no build step.
/* The agent panel's Help articles page (marketers and admins; docs/protocol.md, "Help articles"):
 * a site's articles, an article's form with the server's errors at their field, a preview built
 * from the blocks the server parsed (what visitors will see, and what it left out), versions
 * with revert, export. And the dashboard's self-service figures (GET /api/stats/help).
 * Text goes in with textContent only. */
import { $, el } from '../shared/dom.js';
import { errorText } from '../shared/api.js';
import { localValue } from '../shared/storage.js';
import { calendarDay, clockTime } from '../shared/time.js';
import { helpBlocks } from '../shared/help_blocks.js';

var SITE_KEY = 'beckon-articles-site';
var FIELDS = ['id', 'title', 'category', 'lang', 'state', 'body'];

/**
 * @param {(method: string, path: string, body?: any) => Promise<any>} api the panel's (shared/api.js)
 */
export function articlesPage(api) {
  var site = localValue(SITE_KEY) || 'demo';
  var editing = null;  // the id of the article in the form, or null for a new one
  var seq = 0;
  $('art-site').value = site;

  function base() { return '/api/help/' + encodeURIComponent(site); }
  function say(text) { $('art-error').textContent = text || ''; }
  function fieldErrors(path, message) {
    FIELDS.forEach(function (f) { $('art-err-' + f).textContent = ''; $('art-' + f).removeAttribute('aria-invalid'); });
    if (!path) return false;
    var field = FIELDS.indexOf(path) >= 0 ? path : null;
    if (!field) return false;
    $('art-err-' + field).textContent = message;
    $('art-' + field).setAttribute('aria-invalid', 'true');
    $('art-' + field).focus();
    return true;
  }

  function load() {
    var mine = ++seq;
    say('');
    api('GET', base() + '/articles').then(function (r) {
      if (mine !== seq) return;
      if (r.status !== 200) return say(r.status === 403 ? 'Only marketers and admins edit help articles.' : errorText(r));
      var rows = $('art-rows'); rows.textContent = '';
      r.body.articles.forEach(function (/** @type {any} */ a) {
        var tr = el('tr', null, null, { 'data-article': a.id });
        var th = el('th', null, null, { scope: 'row' });
        var open = el('button', 'who', a.title, { type: 'button' });
        open.addEventListener('click', function () { edit(a.id); });
        th.appendChild(open);
        tr.appendChild(th);
        [a.lang, a.category || '—', a.state, 'v' + a.version + ' · ' + (a.by || '') + ' · ' + calendarDay(a.at)]
          .forEach(function (v) { tr.appendChild(el('td', null, v)); });
        rows.appendChild(tr);
      });
      $('art-empty').hidden = r.body.articles.length > 0;
    }, function (e) { if (mine === seq) say(e.message); });
  }

  function fill(a) {
    editing = a ? a.id : null;
    $('art-id').value = a ? a.id : '';
    $('art-id').readOnly = !!a;
    $('art-title').value = a ? a.title : '';
    $('art-category').value = a ? a.category || '' : '';
    $('art-lang').value = a ? a.lang : 'en';
    $('art-state').value = a ? a.state : 'draft';
    $('art-body').value = a ? a.body : '';
    $('art-delete').hidden = !a;
    $('art-form').hidden = false;
    $('art-form-title').textContent = a ? 'Edit “' + a.title + '”' : 'New article';
    fieldErrors(null, '');
    preview(a ? { blocks: a.blocks, removed: a.removed } : null);
    versions(a ? a.id : null);
  }

  function edit(id) {
    say('');
    api('GET', base() + '/articles/' + encodeURIComponent(id)).then(function (r) {
      if (r.status !== 200) return say(errorText(r));
      fill(r.body);
      $('art-title').focus();
    }, function (e) { say(e.message); });
  }

  function article() {
    return { title: $('art-title').value, category: $('art-category').value, lang: $('art-lang').value,
             state: $('art-state').value, body: $('art-body').value };
  }

  /** @param {any} parsed {blocks, removed} from the server, or null */
  function preview(parsed) {
    var box = $('art-preview-body'), removed = $('art-removed');
    box.textContent = ''; removed.textContent = '';
    if (!parsed) return;
    box.appendChild(el('h3', null, $('art-title').value));
    helpBlocks(box, parsed.blocks);
    (parsed.removed || []).forEach(function (/** @type {string} */ what) { removed.appendChild(el('li', null, 'Left out: ' + what)); });
  }

  function versions(id) {
    var ol = $('art-versions'); ol.textContent = '';
    $('art-versions-box').hidden = !id;
    if (!id) return;
    api('GET', base() + '/articles/' + encodeURIComponent(id) + '/versions').then(function (r) {
      if (r.status !== 200) return;
      r.body.versions.slice().reverse().forEach(function (/** @type {any} */ v) {
        var li = el('li', null, null, { 'data-version': String(v.version) });
        li.appendChild(el('span', null, 'v' + v.version + ' · ' + v.by + ' · ' + calendarDay(v.at) + ' ' + clockTime(v.at) +
          (v.deleted ? ' · deleted' : ' · ' + v.article.state)));
        if (!v.deleted && v.version !== r.body.versions[r.body.versions.length - 1].version) {
          var b = el('button', 'ghost small', 'Revert to this', { type: 'button' });
          b.addEventListener('click', function () {
            api('POST', base() + '/articles/' + encodeURIComponent(id) + '/revert', { version: v.version }).then(function (x) {
              if (x.status !== 200) return say(errorText(x));
              edit(id); load();
            }, function (e) { say(e.message); });
          });
          li.appendChild(b);
        }
        ol.appendChild(li);
      });
    });
  }

  $('art-site-form').addEventListener('submit', function (/** @type {Event} */ e) {
    e.preventDefault();
    site = $('art-site').value.trim();
    localValue(SITE_KEY, site);
    $('art-form').hidden = true;
    load();
  });
  $('art-new').addEventListener('click', function () { fill(null); $('art-id').focus(); });
  $('art-preview-button').addEventListener('click', function () {
    api('POST', base() + '/preview', article()).then(function (r) {
      if (r.status !== 200) { if (!fieldErrors(r.body.error && r.body.error.path, errorText(r))) say(errorText(r)); return; }
      fieldErrors(null, ''); say('');
      preview(r.body);
    }, function (e) { say(e.message); });
  });
  $('art-form').addEventListener('submit', function (/** @type {Event} */ e) {
    e.preventDefault();
    var id = editing || $('art-id').value.trim();
    if (!/^[A-Za-z0-9_-]{1,64}$/.test(id)) { fieldErrors('id', 'Letters, digits, - and _ (at most 64).'); return; }
    $('art-save').disabled = true;
    api('PUT', base() + '/articles/' + encodeURIComponent(id), article()).then(function (r) {
      if (r.status !== 200) { if (!fieldErrors(r.body.error && r.body.error.path, errorText(r))) say(errorText(r)); return; }
      say('');
      $('art-status').textContent = 'Saved as version ' + r.body.version +
        (r.body.removed && r.body.removed.length ? ' (left out: ' + r.body.removed.join(', ') + ')' : '') + '.';
      edit(id); load();
    }, function (err) { say(err.message); }).then(function () { $('art-save').disabled = false; });
  });
  $('art-delete').addEventListener('click', function () {
    if (!editing || !confirm('Delete this article? Its versions are kept and it can be reverted.')) return;
    api('DELETE', base() + '/articles/' + encodeURIComponent(editing)).then(function (r) {
      if (r.status !== 200) return say(errorText(r));
      $('art-form').hidden = true; load();
    }, function (e) { say(e.message); });
  });
  $('art-export').addEventListener('click', function () {
    api('GET', base() + '/export').then(function (r) {
      if (r.status !== 200) return say(errorText(r));
      var blob = new Blob([JSON.stringify(r.body, null, 1)], { type: 'application/json' });
      var a = el('a', null, null, { href: URL.createObjectURL(blob), download: 'beckon-help-' + site + '.json' });
      document.body.appendChild(a); a.click(); a.remove();
      setTimeout(function () { URL.revokeObjectURL(a.href); }, 10000);
    }, function (e) { say(e.message); });
  });

  return { load: load };
}

/**
 * The dashboard's self-service figures for its range (query: "from=...&to=...").
 * @param {(method: string, path: string, body?: any) => Promise<any>} api
 * @param {string} query
 */
export function loadHelpStats(api, query) {
  api('GET', '/api/stats/help?' + query).then(function (r) {
    var dl = $('dash-help-cards'), ol = $('dash-help-missing');
    dl.textContent = ''; ol.textContent = '';
    if (r.status !== 200) { $('dash-help-error').textContent = errorText(r); return; }
    $('dash-help-error').textContent = '';
    var t = r.body.totals;
    [['searches', 'Searches', t.no_result + ' found nothing'], ['views', 'Articles viewed', t.suggested + ' suggestions shown'],
     ['helped', 'Helped', t.not_helped + ' did not help'], ['chats_avoided', 'Chats avoided', 'helped, no chat within 30 min']]
      .forEach(function (c) {
        var box = el('div', 'card', null, { 'data-figure': c[0] });
        box.appendChild(el('dt', null, c[1]));
        box.appendChild(el('dd', 'value', String(t[c[0]]), { 'data-value': String(t[c[0]]) }));
        box.appendChild(el('dd', 'sub', c[2]));
        dl.appendChild(box);
      });
    r.body.no_result_queries.forEach(function (/** @type {any} */ q) {
      ol.appendChild(el('li', null, '“' + q.query + '” (' + q.lang + ', ' + q.site + ') × ' + q.count));
    });
    $('dash-help-missing-empty').hidden = r.body.no_result_queries.length > 0;
  }, function (e) { $('dash-help-error').textContent = e.message; });
}
