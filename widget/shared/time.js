// @ts-check
/* Times and durations as people read them, in the browser's language (or the one given).
 * Timestamps are milliseconds since the epoch, as the server sends them. clockTime() is
 * carried verbatim by beckon.js (tests/browser/shared_copies.mjs). */

/**
 * "14:05" (or "2:05 PM"): the time of day.
 * @param {number} ts
 * @param {string} [locale] default: the browser's
 * @returns {string}
 */
export function clockTime(ts, locale) {
  return new Date(ts).toLocaleTimeString(locale || [], { hour: '2-digit', minute: '2-digit' });
}

/**
 * "3 Mar 2025": the day.
 * @param {number} ts
 * @returns {string}
 */
export function calendarDay(ts) {
  return new Date(ts).toLocaleDateString([], { day: 'numeric', month: 'short', year: 'numeric' });
}

/**
 * "3 Mar, 14:05": day and time without the year ('' without a time).
 * @param {number} ts
 * @returns {string}
 */
export function dayAndTime(ts) {
  if (!ts) return '';
  return new Date(ts).toLocaleString([], { day: 'numeric', month: 'short', hour: '2-digit', minute: '2-digit' });
}

/**
 * "3 Mar 2025, 14:05" ('' without a time).
 * @param {number} ts
 * @returns {string}
 */
export function dateAndTime(ts) {
  if (!ts) return '';
  return new Date(ts).toLocaleString([], { day: 'numeric', month: 'short', year: 'numeric', hour: '2-digit', minute: '2-digit' });
}

/**
 * For lists: day and time this year, the day alone in an earlier year ('' without a time).
 * @param {number} ts
 * @returns {string}
 */
export function shortDateAndTime(ts) {
  if (!ts) return '';
  return new Date(ts).getFullYear() === new Date().getFullYear() ? dayAndTime(ts) : calendarDay(ts);
}

/**
 * Whole seconds as "42 s", "3 min 05 s" or "1 h 02 min".
 * @param {number} seconds
 * @returns {string}
 */
export function duration(seconds) {
  if (seconds < 60) return seconds + ' s';
  var minutes = Math.floor(seconds / 60);
  if (minutes < 60) return minutes + ' min ' + String(seconds % 60).padStart(2, '0') + ' s';
  return Math.floor(minutes / 60) + ' h ' + String(minutes % 60).padStart(2, '0') + ' min';
}

/**
 * The UTC day "YYYY-MM-DD" of a date (the statistics count UTC days).
 * @param {Date} date
 * @returns {string}
 */
export function isoDay(date) {
  return date.toISOString().slice(0, 10);
}

/**
 * The UTC day n days after (n < 0: before) the day "YYYY-MM-DD".
 * @param {string} day
 * @param {number} n
 * @returns {string}
 */
export function addDays(day, n) {
  var date = new Date(day + 'T00:00:00Z');
  date.setUTCDate(date.getUTCDate() + n);
  return isoDay(date);
}
