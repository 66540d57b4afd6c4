/*! Beckon visitor widget: quick-reply flows (docs/flows.md, docs/widget.md "Flows"). A classic
 * script that beckon.js loads from its own host the first time the chat shows a bot's message,
 * so that the first paint carries none of it. It draws what a flow message carries under its
 * text: the buttons (real <button>s in a labelled group; only the conversation's last flow
 * message can be answered, and only while its flow runs: every other one, and one already
 * answered, is disabled, the choice marked), the article, the link (http(s) only, in a new tab)
 * and the email form the flow asks for outside hours.
 * It is handed the widget's internals by window.BeckonFlows(kit) and then sees every message
 * (a choice or an email the visitor sent is a visitor's message whose cmid names the flow
 * message: choose:ID, email:ID). Everything is built with createElement/textContent. The helpers
 * it shares are verbatim copies of widget/shared/ (checked: tests/browser/shared_copies.mjs). */
(function () {
  'use strict';

  var STR = {
    en: { choose: 'Choose an answer', article: 'Article: {n}', email: 'Email', send: 'Send', failed: 'Not sent' },
    da: { choose: 'Vælg et svar', article: 'Artikel: {n}', email: 'E-mail', send: 'Send', failed: 'Ikke sendt' },
    nb: { choose: 'Velg et svar', article: 'Artikkel: {n}', email: 'E-post', send: 'Send', failed: 'Ikke sendt' }
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
  function compareIds(a, b) {
    if (!a) return b ? -1 : 0;
    if (!b) return 1;
    var x = a.split('-'), y = b.split('-');
    return (+x[0] - +y[0]) || (+x[1] - +y[1]);
  }

  var CSS = [
    '.flow{display:flex;flex-direction:column;gap:6px;margin-top:6px}',
    '.flow-buttons{display:flex;flex-wrap:wrap;gap:6px}',
    '.flow-button{border:1px solid var(--accent);color:var(--accent);background:var(--bg);border-radius:16px;padding:6px 12px;font-weight:600;text-align:left}',
    '.flow-button:hover:enabled{background:var(--accent);color:var(--accent-text)}',
    '.flow-button:disabled{opacity:.5;cursor:default}',
    '.flow-button.chosen{opacity:1;background:var(--accent);color:var(--accent-text)}',
    '.flow-link{color:var(--accent);font-weight:600;text-decoration:underline;overflow-wrap:anywhere}',
    '.flow-article{font-size:12.5px;color:var(--muted)}',
    '.flow-email{display:flex;flex-wrap:wrap;gap:6px}',
    '.flow-email input{flex:1;min-width:150px;border:1px solid var(--line);border-radius:8px;padding:6px 10px;background:var(--bg)}',
    '.flow-email input:disabled{opacity:.7}.flow-error{color:#b42318;font-size:12.5px}'
  ].join('');

  window.BeckonFlows = function (kit) {
    delete window.BeckonFlows;
    var root = kit.root, lang = STR[kit.lang] ? kit.lang : 'en', log = root.querySelector('.log');
    function t(k, n) { return STR[lang][k].replace('{n}', n); }

    if (root.adoptedStyleSheets) {
      var sheet = new CSSStyleSheet();
      sheet.replaceSync(CSS);
      root.adoptedStyleSheets = root.adoptedStyleSheets.concat([sheet]);
    } else {
      root.append(el('style', null, CSS));
    }

    var flows = {};     // flow message id -> {m, box, buttons, form, input, busy (what is being sent)}
    var answered = {};  // flow message id -> the label chosen, or the email left (the visitor's message)
    var focusNext = false; // a choice was made from the widget: the next step's first control gets the focus

    function draw(m) {
      if (m && m.flow) flows[m.id] = flows[m.id] || { m: m, buttons: [] };
      else if (m && m.from === 'visitor' && /^(choose|email):/.test(m.cmid || '')) answered[m.cmid.replace(/^\w+:/, '')] = m.text;
      setTimeout(paint); // beckon.js puts the message's node in the log after calling this
    }

    // Every flow message of the conversation shown: built once its node is in the log, then
    // enabled only when it is the last one, its flow still runs and nothing was answered on it.
    function paint() {
      var conv = kit.conv(), last = '', id, added = null;
      for (id in flows) {
        if (!conv || flows[id].m.conversation !== conv.id) delete flows[id];
        else if (compareIds(id, last) > 0) last = id;
      }
      for (id in flows) {
        var f = flows[id], node = log.querySelector('.message[data-id="' + id + '"]');
        if (!node) continue;
        if (!f.box || !node.contains(f.box)) { build(f, node); added = f; }
        var said = answered[id], chosen = f.busy != null ? f.busy : said;
        var open = id === last && conv.state === 'flow' && chosen == null;
        f.buttons.forEach(function (b) {
          var on = chosen != null && (f.busy != null ? b.getAttribute('data-button') === f.busy : b.textContent === said);
          b.disabled = !open;
          b.classList.toggle('chosen', on);
          if (chosen != null) b.setAttribute('aria-pressed', String(on)); else b.removeAttribute('aria-pressed');
        });
        if (f.form) {
          f.input.disabled = f.go.disabled = !open;
          if (said != null && !f.input.value) f.input.value = said;
        }
      }
      if (added) {
        log.scrollTop = log.scrollHeight;
        if (focusNext && added.m.id === last) {
          focusNext = false;
          var next = added.buttons[0] || added.input || root.querySelector('#bk-input');
          if (next && !next.disabled) next.focus();
        }
      }
    }

    function build(f, node) {
      var flow = f.m.flow, box = f.box = el('div', 'flow');
      f.buttons = [];
      if (flow.article) box.append(el('p', 'flow-article', t('article', flow.article), { 'data-article': flow.article }));
      var link = flow.link;
      if (link && /^https?:\/\//i.test(link.url || '')) {
        box.append(el('a', 'flow-link', link.label || link.url, { href: link.url, target: '_blank', rel: 'noopener' }));
      }
      if (flow.buttons && flow.buttons.length) {
        var group = el('div', 'flow-buttons', null, { role: 'group', 'aria-label': t('choose') });
        flow.buttons.forEach(function (x) {
          var b = el('button', 'flow-button', x.label, { type: 'button', 'data-button': x.id });
          b.onclick = function () { choose(f, x.id, b); };
          f.buttons.push(b);
          group.append(b);
        });
        box.append(group);
      }
      if (flow.email) box.append(emailForm(f));
      node.insertBefore(box, node.querySelector('.meta'));
    }

    function choose(f, button, b) {
      if (b.disabled) return;
      focusNext = root.activeElement === b || !root.activeElement;
      sending(f, button, { type: 'flow_choose', message: f.m.id, button: button });
    }
    // What is sent shows as chosen at once; a refusal or no connection makes it choosable again.
    function sending(f, what, frame, error) {
      f.busy = what;
      if (!kit.send(frame, function (r) {
        if (r.type !== 'error') return;
        f.busy = null;
        if (error) { error.textContent = t('failed') + ': ' + r.message; error.hidden = false; }
        paint();
      })) f.busy = null;
      paint();
    }

    // The closed text's request for an email, validated as the leave-a-message form is.
    function emailForm(f) {
      var form = el('form', 'flow-email');
      f.input = el('input', null, null, { type: 'email', required: '', maxlength: '254', autocomplete: 'email', placeholder: t('email'), 'aria-label': t('email') });
      f.go = el('button', 'primary', t('send'), { type: 'submit' });
      var error = el('p', 'flow-error', null, { role: 'alert', hidden: '' });
      form.append(f.input, f.go, error);
      form.onsubmit = function (e) {
        e.preventDefault();
        var mail = f.input.value.trim();
        if (!/.@./.test(mail) || f.input.disabled) return;
        error.hidden = true;
        focusNext = true;
        sending(f, mail, { type: 'flow_email', message: f.m.id, email: mail }, error);
      };
      return f.form = form;
    }

    return { draw: draw };
  };
})();
