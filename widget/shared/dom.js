// @ts-check
/* DOM helpers for Beckon's pages. Text goes in through textContent only, never innerHTML:
 * visitors and agents type what these elements show.
 * el() is carried verbatim by the visitor widget (beckon.js, a classic script), so it is written
 * as a classic script can hold it; tests/browser/shared_copies.mjs keeps the two the same. */

/**
 * The page's element with this id. Pages are written with their ids: a missing one is a bug
 * in the page, not a state to handle.
 * @param {string} id
 * @returns {any} (any HTMLElement subtype; the page knows which)
 */
export function $(id) {
  return document.getElementById(id);
}

/**
 * A new element <tag class="className">text</tag> with these attributes; null and undefined
 * attributes are left out, so callers can write `{ list: maybeList }`.
 * @param {string} tag
 * @param {string | null} [className]
 * @param {string | null} [text]
 * @param {Record<string, string | null | undefined>} [attributes]
 * @returns {any} (the element for tag; the caller knows which)
 */
export function el(tag, className, text, attributes) {
  var node = document.createElement(tag);
  if (className) node.className = className;
  if (text != null) node.textContent = text;
  for (var name in attributes) {
    var value = attributes[name];
    if (value != null) node.setAttribute(name, value);
  }
  return node;
}
