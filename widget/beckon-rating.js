/*! Beckon visitor widget: the rating form under a closed chat (docs/widget.md). A
 * classic script that beckon.js loads from its own host when a chat it shows is closed and not
 * rated yet, so that the first paint carries none of it: five stars (a radio group, arrow keys
 * move), an optional comment, `rate` (docs/protocol.md), then a thank-you.
 * It is handed the widget's internals by window.BeckonRating(kit); everything is built with
 * createElement/textContent. The helper it shares is a verbatim copy of widget/shared/dom.js
 * (checked: tests/browser/shared_copies.mjs). */
(function () {
  'use strict';

  var STR = {
    en: { rating_question: 'How was your chat?', stars: '{n} of 5', comment: 'Comment (optional)', send_rating: 'Send rating', thanks: 'Thank you for your feedback!' },
    da: { rating_question: 'Hvordan var din chat?', stars: '{n} ud af 5', comment: 'Kommentar (valgfri)', send_rating: 'Send vurdering', thanks: 'Tak for din feedback!' },
    nb: { rating_question: 'Hvordan var chatten?', stars: '{n} av 5', comment: 'Kommentar (valgfritt)', send_rating: 'Send vurdering', thanks: 'Takk for tilbakemeldingen!' }
  };

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

  var CSS = [
    '.rating{border-top:1px solid var(--line);padding:12px 16px;display:flex;flex-direction:column;gap:8px}',
    '.rating p{font-weight:600}.stars{display:flex;gap:4px}',
    '.stars button{font-size:26px;line-height:1;color:#d0d5dd;padding:2px}',
    '.stars button[aria-checked=true],.stars button.on{color:#f79009}',
    '.rating textarea{border:1px solid var(--line);border-radius:8px;padding:8px;resize:none;height:54px;background:var(--bg)}'
  ].join('');

  window.BeckonRating = function (kit) {
    delete window.BeckonRating;
    var root = kit.root, lang = STR[kit.lang] ? kit.lang : 'en';
    var rate = root.querySelector('.rating'), log = root.querySelector('.log');
    function t(k, n) { return STR[lang][k].replace('{n}', n); }

    if (root.adoptedStyleSheets) {
      var sheet = new CSSStyleSheet();
      sheet.replaceSync(CSS);
      root.adoptedStyleSheets = root.adoptedStyleSheets.concat([sheet]);
    } else {
      root.append(el('style', null, CSS));
    }

    // The form for the conversation shown, if it is closed and not rated here yet (once per conversation).
    function show() {
      var conv = kit.conv();
      if (!conv || conv.state !== 'closed' || kit.local('rated') === conv.id) { rate.hidden = true; return; }
      if (!rate.hidden && rate.getAttribute('data-conversation') === conv.id) return;
      rate.setAttribute('data-conversation', conv.id);
      rate.textContent = '';
      var q = el('p', null, t('rating_question'), { id: 'bk-rating-question' });
      var stars = el('div', 'stars', null, { role: 'radiogroup', 'aria-labelledby': 'bk-rating-question' });
      var score = 0, btns = [];
      var cm = el('textarea', null, null, { maxlength: '1000', placeholder: t('comment'), 'aria-label': t('comment') });
      var go = el('button', 'primary', t('send_rating'), { type: 'button', disabled: '' });
      function pick(n) {
        score = n;
        btns.forEach(function (b, i) {
          b.setAttribute('aria-checked', String(i + 1 === n));
          b.classList.toggle('on', i < n);
          b.tabIndex = i + 1 === n || (!n && !i) ? 0 : -1;
        });
        go.disabled = !n;
      }
      for (var i = 1; i <= 5; i++) (function (n) {
        var b = el('button', null, '★', { type: 'button', role: 'radio', 'aria-checked': 'false', 'aria-label': t('stars', n), 'data-score': String(n) });
        b.onclick = function () { pick(n); };
        b.onkeydown = function (e) {
          var d = e.key === 'ArrowRight' || e.key === 'ArrowUp' ? 1 : e.key === 'ArrowLeft' || e.key === 'ArrowDown' ? -1 : 0;
          if (d) { e.preventDefault(); var k = Math.min(5, Math.max(1, (score || n) + d)); pick(k); btns[k - 1].focus(); }
        };
        btns.push(b); stars.append(b);
      })(i);
      pick(0);
      var id = conv.id;
      go.onclick = function () {
        var r = { type: 'rate', conversation: id, score: score };
        if (cm.value.trim()) r.comment = cm.value.trim().slice(0, 1000);
        go.disabled = true;
        if (!kit.send(r, function (rep) {
          if (rep.type === 'ok') { kit.local('rated', id); rate.textContent = ''; rate.append(el('p', null, t('thanks'), { role: 'status' })); }
          else go.disabled = false;
        })) go.disabled = false;
      };
      rate.append(q, stars, cm, go);
      rate.hidden = false;
      log.scrollTop = log.scrollHeight;
    }

    return { draw: show };
  };
})();
