// @ts-check: type-checked by tsc from widget/jsconfig.json (meson test widget_types); no build step.
/* Files in the agent panel's chat (docs/protocol.md, "Files"): the three ways to attach (the
 * button, a drop on the conversation, a paste into the composer), the uploads of a conversation
 * (progress, cancel, retry with the same cmid, the server's refusal next to the file), and a
 * file message drawn as a thumbnail that opens full size in a new tab or a card that downloads.
 * agent.js owns the conversations; it hands each one's `uploads` Map to render(). */
import { el } from '../shared/dom.js';
import { randomHex } from '../shared/ids.js';
import { humanSize, fileKind, linkExpired, uploadFile } from '../shared/files.js';

/**
 * One upload of a conversation, until its message arrives.
 * @typedef {{ cmid: string, file: File, state: 'sending' | 'failed', percent: number, error: string,
 *             passes: boolean, request: { abort: () => void } | null }} Upload
 */

/**
 * What agent.js tells the uploads.
 * @typedef {object} UploadHost
 * @property {() => string} token the session's bearer token
 * @property {(conversation: string) => void} changed a conversation's uploads changed: draw it again
 * @property {(answer: any) => void} stored the server's 200/201 answer: {conversation, id, cmid, file}
 */

/**
 * Starts uploading files into a conversation.
 * @param {{ id: string, uploads: Map<string, Upload> }} c
 * @param {ArrayLike<File>} list
 * @param {UploadHost} host
 */
export function uploadAll(c, list, host) {
  Array.prototype.slice.call(list).forEach(function (/** @type {File} */ file) {
    /** @type {Upload} */
    var u = { cmid: 'f-' + randomHex(), file: file, state: 'sending', percent: 0, error: '', passes: false, request: null };
    c.uploads.set(u.cmid, u);
    send(c, u, host);
  });
}

/**
 * (Re)sends an upload with its cmid: a retry of one the server stored is answered "duplicate".
 * @param {{ id: string, uploads: Map<string, Upload> }} c
 * @param {Upload} u
 * @param {UploadHost} host
 */
function send(c, u, host) {
  u.state = 'sending'; u.percent = 0; u.error = '';
  var url = '/api/files?cmid=' + encodeURIComponent(u.cmid) + '&name=' + encodeURIComponent(u.file.name || 'file') +
            '&conversation=' + encodeURIComponent(c.id);
  u.request = uploadFile(url, u.file, { Authorization: 'Bearer ' + host.token() }, {
    progress: function (sent, total) {
      u.percent = Math.min(100, Math.round(total ? sent / total * 100 : 0));
      var bar = document.querySelector('[data-upload="' + u.cmid + '"] [role=progressbar]');
      if (bar) paintProgress(/** @type {HTMLElement} */ (bar), u.percent);
    },
    done: function (status, body) {
      u.request = null;
      if ((status === 200 || status === 201) && body && body.file) {
        c.uploads.delete(u.cmid);
        host.stored(body);
      } else {
        var error = body && body.error || {};
        u.state = 'failed';
        u.error = error.message || (status ? 'HTTP ' + status : 'The connection dropped.');
        // a dropped connection, a busy server or a limit per minute may pass; a refusal stays one
        u.passes = !status || status === 503 || status === 429;
      }
      host.changed(c.id);
    }
  });
  host.changed(c.id);
}

/** @param {HTMLElement} bar @param {number} percent */
function paintProgress(bar, percent) {
  bar.setAttribute('aria-valuenow', String(percent));
  /** @type {HTMLElement} */ (bar.firstElementChild).style.width = percent + '%';
}

/**
 * A conversation's uploads as nodes for the log.
 * @param {{ id: string, uploads: Map<string, Upload> }} c
 * @param {UploadHost} host
 * @returns {HTMLElement[]}
 */
export function uploadNodes(c, host) {
  return Array.from(c.uploads.values()).map(function (u) {
    var node = el('div', 'msg agent upload ' + u.state, null, { 'data-upload': u.cmid, role: 'group', 'aria-label': u.file.name });
    var box = el('div', 'text file');
    box.appendChild(card(u.file.name, u.file.type, u.file.size, null));
    node.appendChild(box);
    var meta = el('div', 'meta');
    if (u.state === 'sending') {
      var bar = el('div', 'progress', null, { role: 'progressbar', 'aria-valuemin': '0', 'aria-valuemax': '100', 'aria-label': 'Uploading ' + u.file.name });
      bar.appendChild(el('span'));
      paintProgress(bar, u.percent);
      node.appendChild(bar);
      meta.appendChild(el('span', 'state', 'Sending…'));
      meta.appendChild(action('Cancel', function () {
        if (u.request) u.request.abort();
        c.uploads.delete(u.cmid);
        host.changed(c.id);
      }));
    } else {
      node.appendChild(el('p', 'refusal', u.error, { role: 'alert' }));
      meta.appendChild(el('span', 'state', 'Not sent'));
      if (u.passes) meta.appendChild(action('Retry', function () { send(c, u, host); }));
      meta.appendChild(action('Remove', function () { c.uploads.delete(u.cmid); host.changed(c.id); }));
    }
    node.appendChild(meta);
    return node;
  });
}

