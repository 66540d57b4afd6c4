// @ts-check
/* A help article's body as the server parses it (server/help/help_markdown.h: a whitelist of
 * blocks and inlines), built with createElement and textContent: nothing is parsed as HTML.
 * The agent panel's Articles preview imports it; the visitor widget's beckon-help.js carries a
 * verbatim copy (a classic script cannot import; tests/browser/shared_copies.mjs compares). */
import { el } from './dom.js';

/**
 * Appends inlines (strings, em, strong, code, a, img, br) to parent. Links only to http(s),
 * images only by path or http(s): the server allowed no other, and nothing else is drawn.
 * @param {Element} parent
 * @param {any[]} items
 */
export function helpInlines(parent, items) {
  (items || []).forEach(function (item) {
    if (typeof item === 'string') return parent.append(item);
    var node = null;
    if (item.t === 'em' || item.t === 'strong') {
      node = el(item.t);
      helpInlines(node, item.c);
    } else if (item.t === 'code') {
      node = el('code', null, item.text);
    } else if (item.t === 'br') {
      node = el('br');
    } else if (item.t === 'a' && /^https?:\/\//i.test(item.href)) {
      node = el('a', null, null, { href: item.href, target: '_blank', rel: 'noopener noreferrer nofollow' });
      helpInlines(node, item.c);
    } else if (item.t === 'img' && /^(\/(?!\/)|https?:\/\/)/i.test(item.src)) {
      node = el('img', null, null, { src: item.src, alt: item.alt || '', loading: 'lazy' });
    }
    if (node) parent.append(node);
  });
}

/**
 * Appends blocks (h, p, ul, ol, pre, hr) to parent; headings as h4 (levels 1-2) and h5 (3-6),
 * under the article's own title.
 * @param {Element} parent
 * @param {any[]} blocks
 */
export function helpBlocks(parent, blocks) {
  (blocks || []).forEach(function (block) {
    var node = null;
    if (block.t === 'h') {
      node = el(block.level <= 2 ? 'h4' : 'h5');
      helpInlines(node, block.c);
    } else if (block.t === 'p') {
      node = el('p');
      helpInlines(node, block.c);
    } else if (block.t === 'pre') {
      node = el('pre', null, block.text);
    } else if (block.t === 'hr') {
      node = el('hr');
    } else if (block.t === 'ul' || block.t === 'ol') {
      var list = el(block.t, null, null, block.t === 'ol' && block.start !== 1 ? { start: String(block.start) } : {});
      (block.items || []).forEach(function (/** @type {any[]} */ item) {
        var li = el('li');
        helpBlocks(li, item);
        list.append(li);
      });
      node = list;
    }
    if (node) parent.append(node);
  });
}
