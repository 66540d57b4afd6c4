// @ts-check
/* Files in chat, the parts every page needs (docs/protocol.md, "Files"): a file's size and kind
 * in words, whether its signed link has expired, and the upload itself.
 *
 * An upload is the file as the raw body of POST /api/files?cmid=…&name=…, sent with
 * XMLHttpRequest because fetch() reports no upload progress. A network error or a 503 is tried
 * again with backoff on the SAME url, so with the same cmid: if the first try was stored and only
 * its answer was lost, the server answers the retry 200 with "duplicate": true, and the file is
 * stored once, like a message whose ack was lost.
 *
 * humanSize, fileKind, linkExpired and uploadFile are carried verbatim by the visitor widget's
 * upload script (beckon-files.js, a classic script), so they are written as a classic script can
 * hold them; tests/browser/shared_copies.mjs keeps the copies the same. */

import { retryDelay } from './backoff.js';

/**
 * A size in bytes as people read it, in powers of 1000 like the server's messages: "87 B",
 * "532 KB", "1.4 MB".
 * @param {number} bytes
 * @returns {string}
 */
export function humanSize(bytes) {
  var units = ['B', 'KB', 'MB', 'GB'], n = bytes, i = 0;
  while (n >= 1000 && i < units.length - 1) { n /= 1000; i++; }
  return (i && n < 10 ? n.toFixed(1) : String(Math.round(n))) + ' ' + units[i];
}

/**
 * A MIME type as a short kind for a file's card: "PDF", "PNG", "TXT"; "FILE" when unknown.
 * @param {string} type
 * @returns {string}
 */
export function fileKind(type) {
  var sub = String(type || '').split(/[/;]/)[1] || '';
  if (sub === 'plain') return 'TXT';
  if (!sub || sub === 'octet-stream') return 'FILE';
  return sub.replace(/^(x-|vnd\.)/, '').toUpperCase().slice(0, 12);
}

/**
 * Whether a signed link (/files/ID?exp=UNIX_SECONDS&sig=…) has expired, or will within 30 s:
 * fetched now, it would be refused 403 ("this link has expired"). A link without exp never does.
 * @param {string} url
 * @returns {boolean}
 */
export function linkExpired(url) {
  var match = /[?&]exp=(\d+)/.exec(url);
  return !!match && Number(match[1]) * 1000 < Date.now() + 30000;
}

/**
 * What an upload tells its caller. done: the answer (status 0 and body null when none came
 * after the last try); body is the parsed JSON or null.
 * @typedef {{ progress: (sent: number, total: number) => void,
 *             done: (status: number, body: any) => void }} UploadEvents
 */

/**
 * Sends file as the raw body of POST url, with upload progress; tries again after a network
 * error or a 503, at most 4 tries in all (above). abort() cancels it: the request is dropped
 * (the server keeps nothing of a body cut short) and done is not called.
 * @param {string} url
 * @param {Blob} file
 * @param {Record<string, string>} headers
 * @param {UploadEvents} on
 * @returns {{ abort: () => void }}
 */
export function uploadFile(url, file, headers, on) {
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