/** @param {string} text @param {() => void} onclick */
function action(text, onclick) {
  var b = el('button', 'retry', text, { type: 'button' });
  b.addEventListener('click', onclick);
  return b;
}

/**
 * A file's card: its name, kind and size; a download link when href is given.
 * @param {string} name @param {string} type @param {number} size @param {string | null} href
 * @returns {HTMLElement}
 */
function card(name, type, size, href) {
  var node = href ? el('a', 'file-card', null, { href: href, download: name }) : el('div', 'file-card');
  node.appendChild(el('span', 'file-name', name));
  node.appendChild(el('span', 'file-about', fileKind(type) + ' · ' + humanSize(size)));
  return node;
}

var opening = new Map(); // message id -> the tab (or true: a download) waiting for fresh links

/**
 * A file message's content: a thumbnail that opens the image full size in a new tab, or a card
 * that downloads the file. An expired link would show a bare 403 page: a click on one, or a
 * thumbnail that fails on one, asks for fresh links (refresh: a resume, which signs them anew)
 * and the click is carried out once they are there.
 * @param {{ id: string, file: any }} m
 * @param {() => void} refresh
 * @returns {HTMLElement}
 */
export function fileNode(m, refresh) {
  var f = m.file, a;
  if (f.thumb_url) {
    a = el('a', 'thumb', null, { href: f.url, target: '_blank', rel: 'noopener', title: f.name });
    var scale = Math.min(1, 240 / Math.max(f.width || 1, f.height || 1));
    var img = el('img', null, null, { src: f.thumb_url, alt: f.name, width: f.width ? String(Math.round(f.width * scale)) : null,
                                      height: f.height ? String(Math.round(f.height * scale)) : null });
    img.addEventListener('error', function () { if (linkExpired(f.thumb_url)) refresh(); });
    a.appendChild(img);
  } else {
    a = card(f.name, f.type, f.size, f.url);
  }
  var link = /** @type {HTMLAnchorElement} */ (a);
  link.addEventListener('click', function (e) {
    if (!linkExpired(link.href)) return;
    e.preventDefault();
    opening.set(m.id, link.target ? window.open('', '_blank') || true : true);
    refresh();
  });
  var waiting = opening.get(m.id);
  if (waiting && !linkExpired(f.url)) {
    opening.delete(m.id);
    setTimeout(function () {
      if (waiting === true) link.click();
      else { waiting.opener = null; waiting.location.href = link.href; }
    });
  }
  return link;
}

/**
 * The three ways to attach. canAttach: whether the open conversation takes files now.
 * @param {{ button: HTMLElement, picker: HTMLInputElement, zone: HTMLElement, input: HTMLElement,
 *           canAttach: () => boolean, add: (list: ArrayLike<File>) => void }} o
 */
export function bindAttach(o) {
  o.button.addEventListener('click', function () { if (o.canAttach()) o.picker.click(); });
  o.picker.addEventListener('change', function () { if (o.picker.files) o.add(o.picker.files); o.picker.value = ''; });
  /** @param {DragEvent} e */
  function carriesFiles(e) { return !!e.dataTransfer && Array.prototype.indexOf.call(e.dataTransfer.types, 'Files') >= 0; }
  o.zone.addEventListener('dragover', function (e) {
    if (!carriesFiles(e) || !o.canAttach()) return;
    e.preventDefault();
    o.zone.classList.add('dragging');
  });
  o.zone.addEventListener('dragleave', function (e) {
    if (!o.zone.contains(/** @type {Node | null} */ (e.relatedTarget))) o.zone.classList.remove('dragging');
  });
  o.zone.addEventListener('drop', function (e) {
    o.zone.classList.remove('dragging');
    if (!carriesFiles(e) || !o.canAttach() || !e.dataTransfer) return;
    e.preventDefault();
    o.add(e.dataTransfer.files);
  });
  o.input.addEventListener('paste', function (e) {
    var list = e.clipboardData ? Array.prototype.slice.call(e.clipboardData.files) : [];
    if (!list.length || !o.canAttach()) return; // text: the textarea takes it
    e.preventDefault();
    o.add(list);
  });
}
