#!/usr/bin/env node
// Helpers are imported, not copied (widget/shared/). The one exception is the visitor widget:
// widget/beckon.js is a classic script that third-party pages embed with one <script> tag, so it
// cannot import; it carries verbatim copies of the shared functions it needs, and so do the
// scripts it loads on demand (widget/beckon-files.js, beckon-flows.js, beckon-rating.js). This
// test keeps that honest, with node only (no browser), and prints TAP:
//   - every copy each script is expected to carry is there and is the same text as its original
//     (comments and layout aside), and so is the module state the copies use (`var audio`);
//   - neither script has another function with a shared function's name or text (a new copy must
//     be added to COPIES, so that it is compared from then on);
//   - the agent panel and the rules editor declare none of the shared functions: they import them.
//
//   BECKON_SOURCE_ROOT  the source tree (default: ../..)
import { readFileSync, readdirSync } from 'node:fs';
import { join, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const ROOT = resolve(process.env.BECKON_SOURCE_ROOT || join(here, '..', '..'));
const WIDGET = join(ROOT, 'widget');

// The functions each classic script carries, by the shared module they come from.
const SCRIPTS = {
  'beckon.js': {
    'dom.js': ['el'],
    'ids.js': ['compareIds', 'randomHex'],
    'backoff.js': ['retryDelay'],
    'storage.js': ['storeValue'],
    'time.js': ['clockTime'],
    'sound.js': ['unlockAudio', 'beep', 'tone'],
  },
  'beckon-files.js': {
    'dom.js': ['el'],
    'ids.js': ['randomHex'],
    'backoff.js': ['retryDelay'],
    'files.js': ['humanSize', 'fileKind', 'linkExpired', 'uploadFile'],
  },
  'beckon-flows.js': {
    'dom.js': ['el'],
    'ids.js': ['compareIds'],
  },
  'beckon-rating.js': {
    'dom.js': ['el'],
  },
};
// Pages that import the shared modules and may hold no copy of them.
const IMPORTERS = ['agent/agent.js', 'agent/files.js', 'rules/rules.js'];

/* ---------- a small scanner: enough JavaScript to find a function's end ---------- */

// The end (index after) of the string, template, comment or regular expression starting at i,
// or -1 when source[i] starts none of them. A '/' starts a regular expression where a value is
// expected: after an operator or punctuation, or at the start.
function skipToken(source, i) {
  const c = source[i], next = source[i + 1];
  if (c === '/' && next === '/') { const end = source.indexOf('\n', i); return end < 0 ? source.length : end; }
  if (c === '/' && next === '*') return source.indexOf('*/', i + 2) + 2;
  if (c === "'" || c === '"' || c === '`') {
    let j = i + 1;
    while (j < source.length && source[j] !== c) j += source[j] === '\\' ? 2 : 1;
    return j + 1;
  }
  if (c === '/') {
    const before = source.slice(0, i).trimEnd();
    if (before === '' || /[(,=:[!&|?{};+\-*%<>~^]$|\breturn$|\btypeof$/.test(before)) {
      let j = i + 1, inClass = false;
      while (j < source.length && (source[j] !== '/' || inClass)) {
        if (source[j] === '\\') j++;
        else if (source[j] === '[') inClass = true;
        else if (source[j] === ']') inClass = false;
        j++;
      }
      j++;
      while (/[a-z]/i.test(source[j] || '')) j++;
      return j;
    }
  }
  return -1;
}

// Every `function NAME(...) {...}` declaration in source: name -> text (also nested ones).
function functions(source) {
  const found = new Map();
  const re = /\bfunction\s+([A-Za-z_$][\w$]*)\s*\(/g;
  let m;
  while ((m = re.exec(source))) {
    let i = source.indexOf('{', m.index), depth = 0;
    for (; i < source.length; i++) {
      const skip = skipToken(source, i);
      if (skip >= 0) { i = skip - 1; continue; }
      if (source[i] === '{') depth++;
      else if (source[i] === '}' && --depth === 0) break;
    }
    if (!found.has(m[1])) found.set(m[1], source.slice(m.index, i + 1));
  }
  return found;
}

// Text without comments and with all layout reduced to single spaces: what is compared.
function normalize(text) {
  let out = '';
  for (let i = 0; i < text.length;) {
    const skip = skipToken(text, i);
    if (skip >= 0 && text[i] === '/' && (text[i + 1] === '/' || text[i + 1] === '*')) { out += ' '; i = skip; continue; }
    if (skip >= 0) { out += text.slice(i, skip); i = skip; continue; }
    out += text[i++];
  }
  return out.replace(/\s+/g, ' ').replace(/\s*([(){}[\];,])\s*/g, '$1').trim();
}
const withoutName = (text, name) => normalize(text).replace(new RegExp('^function ' + name + '\\('), 'function (');

/* ---------- TAP ---------- */
let n = 0, failed = 0;
function check(ok, name, detail) {
  n++;
  if (!ok) failed++;
  process.stdout.write(`${ok ? 'ok' : 'not ok'} ${n} - ${name}\n`);
  if (!ok && detail) process.stdout.write(detail.split('\n').map((l) => `# ${l}`).join('\n') + '\n');
}

const read = (path) => readFileSync(join(WIDGET, path), 'utf8');
const shared = new Map(); // name -> {module, text}
for (const file of readdirSync(join(WIDGET, 'shared')).filter((f) => f.endsWith('.js')).sort()) {
  for (const [name, text] of functions(read(join('shared', file)))) shared.set(name, { module: file, text });
}

for (const [script, COPIES] of Object.entries(SCRIPTS)) {
  const source = read(script), scriptFunctions = functions(source);
  for (const [module, names] of Object.entries(COPIES)) {
    const moduleText = read(join('shared', module));
    for (const name of names) {
      const original = shared.get(name), copy = scriptFunctions.get(name);
      if (!original || original.module !== module) { check(false, `shared/${module} has ${name}()`); continue; }
      check(!!copy && normalize(copy) === normalize(original.text), `${script}: ${name}() is shared/${module}'s`,
        copy ? `shared/${module}:\n${normalize(original.text)}\n${script}:\n${normalize(copy)}` : `${script} has no such function`);
    }
    // The module state the copies use (e.g. sound.js's `var audio = null;`), declared alike.
    for (const line of moduleText.split('\n').filter((l) => /^var /.test(l))) {
      check(source.split('\n').some((l) => l.trim() === line.trim()), `${script} declares shared/${module}'s ${line.trim()}`);
    }
  }

  const copied = new Set(Object.values(COPIES).flat());
  const strays = [];
  for (const [name, text] of scriptFunctions) {
    if (copied.has(name)) continue;
    if (shared.has(name)) strays.push(`${name}() has the name of shared/${shared.get(name).module}'s`);
    for (const [sharedName, original] of shared) {
      if (withoutName(text, name) === withoutName(original.text, sharedName)) strays.push(`${name}() is shared/${original.module}'s ${sharedName}()`);
    }
  }
  check(strays.length === 0, `${script} holds no other copy of a shared function (add it to SCRIPTS)`, strays.join('\n'));
}

for (const page of IMPORTERS) {
  const copies = [];
  for (const [name, text] of functions(read(page))) {
    for (const [sharedName, original] of shared) {
      if (name === sharedName || withoutName(text, name) === withoutName(original.text, sharedName)) {
        copies.push(`${name}(): shared/${original.module} has ${sharedName}()`);
      }
    }
  }
  check(copies.length === 0, `${page} imports the shared helpers and copies none`, copies.join('\n'));
}

process.stdout.write(`1..${n}\n`);
process.exitCode = failed ? 1 : 0;
