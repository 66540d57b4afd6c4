// @ts-check
/* The sign-in form of the agent panel and the rules editor (the same markup in both pages:
 * #login with #login-form, #login-name, #login-password, #login-submit, #login-error; the
 * page itself is #app). The session token lives in sessionStorage: per tab, gone with it. */

import { $ } from './dom.js';
import { request } from './api.js';
import { sessionValue } from './storage.js';

/**
 * @typedef {object} LoginOptions
 * @property {string} tokenKey sessionStorage key of the session token
 * @property {string} nameKey sessionStorage key of the last name signed in with (filled in next time)
 * @property {(body: any) => string} [refuse] why this account may not use the page ('' if it may);
 *   body is /api/login's answer ({token, agent: {name, role}})
 * @property {(body: any) => void} signedIn the token is stored: start the page
 */

/**
 * Show the sign-in form instead of the page, with a message (why it is shown).
 * @param {string} message
 * @param {string} nameKey
 */
export function showLogin(message, nameKey) {
  $('app').hidden = true;
  $('login').hidden = false;
  $('login-error').textContent = message || '';
  $('login-name').value = $('login-name').value || sessionValue(nameKey) || '';
  ($('login-name').value ? $('login-password') : $('login-name')).focus();
}

/**
 * Handle the form's submissions: POST /api/login, keep the token, start the page.
 * @param {LoginOptions} options
 */
export function handleLogin(options) {
  $('login-form').addEventListener('submit', function (/** @type {Event} */ event) {
    event.preventDefault();
    var name = $('login-name').value.trim(), password = $('login-password').value;
    if (!name || !password) { $('login-error').textContent = 'Enter your name and password.'; return; }
    $('login-submit').disabled = true;
    $('login-error').textContent = '';
    request('POST', '/api/login', { name: name, password: password })
      .then(function (reply) {
        if (reply.status !== 200 || !reply.body.token) {
          $('login-error').textContent = reply.status === 401 ? 'Wrong name or password.'
            : (reply.body.error && reply.body.error.message) || 'Sign-in failed (' + reply.status + ').';
          return;
        }
        sessionValue(options.nameKey, name);
        $('login-password').value = '';
        var refusal = options.refuse ? options.refuse(reply.body) : '';
        if (refusal) { $('login-error').textContent = refusal; return; }
        sessionValue(options.tokenKey, reply.body.token);
        options.signedIn(reply.body);
      }, function () { $('login-error').textContent = 'The server cannot be reached. Try again.'; })
      .then(function () { $('login-submit').disabled = false; });
  });
}
