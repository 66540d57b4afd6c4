// @ts-check
/* Message ids. The server's ids are Redis stream ids "ms-seq" (docs/protocol.md): ordered by
 * time, then by sequence. A client names its own message before the server has seen it
 * (cmid): a prefix and random hex, so a resend after a lost ack is recognised as the same.
 * Both functions are carried verbatim by beckon.js (tests/browser/shared_copies.mjs). */

/**
 * The order of two stream ids: negative, 0 or positive. '' (none yet) comes before any id.
 * @param {string} a
 * @param {string} b
 * @returns {number}
 */
export function compareIds(a, b) {
  if (!a) return b ? -1 : 0;
  if (!b) return 1;
  var x = a.split('-'), y = b.split('-');
  return (+x[0] - +y[0]) || (+x[1] - +y[1]);
}

/**
 * 16 random hex digits (64 bits: collisions between one client's messages are not a concern).
 * @returns {string}
 */
export function randomHex() {
  return Array.from(crypto.getRandomValues(new Uint8Array(8)), function (byte) {
    return (byte + 256).toString(16).slice(1);
  }).join('');
}
