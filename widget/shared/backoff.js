// @ts-check
/* How long to wait before trying the server again: exponential backoff with full jitter, so
 * that the clients of a server that comes back do not all return in the same instant.
 * Used for the sockets (panel, widget) and for REST calls that may be repeated (api.js);
 * carried verbatim by beckon.js (tests/browser/shared_copies.mjs). */

/**
 * Milliseconds to wait before try number attempt + 1 (attempt 0: 250-750 ms; the random part
 * doubles each time up to 30 s).
 * @param {number} attempt tries that failed so far, 0 for the first retry
 * @returns {number}
 */
export function retryDelay(attempt) {
  return 250 + Math.random() * Math.min(30000, 500 * Math.pow(2, attempt));
}
