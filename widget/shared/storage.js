// @ts-check
/* localStorage and sessionStorage, for what a page keeps across reloads. Private mode and
 * blocked storage must not break a page: then nothing is kept and every read is null.
 * storeValue() is carried verbatim by beckon.js (tests/browser/shared_copies.mjs). */

/**
 * Read (value undefined), write (a string) or remove (null) one key.
 * @param {'localStorage' | 'sessionStorage'} area
 * @param {string} key
 * @param {string | null} [value]
 * @returns {string | null} the value read; null after a write or a remove
 */
export function storeValue(area, key, value) {
  try {
    var store = window[area];
    if (value === undefined) return store.getItem(key);
    if (value === null) store.removeItem(key); else store.setItem(key, value);
  } catch (e) { /* storage unavailable */ }
  return null;
}

/**
 * sessionStorage (per tab, gone with it): the pages' sign-in tokens.
 * @param {string} key
 * @param {string | null} [value]
 * @returns {string | null}
 */
export function sessionValue(key, value) {
  return storeValue('sessionStorage', key, value);
}

/**
 * localStorage (per browser, shared by its tabs).
 * @param {string} key
 * @param {string | null} [value]
 * @returns {string | null}
 */
export function localValue(key, value) {
  return storeValue('localStorage', key, value);
}
