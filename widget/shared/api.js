// @ts-check
/* Beckon's REST API as its own pages call it (docs/protocol.md, "HTTP"), with ONE policy for
 * what an answer means, so that the agent panel and the rules editor cannot drift apart:
 *
 *   401            signed out: the session is unknown or expired. The page forgets its token
 *                  and shows the sign-in form (policy.onSignedOut).
 *   403            this role may not do this: the page says so (policy.onForbidden); the rules
 *                  editor, all of whose routes are for marketers, signs out.
 *   503, no answer the server or its storage is busy or away: that is no reason to sign out.
 *                  A request that may be sent twice (GET, PUT, and the checks POST
 *                  .../validate and .../test) is sent again with backoff (backoff.js) while
 *                  the page says it is reconnecting (policy.onRetrying); any other request
 *                  gives its 503 to the caller, or rejects when there was no answer.
 *
 * 401 and 403 reject the promise (with an ApiError) after the policy ran, so that callers
 * only handle the answers they asked for. */

import { retryDelay } from './backoff.js';
import { toast } from './toast.js';

/**
 * An answer: the HTTP status, the body as text and as JSON ({} when it is not JSON), the headers.
 * @typedef {{ status: number, body: any, text: string, headers: Headers }} ApiReply
 */

/**
 * What a page does when the policy says so.
 * @typedef {object} ApiPolicy
 * @property {() => string | null} token the session token (null: signed out)
 * @property {() => void} onSignedOut a 401: forget the token, show the sign-in form
 * @property {(reply: ApiReply) => void} onForbidden a 403: say that the role may not
 * @property {(waiting: boolean) => void} [onRetrying] requests are waiting for the server (true) or not any more
 */

/** Why a call did not give its caller an answer: 'signed-out', 'forbidden' or 'unreachable'. */
export class ApiError extends Error {
  /**
   * @param {'signed-out' | 'forbidden' | 'unreachable'} kind
   * @param {string} message
   */
  constructor(kind, message) {
    super(message);
    this.kind = kind;
  }
}

/**
 * One request, no policy: for /api/login, where 401 means a wrong password.
 * @param {string} method
 * @param {string} path
 * @param {any} [body] sent as JSON; a string is sent as it is (text the user typed as JSON)
 * @param {Record<string, string>} [headers]
 * @returns {Promise<ApiReply>} rejects only when there was no answer
 */
export function request(method, path, body, headers) {
  /** @type {RequestInit & { headers: Record<string, string> }} */
  var init = { method: method, headers: Object.assign({}, headers) };
  if (body !== undefined) {
    init.headers['content-type'] = 'application/json';
    init.body = typeof body === 'string' ? body : JSON.stringify(body);
  }
  return fetch(path, init).then(function (response) {
    return response.text().then(function (text) {
      var parsed = null;
      try { parsed = text ? JSON.parse(text) : null; } catch (e) { /* not JSON (a CSV file) */ }
      return { status: response.status, body: parsed || {}, text: text, headers: response.headers };
    });
  });
}

/**
 * The error an answer carries, for people: "path: message", or the status.
 * @param {ApiReply} reply
 * @returns {string}
 */
export function errorText(reply) {
  var error = reply.body && reply.body.error;
  return error ? (error.path ? error.path + ': ' : '') + error.message : 'The server answered ' + reply.status + '.';
}

/**
 * The page's API function, with its token and its reactions to the policy.
 * @param {ApiPolicy} policy
 * @returns {(method: string, path: string, body?: any) => Promise<ApiReply>}
 */
export function createApi(policy) {
  var waiting = 0; // requests waiting to be sent again
  /** @param {number} delta */
  function setWaiting(delta) {
    var before = waiting;
    waiting += delta;
    if (policy.onRetrying && (before === 0) !== (waiting === 0)) policy.onRetrying(waiting > 0);
  }

  return function api(method, path, body) {
    var repeatable = method === 'GET' || method === 'PUT' || /\/(validate|test)$/.test(path);
    var attempt = 0;

    /** @param {() => any} giveUp */
    function later(giveUp) {
      if (!repeatable || !policy.token()) return giveUp();
      if (attempt === 0) setWaiting(1);
      return new Promise(function (resolve) { setTimeout(resolve, retryDelay(attempt++)); }).then(function () {
        if (policy.token()) return once();
        settled();
        throw new ApiError('signed-out', 'You are signed out.');
      });
    }
    function settled() {
      if (attempt > 0) { setWaiting(-1); attempt = 0; }
    }
    /** @returns {Promise<ApiReply>} */
    function once() {
      return request(method, path, body, { authorization: 'Bearer ' + (policy.token() || '') }).then(function (reply) {
        if (reply.status === 503) return later(function () { settled(); return reply; });
        settled();
        if (reply.status === 401) {
          policy.onSignedOut();
          throw new ApiError('signed-out', 'Your session has expired. Please sign in again.');
        }
        if (reply.status === 403) {
          policy.onForbidden(reply);
          throw new ApiError('forbidden', errorText(reply));
        }
        return reply;
      }, function () {
        return later(function () {
          settled();
          toast('The server cannot be reached. Try again.');
          throw new ApiError('unreachable', 'The server cannot be reached.');
        });
      });
    }
    return once();
  };
}
