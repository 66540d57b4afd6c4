// @ts-check
/* A short message in the page's #toast box (role=status, so screen readers hear it), gone
 * after a few seconds; a new one replaces the last. */

var hideTimer = 0;

/**
 * @param {string} text
 */
export function toast(text) {
  var box = /** @type {HTMLElement} */ (document.getElementById('toast'));
  box.textContent = text;
  box.hidden = false;
  clearTimeout(hideTimer);
  hideTimer = setTimeout(function () { box.hidden = true; }, 4500);
}
