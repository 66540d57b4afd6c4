/*! Beckon visitor widget: help articles (docs/widget.md, "Help articles"). A classic script that
 * beckon.js loads from its own host once the chat opens, so that the first paint carries none
 * of it. It adds a Help tab (search as you type, categories, an article, "Did this help?") and
 * the suggestions above the composer: while the visitor types the first message, and after the
 * automatic acknowledgement while the chat waits in the queue.
 * It is handed the widget's internals by window.BeckonHelp(kit), as beckon.js hands them to each
 * script it loads: it uses kit.root (the shadow root), kit.lang and kit.send (a request, its
 * reply's callback second). Articles
 * arrive from the server as a whitelist of blocks (server/help/help_markdown.h) and are built
 * here with createElement and textContent: nothing is ever parsed as HTML. The helper it shares
 * is a verbatim copy of widget/shared/ (checked: tests/browser/shared_copies.mjs). */
(function () {
  'use strict';

  var STR = {
    en: {
      help: 'Help', chat: 'Back to chat', search: 'Search the help articles', searching: 'Searching…',
      none: 'No articles found. Ask us in the chat!', all: 'All articles', back: 'Back',
      helped_q: 'Did this help?', yes: 'Yes', no: 'No', thanks: 'Thank you! Glad it helped.',
      sorry: 'Sorry about that. Write to us in the chat and we will help.', suggested: 'These articles may answer your question:',
      waiting: 'While you wait, these may help:', ask: 'Ask us in the chat'
    },
    da: {
      help: 'Hjælp', chat: 'Tilbage til chatten', search: 'Søg i hjælpeartiklerne', searching: 'Søger…',
      none: 'Ingen artikler fundet. Spørg os i chatten!', all: 'Alle artikler', back: 'Tilbage',
      helped_q: 'Hjalp det?', yes: 'Ja', no: 'Nej', thanks: 'Tak! Godt, det hjalp.',
      sorry: 'Det er vi kede af. Skriv til os i chatten, så hjælper vi.', suggested: 'Disse artikler kan måske besvare dit spørgsmål:',
      waiting: 'Mens du venter, kan disse måske hjælpe:', ask: 'Spørg os i chatten'
    },
    nb: {
      help: 'Hjelp', chat: 'Tilbake til chatten', search: 'Søk i hjelpeartiklene', searching: 'Søker…',
      none: 'Fant ingen artikler. Spør oss i chatten!', all: 'Alle artikler', back: 'Tilbake',
      helped_q: 'Hjalp dette?', yes: 'Ja', no: 'Nei', thanks: 'Takk! Fint at det hjalp.',
      sorry: 'Det var leit. Skriv til oss i chatten, så hjelper vi.', suggested: 'Disse artiklene kan kanskje svare på spørsmålet ditt:',
      waiting: 'Mens du venter, kan disse kanskje hjelpe:', ask: 'Spør oss i chatten'
    }
  };
  var TYPING_DELAY = 250;     // ms after the last key before a search goes (the server allows 5 a second)
  var SUGGEST_FROM = 8;       // characters typed before suggestions are looked for

  /* ---------- verbatim copies of widget/shared/ functions (checked: tests/browser/shared_copies.mjs) ---------- */
  function el(tag, className, text, attributes) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text != null) node.textContent = text;
    for (var name in attributes) {
      var value = attributes[name];
      if (value != null) node.setAttribute(name, value);
    }
    return node;
  }

  function helpInlines(parent, items) {
    (items || []).forEach(function (item) {
      if (typeof item === 'string') return parent.append(item);
      var node = null;
      if (item.t === 'em' || item.t === 'strong') {
        node = el(item.t);
        helpInlines(node, item.c);
      } else if (item.t === 'code') {
        node = el('code', null, item.text);
      } else if (item.t === 'br') {
        node = el('br');
      } else if (item.t === 'a' && /^https?:\/\//i.test(item.href)) {
        node = el('a', null, null, { href: item.href, target: '_blank', rel: 'noopener noreferrer nofollow' });
        helpInlines(node, item.c);
      } else if (item.t === 'img' && /^(\/(?!\/)|https?:\/\/)/i.test(item.src)) {
        node = el('img', null, null, { src: item.src, alt: item.alt || '', loading: 'lazy' });
      }
      if (node) parent.append(node);
    });
  }

  function helpBlocks(parent, blocks) {
    (blocks || []).forEach(function (block) {
      var node = null;
      if (block.t === 'h') {
        node = el(block.level <= 2 ? 'h4' : 'h5');
        helpInlines(node, block.c);
      } else if (block.t === 'p') {
        node = el('p');
        helpInlines(node, block.c);
      } else if (block.t === 'pre') {
        node = el('pre', null, block.text);
      } else if (block.t === 'hr') {
        node = el('hr');
      } else if (block.t === 'ul' || block.t === 'ol') {
        var list = el(block.t, null, null, block.t === 'ol' && block.start !== 1 ? { start: String(block.start) } : {});
        (block.items || []).forEach(function (/** @type {any[]} */ item) {
          var li = el('li');
          helpBlocks(li, item);
          list.append(li);
        });
        node = list;
      }
      if (node) parent.append(node);
    });
  }

  var CSS = [
    '.help-tab{color:var(--accent-text);font-size:12.5px;font-weight:600;border:1px solid rgba(255,255,255,.5);border-radius:8px;padding:4px 10px}',
    '.help-tab:hover{background:rgba(255,255,255,.15)}',
    '.help{flex:1;display:flex;flex-direction:column;min-height:0}.window.helping>:not(header):not(.help){display:none!important}',
    '.help-search{margin:12px 14px 6px;border:1px solid var(--line);border-radius:10px;padding:8px 12px;background:var(--bg)}',
    '.help-body{flex:1;overflow-y:auto;padding:4px 14px 14px;display:flex;flex-direction:column;gap:8px}',
    '.help-categories{display:flex;flex-wrap:wrap;gap:6px}',
    '.help-categories button{border:1px solid var(--line);border-radius:14px;padding:3px 10px;font-size:12.5px}',
    '.help-categories button[aria-pressed=true]{background:var(--accent);color:var(--accent-text);border-color:var(--accent)}',
    '.help-result{display:block;width:100%;text-align:left;border:1px solid var(--line);border-radius:10px;padding:8px 10px}',
    '.help-result:hover{border-color:var(--accent)}.help-result b{display:block;font-weight:650}',
    '.help-result span{display:block;color:var(--muted);font-size:12.5px;overflow:hidden;text-overflow:ellipsis;white-space:nowrap}',
    '.help-empty{color:var(--muted);font-size:12.5px;text-align:center;padding:12px}',
    '.help-article h3{font-size:17px;font-weight:700;margin:4px 0 6px}.help-article h4{font-size:15px;font-weight:650;margin:8px 0 2px}',
    '.help-article p,.help-article li{margin:4px 0}.help-article ul,.help-article ol{padding-left:20px}',
    '.help-article pre{background:var(--bubble);border-radius:8px;padding:8px;overflow-x:auto;white-space:pre-wrap}',
    '.help-article code{background:var(--bubble);border-radius:4px;padding:0 3px;font-family:ui-monospace,monospace}',
    '.help-article em{font-style:italic}.help-article strong{font-weight:700}.help-article a{color:var(--accent);text-decoration:underline}',
    '.help-article img{max-width:100%;border-radius:8px}.help-article hr{border:0;border-top:1px solid var(--line);margin:8px 0}',
    '.help-back{color:var(--accent);font-weight:600;align-self:flex-start}',
    '.help-feedback{border-top:1px solid var(--line);padding-top:10px;display:flex;gap:8px;align-items:center;flex-wrap:wrap}',
    '.help-feedback button{border:1px solid var(--line);border-radius:8px;padding:4px 14px;font-weight:600}',
    '.help-feedback button:hover{border-color:var(--accent)}',
    '.suggestions{border-top:1px solid var(--line);padding:8px 12px 0;display:flex;flex-direction:column;gap:6px}',
    '.suggestions p{color:var(--muted);font-size:12.5px}',
    '.suggestions .help-result{padding:6px 10px}'
  ].join('');

  window.BeckonHelp = function (kit) {
    delete window.BeckonHelp;
    var root = kit.root, lang = STR[kit.lang] ? kit.lang : 'en', send = kit.send;
    var win = root.querySelector('.window'), head = win.querySelector('header'), log = root.querySelector('.log');
    var form = root.querySelector('form.composer'), input = root.querySelector('#bk-input');
    function t(k) { return STR[lang][k]; }

    if (root.adoptedStyleSheets) {
      var sheet = new CSSStyleSheet();
      sheet.replaceSync(CSS);
      root.adoptedStyleSheets = root.adoptedStyleSheets.concat([sheet]);
    } else {
      root.append(el('style', null, CSS));
    }

    /* ---------- the Help tab: a view in place of the chat's log and composer ---------- */
    var tab = el('button', 'help-tab', t('help'), { type: 'button', 'aria-expanded': 'false', 'aria-controls': 'bk-help' });
    head.insertBefore(tab, head.lastElementChild);
    var view = el('section', 'help', null, { id: 'bk-help', 'aria-label': t('help'), hidden: '' });
    var box = el('input', 'help-search', null, { type: 'search', maxlength: '200', placeholder: t('search'), 'aria-label': t('search') });
    var body = el('div', 'help-body', null, { 'aria-live': 'polite' });
    view.append(box, body);
    win.insertBefore(view, log);
    var category = null, lastQuery = null, timer = 0, shown = null;

    // The Help view takes the place of everything under the header (a class on the window, so
    // what the chat shows or hides meanwhile is left as the chat set it).
    function showHelp(on) {
      if (on === !view.hidden) return;
      view.hidden = !on;
      win.classList.toggle('helping', on);
      tab.textContent = on ? t('chat') : t('help');
      tab.setAttribute('aria-expanded', String(on));
      if (on) {
        if (!shown) list(box.value);
        box.focus();
      } else {
        input.focus();
      }
    }
    tab.onclick = function () { showHelp(view.hidden); };

    function results(items, empty) {
      var out = [];
      items.forEach(function (r) {
        var b = el('button', 'help-result', null, { type: 'button' });
        b.append(el('b', null, r.title), el('span', null, r.excerpt || r.category || ''));
        b.onclick = function () { openArticle(r.id, false); };
        out.push(b);
      });
      if (!out.length && empty) out.push(el('p', 'help-empty', empty));
      return out;
    }

    function categories(found) {
      if (!found || !found.length) return [];
      var row = el('div', 'help-categories', null, { role: 'group', 'aria-label': t('all') });
      [{ name: null }].concat(found).forEach(function (c) {
        var b = el('button', null, c.name || t('all'), { type: 'button', 'aria-pressed': String(category === c.name) });
        b.onclick = function () { category = c.name; list(box.value); };
        row.append(b);
      });
      return [row];
    }

    // Searches as the visitor types: one request per pause, the latest answer wins (an article
    // opened meanwhile wins over any).
    function search(query, now) {
      clearTimeout(timer);
      timer = setTimeout(function () {
        var q = query.trim(), asked = q + '\u0000' + category;
        if (asked === lastQuery && shown === null) return;
        lastQuery = asked;
        var r = { type: 'help_search', query: q.slice(0, 500), typing: true };
        if (category) r.category = category;
        send(r, function (rep) {
          if (rep.type !== 'help_results' || asked !== lastQuery) return;
          shown = null;
          body.replaceChildren.apply(body, categories(rep.categories).concat(results(rep.results, t('none'))));
        });
      }, now ? 0 : TYPING_DELAY);
    }
    function list(query) { search(query, true); }
    box.addEventListener('input', function () { search(box.value, false); });

    function openArticle(id, suggested) {
      clearTimeout(timer);  // a search still waiting for its pause must not replace the article
      lastQuery = null;
      send({ type: 'help_article', article: id, suggested: suggested }, function (rep) {
        if (rep.type !== 'help_article') return;
        var a = rep.article, art = el('article', 'help-article', null, { 'aria-labelledby': 'bk-help-title' });
        var back = el('button', 'help-back', '← ' + t('back'), { type: 'button' });
        back.onclick = function () { shown = null; lastQuery = null; list(box.value); };
        var title = el('h3', null, a.title, { id: 'bk-help-title', tabindex: '-1' });
        art.append(title);
        helpBlocks(art, a.blocks);
        var fb = el('div', 'help-feedback', null, { role: 'group', 'aria-label': t('helped_q') });
        var yes = el('button', null, t('yes'), { type: 'button' }), no = el('button', null, t('no'), { type: 'button' });
        fb.append(el('p', null, t('helped_q')), yes, no);
        function answer(helped) {
          send({ type: 'help_feedback', article: id, helped: helped, suggested: suggested }, function (r) {
            if (r.type !== 'ok') return;
            var said = el('p', null, helped ? t('thanks') : t('sorry'), { role: 'status' });
            if (!helped) {
              var ask = el('button', 'primary', t('ask'), { type: 'button' });
              ask.onclick = function () { showHelp(false); };
              fb.replaceChildren(said, ask);
            } else {
              fb.replaceChildren(said);
            }
          });
        }
        yes.onclick = function () { answer(true); };
        no.onclick = function () { answer(false); };
        art.append(fb);
        shown = id;
        body.replaceChildren(back, art);
        showHelp(true);
        body.scrollTop = 0;
        title.focus();
      });
    }

    /* ---------- suggestions above the composer ---------- */
    var tips = el('div', 'suggestions', null, { role: 'region', 'aria-label': t('suggested'), hidden: '' });
    form.parentNode.insertBefore(tips, form);
    var tipTimer = 0, tipAsked = '', waitAsked = '';
    function suggest(text, heading) {
      var q = text.trim().slice(0, 500);
      if (q === tipAsked) return;
      tipAsked = q;
      send({ type: 'help_search', query: q, suggest: true, typing: heading === 'suggested' }, function (rep) {
        if (rep.type !== 'help_results' || q !== tipAsked) return;
        tips.hidden = !rep.results.length;
        tips.replaceChildren.apply(tips, [el('p', null, t(heading))].concat(rep.results.map(function (r) {
          var b = el('button', 'help-result', null, { type: 'button' });
          b.append(el('b', null, r.title));
          b.onclick = function () { openArticle(r.id, true); };
          return b;
        })));
      });
    }
    // The visitor has written nothing yet in this chat: what they type may have an answer.
    function firstMessage() { return !log.querySelector('.message.visitor'); }
    input.addEventListener('input', function () {
      clearTimeout(tipTimer);
      if (!firstMessage() || input.value.trim().length < SUGGEST_FROM) { if (firstMessage()) tips.hidden = true; return; }
      var text = input.value;
      tipTimer = setTimeout(function () { suggest(text, 'suggested'); }, TYPING_DELAY);
    });
    form.addEventListener('submit', function () { clearTimeout(tipTimer); tips.hidden = true; tipAsked = ''; });

    // Queued: the automatic acknowledgement (a system message after the visitor's first message,
    // before any agent's) brings the best articles for the question.
    new MutationObserver(function () {
      var asked = log.querySelector('.message.visitor .text');
      if (!asked || log.querySelector('.message.agent')) { if (log.querySelector('.message.agent')) tips.hidden = true; return; }
      var after = false, acked = false;
      log.querySelectorAll('.message').forEach(function (m) {
        if (m.querySelector('.text') === asked) after = true;
        else if (after && m.classList.contains('system')) acked = true;
      });
      if (acked && waitAsked !== asked.textContent) {
        waitAsked = asked.textContent;
        suggest(asked.textContent, 'waiting');
      }
    }).observe(log, { childList: true });

    // kit.Help for the other scripts: beckon-flows.js opens a flow step's article here
    return { open: function () { showHelp(true); }, article: function (id) { openArticle(id, false); } };
  };
})();
