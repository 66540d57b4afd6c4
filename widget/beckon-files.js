/*! Beckon visitor widget: files in chat (docs/widget.md, "Files"). A classic script that
 * beckon.js loads from its own host once the chat opens or shows a file, so that the first paint
 * carries none of it. It adds the attach button, drag and drop onto the chat window and pasting
 * a screenshot into the composer; uploads with progress, cancel, retry (the same cmid: stored
 * once) and the server's refusal next to the file; file messages drawn as a thumbnail that opens
 * full size in a new tab, or a card with name, kind, size and a download link.
 * It is handed the widget's internals by window.BeckonFiles(kit); everything typed is shown with
 * textContent. The helpers it shares are verbatim copies of widget/shared/ (checked:
 * tests/browser/shared_copies.mjs). */
(function () {
  'use strict';
  var script = document.currentScript;
  var HOST = new URL(script ? script.src : '/beckon-files.js', location.href).origin;

  var STR = {
    en: {
      attach: 'Attach a file', uploading: 'Uploading {n}', sending: 'Sending…', failed: 'Not sent', retry: 'Retry', cancel: 'Cancel',
      remove: 'Remove', offline: 'Not connected — try again in a moment.', network: 'The connection dropped.', drop: 'Drop files here to send them'
    },
    da: {
      attach: 'Vedhæft en fil', uploading: 'Sender {n}', sending: 'Sender…', failed: 'Ikke sendt', retry: 'Prøv igen', cancel: 'Annullér',
      remove: 'Fjern', offline: 'Ikke forbundet — prøv igen om lidt.', network: 'Forbindelsen blev afbrudt.', drop: 'Slip filer her for at sende dem'
    },
    nb: {
      attach: 'Legg ved en fil', uploading: 'Sender {n}', sending: 'Sender…', failed: 'Ikke sendt', retry: 'Prøv igjen', cancel: 'Avbryt',
      remove: 'Fjern', offline: 'Ikke tilkoblet — prøv igjen om litt.', network: 'Tilkoblingen ble brutt.', drop: 'Slipp filer her for å sende dem'
    }
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
  function randomHex() {
    return Array.from(crypto.getRandomValues(new Uint8Array(8)), function (byte) {
      return (byte + 256).toString(16).slice(1);
    }).join('');
  }
  function retryDelay(attempt) {
    return 250 + Math.random() * Math.min(30000, 500 * Math.pow(2, attempt));
  }
  function humanSize(bytes) {
    var units = ['B', 'KB', 'MB', 'GB'], n = bytes, i = 0;
    while (n >= 1000 && i < units.length - 1) { n /= 1000; i++; }
    return (i && n < 10 ? n.toFixed(1) : String(Math.round(n))) + ' ' + units[i];
  }
  function fileKind(type) {
    var sub = String(type || '').split(/[/;]/)[1] || '';
    if (sub === 'plain') return 'TXT';
    if (!sub || sub === 'octet-stream') return 'FILE';
    return sub.replace(/^(x-|vnd\.)/, '').toUpperCase().slice(0, 12);
  }
  function linkExpired(url) {
    var match = /[?&]exp=(\d+)/.exec(url);
    return !!match && Number(match[1]) * 1000 < Date.now() + 30000;
  }
  function uploadFile(url, file, headers, on) {
    var request = /** @type {XMLHttpRequest | null} */ (null), timer = 0, attempt = 0, stopped = false;
    var post = function () {
      if (stopped) return;
      var xhr = request = new XMLHttpRequest();
      xhr.open('POST', url);
      for (var name in headers) xhr.setRequestHeader(name, headers[name]);
      xhr.upload.onprogress = function (e) { on.progress(e.loaded, e.lengthComputable ? e.total : file.size); };
      xhr.onload = function () {
        var body = null;
        try { body = JSON.parse(xhr.responseText); } catch (e) { /* not JSON: a proxy's page */ }
        if (xhr.status === 503 && postAgain()) return;
        on.done(xhr.status, body);
      };
      xhr.onerror = function () { if (!postAgain()) on.done(0, null); };
      xhr.send(file);
    };
    var postAgain = function () {
      if (attempt >= 3) return false;
      timer = setTimeout(post, retryDelay(attempt++));
      return true;
    };
    post();
    return { abort: function () { stopped = true; clearTimeout(timer); if (request) request.abort(); } };
  }

  var CSS = [
    '.attach{width:38px;height:38px;border-radius:50%;color:var(--muted);display:grid;place-items:center;flex:none}',
    '.attach:hover{color:var(--accent)}.attach svg{width:20px;height:20px}',
    '.window.dragging .log{outline:2px dashed var(--accent);outline-offset:-6px}',
    '.drop-hint{position:absolute;left:0;right:0;text-align:center;color:var(--accent);font-weight:600;margin-top:6px;pointer-events:none}',
    '.text.file{padding:0;background:none!important;color:var(--fg)!important}',
    '.thumb{display:block;line-height:0}.thumb img{display:block;max-width:220px;max-height:220px;border-radius:12px;border:1px solid var(--line);background:var(--bubble)}',
    '.file-card{display:flex;flex-direction:column;padding:8px 12px;border:1px solid var(--line);border-radius:12px;background:var(--bg);',
    'color:var(--fg);text-decoration:none;min-width:160px;max-width:260px}.file-card:hover .file-name,.file-card:focus-visible .file-name{text-decoration:underline}',
    '.file-name{font-weight:600;overflow-wrap:anywhere}.file-about{font-size:12px;color:var(--muted)}',
    '.upload .progress{height:4px;width:180px;max-width:100%;margin-top:6px;background:var(--line);border-radius:2px;overflow:hidden}',
    '.upload .progress span{display:block;height:100%;width:0;background:var(--accent)}',
    '.upload .refusal{color:#b42318;font-size:12.5px;max-width:260px;text-align:right;margin-top:4px}',
    '.upload .meta button{color:var(--accent);text-decoration:underline;font-size:11px;font-weight:600}',
    '.upload.failed .file-card{border-color:#fda29b}'
  ].join('');
  var ICON_CLIP = 'M16 6v11a4 4 0 0 1-8 0V5a2.5 2.5 0 0 1 5 0v11h-2V5a.5.5 0 0 0-1 0v12a2 2 0 0 0 4 0V6z';

  window.BeckonFiles = function (kit) {
    delete window.BeckonFiles;
    var root = kit.root, lang = STR[kit.lang] ? kit.lang : 'en';
    var win = root.querySelector('.window'), log = root.querySelector('.log');
    var form = root.querySelector('form.composer'), input = root.querySelector('#bk-input');
    function t(k, n) { return STR[lang][k].replace('{n}', n); }

    if (root.adoptedStyleSheets) {
      var sheet = new CSSStyleSheet();
      sheet.replaceSync(CSS);
      root.adoptedStyleSheets = root.adoptedStyleSheets.concat([sheet]);
    } else {
      root.append(el('style', null, CSS));
    }

    /* ---------- the three ways in: the button, a drop on the window, a paste into the composer ---------- */
    var attach = el('button', 'attach', null, { type: 'button', 'aria-label': t('attach'), title: t('attach') });
    var ns = 'http://www.w3.org/2000/svg', icon = document.createElementNS(ns, 'svg'), path = document.createElementNS(ns, 'path');
    icon.setAttribute('viewBox', '0 0 24 24'); icon.setAttribute('aria-hidden', 'true'); icon.setAttribute('focusable', 'false');
    path.setAttribute('d', ICON_CLIP); icon.append(path); attach.append(icon);
    var picker = el('input', null, null, { type: 'file', multiple: '', hidden: '', tabindex: '-1' });
    form.insertBefore(attach, input);
    form.append(picker);
    attach.onclick = function () { picker.click(); };
    picker.onchange = function () { add(picker.files); picker.value = ''; };

    var hint = el('p', 'drop-hint', t('drop'), { hidden: '' });
    log.before(hint);
    function carriesFiles(e) { return !!e.dataTransfer && Array.prototype.indexOf.call(e.dataTransfer.types, 'Files') >= 0; }
    function dragging(on) { win.classList.toggle('dragging', on); hint.hidden = !on; }
    win.addEventListener('dragover', function (e) {
      if (!carriesFiles(e) || form.hidden) return;
      e.preventDefault();
      e.dataTransfer.dropEffect = 'copy';
      dragging(true);
    });
    win.addEventListener('dragleave', function (e) { if (!win.contains(e.relatedTarget)) dragging(false); });
    win.addEventListener('drop', function (e) {
      dragging(false);
      if (!carriesFiles(e) || form.hidden) return;
      e.preventDefault();
      add(e.dataTransfer.files);
    });
    input.addEventListener('paste', function (e) {
      var list = e.clipboardData ? Array.prototype.slice.call(e.clipboardData.files) : [];
      if (!list.length) return; // text: the textarea takes it
      e.preventDefault();
      add(list);
    });

    /* ---------- uploads: sending (progress, cancel) -> stored (a message) | refused | not sent (retry) ---------- */
    function add(list) {
      Array.prototype.slice.call(list).forEach(function (file) { start({ file: file, cmid: 'f-' + randomHex() }); });
    }
    // An upload's node in the log: the file's card, a progress bar, the refusal, the actions.
    function start(item) {
      var file = item.file, name = file.name || 'file';
      if (!item.node) {
        var node = item.node = el('div', 'message visitor upload pending', null, { role: 'group', 'aria-label': name });
        var card = el('div', 'file-card');
        card.append(el('span', 'file-name', name), el('span', 'file-about', fileKind(file.type) + ' · ' + humanSize(file.size)));
        var box = el('div', 'text file');
        box.append(card);
        item.bar = el('span');
        item.progress = el('div', 'progress', null, { role: 'progressbar', 'aria-valuemin': '0', 'aria-valuemax': '100', 'aria-valuenow': '0', 'aria-label': t('uploading', name) });
        item.progress.append(item.bar);
        item.refusal = el('p', 'refusal', null, { role: 'alert', hidden: '' });
        item.meta = el('div', 'meta');
        node.append(box, item.progress, item.refusal, item.meta);
        log.append(node);
      }
      state(item, 'sending');
      var token = kit.local('token');
      if (!token) return refused(item, t('offline'), true);
      var url = HOST + '/api/files?cmid=' + encodeURIComponent(item.cmid) + '&name=' + encodeURIComponent(name);
      item.request = uploadFile(url, file, { Authorization: 'Visitor ' + token }, {
        progress: function (sent, total) { shown(item, total ? sent / total : 0); },
        done: function (status, body) {
          item.request = null;
          if ((status === 200 || status === 201) && body && body.file) {
            item.node.remove();
            kit.deliver({ conversation: body.conversation, id: body.id, cmid: body.cmid, from: 'visitor', text: body.file.name,
                          file: body.file, ts: Number(String(body.id).split('-')[0]) || Date.now() });
            return;
          }
          var error = body && body.error || {};
          // A refusal of this file stays one; a dropped connection, a busy server, a limit per
          // minute or an expired token (the widget reconnects for a new one) may pass later.
          var passes = !status || status === 503 || status === 429 || status === 401;
          refused(item, error.message || (status ? 'HTTP ' + status : t('network')), passes);
        }
      });
      // Cancelled: the request is dropped, the server keeps nothing of it, no message is left.
      button(item, 'cancel', t('cancel'), function () {
        if (item.request) item.request.abort();
        item.node.remove();
      });
      log.scrollTop = log.scrollHeight;
    }
    function shown(item, fraction) {
      var percent = Math.min(100, Math.round(fraction * 100));
      item.bar.style.width = percent + '%'; // CSSOM: allowed by a strict CSP
      item.progress.setAttribute('aria-valuenow', String(percent));
    }
    function state(item, now) {
      item.node.classList.toggle('failed', now === 'failed');
      item.progress.hidden = now !== 'sending';
      if (now === 'sending') { item.refusal.hidden = true; shown(item, 0); }
      item.meta.textContent = '';
      item.meta.append(el('span', 'delivery', now === 'sending' ? t('sending') : t('failed')));
    }
    function button(item, cls, text, onclick) {
      var b = el('button', cls, text, { type: 'button' });
      b.onclick = onclick;
      item.meta.append(b);
      return b;
    }
    function refused(item, message, passes) {
      state(item, 'failed');
      item.refusal.textContent = message;
      item.refusal.hidden = false;
      if (passes) button(item, 'retry', t('retry'), function () { start(item); });
      button(item, 'remove', t('remove'), function () { item.node.remove(); });
      log.scrollTop = log.scrollHeight;
    }

    /* ---------- file messages: a thumbnail or a card, drawn again when their links are signed anew ---------- */
    var drawn = {};    // message id -> the link it was drawn with
    var opening = {};  // message id -> a tab waiting for a fresh link (or true: a download)
    var refreshed = {}; // message id -> fresh links were asked for once after an image failed
    function draw(m) {
      setTimeout(function () { // beckon.js puts the message's node in the log after calling this
        var f = m.file, node = log.querySelector('.message[data-id="' + m.id + '"]'), box = node && node.querySelector('.text');
        if (!box || !f || !f.url) return;
        if (drawn[m.id] && !linkExpired(drawn[m.id]) && !opening[m.id]) return; // still good
        drawn[m.id] = f.url;
        var url = HOST + f.url, a;
        box.textContent = '';
        box.className = 'text file';
        if (f.thumb_url) {
          a = el('a', 'thumb', null, { href: url, target: '_blank', rel: 'noopener', title: f.name });
          var scale = Math.min(1, 220 / Math.max(f.width || 1, f.height || 1));
          var img = el('img', null, null, { src: HOST + f.thumb_url, alt: f.name,
            width: f.width ? String(Math.round(f.width * scale)) : null, height: f.height ? String(Math.round(f.height * scale)) : null });
          img.onerror = function () { if (linkExpired(img.src) && !refreshed[m.id]) { refreshed[m.id] = 1; kit.refresh(); } };
          a.append(img);
        } else {
          a = el('a', 'file-card', null, { href: url, download: f.name });
          a.append(el('span', 'file-name', f.name), el('span', 'file-about', fileKind(f.type) + ' · ' + humanSize(f.size)));
        }
        // An expired link would show a bare 403 page: ask for fresh ones, then open.
        a.onclick = function (e) {
          if (!linkExpired(a.href)) return;
          e.preventDefault();
          opening[m.id] = a.target ? window.open('', '_blank') || true : true;
          kit.refresh();
        };
        box.append(a);
        var waiting = opening[m.id];
        delete opening[m.id];
        if (waiting === true) a.click();
        else if (waiting) { waiting.opener = null; waiting.location.href = url; }
      });
    }

    return { draw: draw };
  };
})();
