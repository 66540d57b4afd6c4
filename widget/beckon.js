/*! Beckon visitor widget, protocol v1 (docs/protocol.md). One classic script, no build step.
 * Embed: <script src="https://HOST/beckon.js" data-site="SITE" async></script>; the attributes
 * (data-lang, data-consent) and the JS API (window.Beckon) are described in docs/widget.md.
 * All UI lives in a Shadow DOM; all user text goes through textContent, never innerHTML. */
(function () {
  'use strict';
  var W = window, D = document;
  if (W.Beckon && W.Beckon.version) return; // loaded twice: keep the first

  /* ---------- where we come from ---------- */
  var script = D.currentScript;
  if (!script) {
    var all = D.querySelectorAll('script[src]');
    for (var i = all.length - 1; i >= 0; i--) if (/beckon\.js(\?|#|$)/.test(all[i].src)) { script = all[i]; break; }
  }
  var src = new URL(script ? script.src : '/beckon.js', location.href);
  var WS_URL = (src.protocol === 'https:' ? 'wss://' : 'ws://') + src.host + '/ws';
  var SITE = (script && script.getAttribute('data-site')) || 'default';
  var CONSENT = script && script.getAttribute('data-consent');
  var KEY = 'beckon:' + src.host + ':' + SITE + ':';

  /* ---------- language ---------- */
  var STR = {
    en: {
      title: 'Chat with us', open: 'Open chat', close: 'Close chat', write_message: 'Write a message…', send: 'Send',
      intro: 'Hi! Ask us anything — we usually reply within a few minutes.',
      nobody_online: "No one is online right now. Leave a message and we'll get back to you by email.",
      closed_until: "We're closed right now and back {n}. Leave a message and we'll reply by email.",
      closed_now: "We're closed right now. Leave a message and we'll reply by email.", at: 'at ',
      name_optional: 'Name (optional)', email: 'Email', your_message: 'Your message', send_message: 'Send message', message_left: "Thank you! We'll reply to {n}.",
      queued: 'Waiting for an agent…', active: "You're chatting with {n}", chat_ended: 'The chat has ended',
      sending: 'Sending…', sent: 'Sent', seen: 'Seen', failed: 'Not sent', retry: 'Retry',
      typing: '{n} is typing…', gap: 'Some earlier messages could not be loaded.',
      reconnecting: 'Connection lost — reconnecting…',
      support: 'Support', new_message: 'New message', unread: '{n} unread', reply: 'Reply', no_thanks: 'No thanks',
      queue_position: 'You are number {n} in the queue', queue_wait: 'about {n} min', leave_message: 'Leave a message',
      queue_nobody_online: "No one is online right now — leave a message and we'll write back", offer_email: 'Rather get the answer by email?', email_transcript: 'Email me the transcript', by_email: 'by email'
    },
    da: {
      title: 'Chat med os', open: 'Åbn chat', close: 'Luk chat', write_message: 'Skriv en besked…', send: 'Send',
      intro: 'Hej! Spørg os om hvad som helst — vi svarer normalt inden for få minutter.',
      nobody_online: 'Ingen er online lige nu. Skriv en besked, så vender vi tilbage på e-mail.',
      closed_until: 'Vi har lukket lige nu og er tilbage {n}. Skriv en besked, så svarer vi på e-mail.',
      closed_now: 'Vi har lukket lige nu. Skriv en besked, så svarer vi på e-mail.', at: 'kl. ',
      name_optional: 'Navn (valgfrit)', email: 'E-mail', your_message: 'Din besked', send_message: 'Send besked', message_left: 'Tak! Vi svarer til {n}.',
      queued: 'Venter på en medarbejder…', active: 'Du chatter med {n}', chat_ended: 'Chatten er afsluttet',
      sending: 'Sender…', sent: 'Sendt', seen: 'Set', failed: 'Ikke sendt', retry: 'Prøv igen',
      typing: '{n} skriver…', gap: 'Nogle tidligere beskeder kunne ikke hentes.',
      reconnecting: 'Forbindelsen blev afbrudt — forbinder igen…',
      support: 'Support', new_message: 'Ny besked', unread: '{n} ulæste', reply: 'Svar', no_thanks: 'Nej tak',
      queue_position: 'Du er nummer {n} i køen', queue_wait: 'ca. {n} min', leave_message: 'Skriv en besked',
      queue_nobody_online: 'Ingen er online lige nu — skriv en besked, så skriver vi tilbage', offer_email: 'Vil du hellere have svaret på e-mail?', email_transcript: 'Send mig udskriften på e-mail', by_email: 'via e-mail'
    },
    nb: {
      title: 'Chat med oss', open: 'Åpne chat', close: 'Lukk chat', write_message: 'Skriv en melding…', send: 'Send',
      intro: 'Hei! Spør oss om hva som helst — vi svarer vanligvis innen noen få minutter.',
      nobody_online: 'Ingen er pålogget akkurat nå. Legg igjen en melding, så svarer vi på e-post.',
      closed_until: 'Vi har stengt nå og er tilbake {n}. Legg igjen en melding, så svarer vi på e-post.',
      closed_now: 'Vi har stengt nå. Legg igjen en melding, så svarer vi på e-post.', at: 'kl. ',
      name_optional: 'Navn (valgfritt)', email: 'E-post', your_message: 'Din melding', send_message: 'Send melding', message_left: 'Takk! Vi svarer til {n}.',
      queued: 'Venter på en medarbeider…', active: 'Du chatter med {n}', chat_ended: 'Chatten er avsluttet',
      sending: 'Sender…', sent: 'Sendt', seen: 'Sett', failed: 'Ikke sendt', retry: 'Prøv igjen',
      typing: '{n} skriver…', gap: 'Noen tidligere meldinger kunne ikke lastes inn.',
      reconnecting: 'Tilkoblingen ble brutt — kobler til igjen…',
      support: 'Support', new_message: 'Ny melding', unread: '{n} uleste', reply: 'Svar', no_thanks: 'Nei takk',
      queue_position: 'Du er nummer {n} i køen', queue_wait: 'ca. {n} min', leave_message: 'Legg igjen en melding',
      queue_nobody_online: 'Ingen er pålogget akkurat nå — legg igjen en melding, så skriver vi tilbake', offer_email: 'Vil du heller få svaret på e-post?', email_transcript: 'Send meg utskriften på e-post', by_email: 'via e-post'
    }
  };
  var LANG = ((script && script.getAttribute('data-lang')) || D.documentElement.lang || 'en').toLowerCase().split('-')[0];
  if (LANG === 'no' || LANG === 'nn') LANG = 'nb';
  if (!STR[LANG]) LANG = 'en';
  function t(k, n) { return STR[LANG][k].replace('{n}', n); }

  /* ---------- verbatim copies of widget/shared/ functions (checked: tests/browser/shared_copies.mjs) ---------- */
  function el(tag, className, text, attributes) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text != null) node.textContent = text;
    for (var name in attributes) {
      var value = attributes[name];
      if (value != null) node.setAttribute(name, value);
    }
    return node;
  }
  function compareIds(a, b) {
    if (!a) return b ? -1 : 0;
    if (!b) return 1;
    var x = a.split('-'), y = b.split('-');
    return (+x[0] - +y[0]) || (+x[1] - +y[1]);
  }
  function randomHex() {
    return Array.from(crypto.getRandomValues(new Uint8Array(8)), function (byte) {
      return (byte + 256).toString(16).slice(1);
    }).join('');
  }
  function retryDelay(attempt) {
    return 250 + Math.random() * Math.min(30000, 500 * Math.pow(2, attempt));
  }
  function storeValue(area, key, value) {
    try {
      var store = window[area];
      if (value === undefined) return store.getItem(key);
      if (value === null) store.removeItem(key); else store.setItem(key, value);
    } catch (e) { /* storage unavailable */ }
    return null;
  }
  function clockTime(ts, locale) {
    return new Date(ts).toLocaleTimeString(locale || [], { hour: '2-digit', minute: '2-digit' });
  }
  var audio = null;
  function unlockAudio() {
    try {
      if (!audio) {
        var Context = window.AudioContext || (window).webkitAudioContext;
        if (Context) audio = new Context();
      }
      if (audio && audio.state === 'suspended') audio.resume();
    } catch (e) { audio = null; }
  }
  function beep(twice) {
    if (!audio || audio.state !== 'running') return;
    tone(audio, 0, 880);
    if (twice) tone(audio, 0.18, 1175);
  }
  function tone(context, at, frequency) {
    var oscillator = context.createOscillator(), gain = context.createGain(), start = context.currentTime + at;
    oscillator.frequency.value = frequency;
    gain.gain.setValueAtTime(0.0001, start);
    gain.gain.exponentialRampToValueAtTime(0.18, start + 0.02);
    gain.gain.exponentialRampToValueAtTime(0.0001, start + 0.22);
    oscillator.connect(gain);
    gain.connect(context.destination);
    oscillator.start(start);
    oscillator.stop(start + 0.25);
  }

  /* ---------- the widget's own helpers ---------- */
  // Storage under the widget's key (per Beckon host and site): private mode must not break it (storeValue).
  function local(k, v) { return storeValue('localStorage', KEY + k, v); }
  function session(k, v) { return storeValue('sessionStorage', KEY + k, v); }
  function svg(d) {
    var ns = 'http://www.w3.org/2000/svg', s = D.createElementNS(ns, 'svg'), p = D.createElementNS(ns, 'path');
    s.setAttribute('viewBox', '0 0 24 24'); s.setAttribute('aria-hidden', 'true'); s.setAttribute('focusable', 'false');
    p.setAttribute('d', d); s.append(p);
    return s;
  }

  /* ---------- styles (a constructed stylesheet: allowed by a strict CSP, scoped to the shadow root) ---------- */
  var CSS = [
    ':host{all:initial!important;display:block!important;position:static!important;visibility:visible!important;opacity:1!important}',
    '.beckon{--accent:#3454d1;--accent-text:#fff;--bg:#fff;--fg:#1d2330;--muted:#667085;--line:#e4e7ec;--bubble:#f2f4f7;',
    'font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;color:var(--fg);',
    'position:fixed;right:20px;bottom:20px;z-index:2147483000;text-align:left;letter-spacing:normal;text-transform:none}',
    '.beckon *{box-sizing:border-box;font:inherit;color:inherit;margin:0;letter-spacing:inherit}',
    'button{cursor:pointer;border:0;background:none;padding:0}',
    'button:focus-visible,textarea:focus-visible,.log:focus-visible{outline:2px solid var(--accent);outline-offset:2px}',
    '.bubble{width:58px;height:58px;border-radius:50%;background:var(--accent);color:var(--accent-text);display:grid;place-items:center;',
    'box-shadow:0 6px 20px rgba(16,24,40,.25);transition:transform .15s;position:relative;margin-left:auto}',
    '.bubble:hover{transform:scale(1.06)}.bubble svg{width:28px;height:28px}',
    '.badge{position:absolute;top:-3px;right:-3px;min-width:20px;height:20px;padding:0 6px;border-radius:10px;',
    'background:#d92d20;color:#fff;font-size:12px;font-weight:700;line-height:20px;text-align:center}',
    '[hidden]{display:none!important}',
    '.window{position:absolute;right:0;bottom:74px;width:370px;height:min(580px,calc(100vh - 110px));display:flex;',
    'flex-direction:column;background:var(--bg);border-radius:16px;overflow:hidden;',
    'box-shadow:0 12px 48px rgba(16,24,40,.28);animation:in .18s ease-out}',
    '@keyframes in{from{opacity:0;transform:translateY(12px)}}',
    'header{background:var(--accent);color:var(--accent-text);padding:14px 16px;display:flex;align-items:center;gap:10px}',
    'header div{flex:1;min-width:0}.beckon h2{font-size:16px;font-weight:650}',
    '.status,.queue{font-size:12.5px;opacity:.9;min-height:18px}.leave-message-button{font-size:12.5px;text-decoration:underline;font-weight:600}',
    '.offer-email{align-self:center;border:1px solid var(--line);border-radius:12px;padding:10px 34px 10px 12px;position:relative;display:flex;',
    'flex-direction:column;gap:8px}.offer-email .close{position:absolute;top:4px;right:4px;color:var(--muted);width:26px;height:26px}',
    '.close{color:var(--accent-text);width:32px;height:32px;border-radius:8px;display:grid;place-items:center}',
    '.close:hover{background:rgba(255,255,255,.15)}.close svg{width:20px;height:20px}',
    '.banner{background:#fffaeb;color:#93370d;font-size:12.5px;padding:6px 16px;border-bottom:1px solid #fedf89}',
    '.log{flex:1;overflow-y:auto;padding:14px 14px 6px;display:flex;flex-direction:column;gap:6px;overscroll-behavior:contain}',
    '.note{align-self:center;text-align:center;color:var(--muted);font-size:12.5px;max-width:90%;padding:4px 8px}',
    '.gap{background:#fef3f2;color:#b42318;border-radius:8px}',
    '.message{max-width:82%;display:flex;flex-direction:column}.message.visitor{align-self:flex-end;align-items:flex-end}',
    '.message.agent{align-self:flex-start}.message.system{align-self:center;max-width:90%}',
    '.author{font-size:11.5px;color:var(--muted);margin:4px 4px 2px}',
    '.text{padding:8px 12px;border-radius:16px;white-space:pre-wrap;overflow-wrap:anywhere;background:var(--bubble)}',
    '.visitor .text{background:var(--accent);color:var(--accent-text);border-bottom-right-radius:4px}.agent .text{border-bottom-left-radius:4px}',
    '.system .text{background:none;color:var(--muted);font-size:12.5px;text-align:center;padding:2px 8px}',
    '.meta{font-size:11px;color:var(--muted);margin:2px 4px 0;display:flex;gap:6px;align-items:center}',
    '.failed .text{background:#fee4e2;color:#912018}.failed .meta{color:#b42318}',
    '.sending .text{opacity:.7}',
    '.retry{color:var(--accent);text-decoration:underline;font-size:11px;font-weight:600}',
    '.typing{padding:0 18px 6px;color:var(--muted);font-size:12.5px;min-height:0}',
    '.dots{display:inline-flex;gap:3px;margin-right:6px;vertical-align:middle}',
    '.dots i{width:5px;height:5px;border-radius:50%;background:var(--muted);animation:b 1.2s infinite}',
    '.dots i:nth-child(2){animation-delay:.15s}.dots i:nth-child(3){animation-delay:.3s}',
    '@keyframes b{0%,60%,100%{opacity:.3}30%{opacity:1}}',
    '.primary{background:var(--accent);color:var(--accent-text);border-radius:8px;padding:8px 14px;font-weight:600;align-self:flex-start}',
    '.primary:disabled{opacity:.5;cursor:default}',
    'form.composer{display:flex;gap:8px;align-items:flex-end;border-top:1px solid var(--line);padding:10px 12px}',
    '.composer textarea{flex:1;border:1px solid var(--line);border-radius:12px;padding:8px 12px;resize:none;max-height:120px;',
    'min-height:38px;background:var(--bg);overflow-y:auto}',
    '.send{width:38px;height:38px;border-radius:50%;background:var(--accent);color:var(--accent-text);display:grid;place-items:center;flex:none}',
    '.send svg{width:18px;height:18px}svg{fill:currentColor}',
    '.leave-message,.transcript{display:flex;flex-direction:column;gap:8px;border-top:1px solid var(--line);padding:12px}',
    '.leave-message input,.transcript input,.leave-message textarea{border:1px solid var(--line);border-radius:8px;padding:8px 10px;background:var(--bg);resize:none}',
    '.leave-message textarea{height:72px}.leave-message p,.transcript p{color:var(--muted);font-size:12.5px}',
    '.invitation{position:absolute;right:0;bottom:72px;width:300px;background:var(--bg);border-radius:14px;padding:14px 16px;',
    'box-shadow:0 10px 36px rgba(16,24,40,.25);animation:in .18s ease-out}.beckon.open .invitation{display:none}',
    '.invitation .author{margin:0 0 4px}.invitation .invitation-text{white-space:pre-wrap;overflow-wrap:anywhere;margin-right:18px}',
    '.invitation .actions{display:flex;gap:8px;margin-top:10px;align-items:center}.invitation .actions .link{color:var(--muted);text-decoration:underline}',
    '.invitation .close{position:absolute;top:6px;right:6px;color:var(--muted);width:26px;height:26px}',
    '@media (max-width:480px){.invitation{width:calc(100vw - 24px)}.beckon{right:12px;bottom:12px}.beckon.open .bubble{display:none}',
    '.window{position:fixed;inset:0;width:auto;height:auto;border-radius:0;bottom:0}}',
    '@media (prefers-reduced-motion:reduce){.beckon *{animation:none!important;transition:none!important}}'
  ].join('');

  /* ---------- UI ---------- */
  var host = D.createElement('beckon-chat');
  var root = host.attachShadow({ mode: 'open' });
  if (root.adoptedStyleSheets) {
    var sheet = new CSSStyleSheet(); sheet.replaceSync(CSS); root.adoptedStyleSheets = [sheet];
  } else {
    root.append(el('style', null, CSS)); // old browsers only; a strict CSP may block this
  }
  var ICON_CHAT = 'M4 4h16a2 2 0 0 1 2 2v10a2 2 0 0 1-2 2H8l-4 4V6a2 2 0 0 1 2-2z';
  var ICON_X = 'M18.3 5.7 12 12l6.3 6.3-1.4 1.4L12 13.4l-6.3 6.3-1.4-1.4L10.6 12 4.3 5.7l1.4-1.4L12 10.6l6.3-6.3z';
  var ICON_SEND = 'M3 20.5 21 12 3 3.5v6.6l12 1.9-12 1.9z';

  var wrap = el('div', 'beckon');
  var bub = el('button', 'bubble', null, { type: 'button', 'aria-label': t('open'), 'aria-expanded': 'false', 'aria-controls': 'bk-window', part: 'bubble' });
  var badge = el('span', 'badge', '', { hidden: '' });
  bub.append(svg(ICON_CHAT), badge);
  var win = el('section', 'window', null, { id: 'bk-window', role: 'dialog', 'aria-labelledby': 'bk-title', hidden: '' });
  var head = el('header');
  var hd = el('div');
  var status = el('p', 'status', '', { role: 'status' });
  // The queue line (position, expected wait, or nobody online + a button for the form) under the state.
  var qline = el('p', 'queue', null, { role: 'status', hidden: '' }), qtext = el('span');
  var qbtn = el('button', 'leave-message-button', t('leave_message'), { type: 'button' });
  qline.append(qtext, ' ', qbtn);
  hd.append(el('h2', null, t('title'), { id: 'bk-title' }), status, qline);
  var xbtn = el('button', 'close', null, { type: 'button', 'aria-label': t('close') });
  xbtn.append(svg(ICON_X));
  head.append(hd, xbtn);
  var banner = el('div', 'banner', t('reconnecting'), { role: 'alert', hidden: '' });
  var log = el('div', 'log', null, { role: 'log', 'aria-live': 'polite', 'aria-relevant': 'additions', tabindex: '0', 'aria-label': t('title') });
  var intro = el('p', 'note', t('intro'));
  log.append(intro);
  var typ = el('div', 'typing', null, { hidden: '' });
  var rate = el('div', 'rating', null, { hidden: '' });
  var form = el('form', 'composer');
  var ta = el('textarea', null, null, { rows: '1', maxlength: '4000', placeholder: t('write_message'), id: 'bk-input', 'aria-label': t('write_message'), enterkeyhint: 'send' });
  var send = el('button', 'send', null, { type: 'submit', 'aria-label': t('send') });
  send.append(svg(ICON_SEND));
  form.append(ta, send);
  // Leave a message (no agent online and no open conversation): sent as `leave_message`.
  var lmf = el('form', 'leave-message', null, { hidden: '' });
  var lmName = el('input', null, null, { maxlength: '100', autocomplete: 'name', placeholder: t('name_optional'), 'aria-label': t('name_optional') });
  var lmMail = el('input', null, null, { type: 'email', required: '', maxlength: '254', autocomplete: 'email', placeholder: t('email'), 'aria-label': t('email') });
  var lmText = el('textarea', null, null, { required: '', maxlength: '4000', placeholder: t('your_message'), 'aria-label': t('your_message') });
  var lmGo = el('button', 'primary', t('send_message'), { type: 'submit' });
  lmf.append(lmName, lmMail, lmText, lmGo);
  // Transcript by email (welcome.transcript_email): under a closed chat an agent answered.
  var trf = el('form', 'transcript', null, { hidden: '' }), trMail = lmMail.cloneNode(), trGo = el('button', 'primary', t('email_transcript'));
  var trSt = el('p', null, null, { role: 'status' }), trOn = false, knownMail = '';
  trf.append(trMail, trGo, trSt);
  win.append(head, banner, log, typ, rate, trf, form, lmf);
  wrap.append(win, bub);
  root.append(wrap);

  /* ---------- state ---------- */
  var ws = null, ready = false, wasReady = false, attempt = 0, retryTimer = 0, reqN = 0;
  var visitor = null, agentsOnline = 0;
  var conv = null;              // {id, state, agent}
  var lastId = '';              // newest message id seen in conv
  var msgs = {};                // id -> {el, m}
  var pend = {};                // cmid -> {el, text, state, timer}
  var seenUpTo = '';            // agent has read up to
  var isOpen = false;
  var handlers = { ready: [], message: [], open: [], close: [] };
  var waiting = {};             // req -> fn(reply)
  var qpos = null;              // the last queue_position push for conv
  var consent = CONSENT === 'granted' ? true : null, consentReq = CONSENT === 'required', helloPage = false;
  // Browsing data (page_view, event) may be sent: not before consent where it is required.
  function tracking() { return consent === true || (consent !== false && !consentReq); }

  function emit(ev, arg) {
    handlers[ev].forEach(function (fn) { try { fn(arg); } catch (e) { setTimeout(function () { throw e; }); } });
  }
  function sendRaw(obj, cb) {
    if (!ws || ws.readyState !== 1 || (!ready && obj.type !== 'hello')) return false;
    obj.req = ++reqN;
    if (cb) waiting[obj.req] = cb;
    ws.send(JSON.stringify(obj));
    return true;
  }

  /* ---------- connection: exponential backoff with full jitter ---------- */
  function connect() {
    clearTimeout(retryTimer);
    if (ws) return;
    try { ws = new WebSocket(WS_URL, 'beckon-visitor.v1'); } catch (e) { return schedule(); }
    ws.onopen = hello;
    ws.onmessage = function (ev) {
      var m;
      try { m = JSON.parse(ev.data); } catch (e) { return; }
      onFrame(m);
    };
    ws.onclose = function () {
      ws = null; ready = false; waiting = {};
      for (var c in pend) if (pend[c].state === 'sending') armFail(c, 1);
      schedule();
    };
  }
  function schedule() {
    retryTimer = setTimeout(connect, retryDelay(attempt++));
    if (wasReady) setTimeout(function () { banner.hidden = ready; }, 1500);
  }
  // The page counts as a page view once per page load: a reconnect's hello leaves it out, so
  // time-on-page rules keep counting from the real arrival.
  var pageSent = false;
  function hello() {
    var tok = local('token');
    var h = { type: 'hello', site: SITE, lang: LANG };
    helloPage = !pageSent && consent !== false && (consent || !consentReq);
    if (helloPage) h.page = { url: location.href, title: D.title, referrer: D.referrer };
    if (tok) h.token = tok;
    var coarse = W.matchMedia && matchMedia('(pointer:coarse)').matches;
    h.device = !coarse ? 'desktop' : Math.min(screen.width, screen.height) >= 600 ? 'tablet' : 'mobile';
    sendRaw(h);
  }

  function onFrame(m) {
    var cb = m.req != null && waiting[m.req];
    if (cb) delete waiting[m.req];
    switch (m.type) {
      case 'welcome': if (helloPage) pageSent = true; return onWelcome(m);
      case 'queue_position':
        if (conv && m.conversation === conv.id) { qpos = m; paintStatus(); }
        return;
      case 'offer_email': return onOfferEmail(m);
      case 'ack': return onAck(m);
      case 'history': return onHistory(m);
      case 'message': return onMessage(m, true);
      case 'conversation': return onConversation(m);
      case 'typing': return onTyping(m);
      case 'invite': return onInvite(m);
      case 'resync': return resume(); // pushes may have been lost: catch up from the stream
      case 'read':
        if (conv && m.conversation === conv.id && m.from === 'agent' && compareIds(m.up_to, seenUpTo) > 0) { seenUpTo = m.up_to; paintSeen(); }
        return;
      case 'error':
        if (m.code === 'invalid_token') { local('token', null); return hello(); }
        if (cb) cb(m);
        return;
      default: if (cb) cb(m);
    }
  }

  function onWelcome(m) {
    var first = !wasReady;
    ready = wasReady = true; attempt = 0; banner.hidden = true;
    visitor = m.visitor; agentsOnline = m.agents_online || 0;
    if (m.token) local('token', m.token);
    var c = m.conversation;
    if (c) {
      if (!conv || conv.id !== c.id) reset(c.id);
      setConv(c.id, c.state, c.agent);
      resume();
    } else if (conv && conv.state !== 'closed') {
      // Closed while we were away: catch up on the tail, which carries the closing note.
      resume();
    } else if (!conv && local('conv')) {
      reset(local('conv')); conv.state = 'closed';
      resume(); // show the last (closed) conversation, and its rating form if not rated yet
    }
    consentReq = !!m.consent_required; trOn = !!m.transcript_email;
    trGo.disabled = lmGo.disabled = false; // replies lost with the old socket
    setHours(m.hours);
    paintStatus();
    flushPending();
    if (consent != null) sendConsent(!pageSent);
    else if (!pageSent && tracking()) { pageSent = true; sendRaw(pageView(location.href, D.referrer)); }
    while (events.length) { var ev = events.shift(); if (ev.type === 'identify' || tracking()) sendRaw(ev); }
    if (!conv) flowStart();
    if (first) { emit('ready', { visitor: visitor, conversation: conv && conv.id }); }
  }

  function reset(id) {
    // A different conversation: clear the log.
    for (var k in msgs) msgs[k].el.remove();
    log.querySelectorAll('.gap').forEach(function (n) { n.remove(); });
    msgs = {}; lastId = ''; seenUpTo = ''; rate.hidden = true;
    conv = { id: id, state: 'queued', agent: null };
    local('conv', id);
  }

  function resume() {
    if (!conv) return;
    var id = conv.id;
    sendRaw({ type: 'resume', conversation: id, since: lastId || '0' }, function (r) {
      if (r.type === 'error' && r.code === 'not_found' && conv && conv.id === id && conv.state === 'closed') {
        local('conv', null); conv = null; paintStatus();
      }
    });
  }

  function onHistory(h) {
    if (!conv || h.conversation !== conv.id) return;
    if (h.gap) {
      var g = el('p', 'note gap', t('gap'), { role: 'note' });
      log.insertBefore(g, firstAfter(h.since));
    }
    if (h.accepted) conv.ok = 1; // an agent took part
    (h.messages || []).forEach(function (m) { m.conversation = h.conversation; onMessage(m, false); });
    if (h.complete === false) { if (compareIds(h.next, lastId) > 0) lastId = h.next; return resume(); } // next: past filtered notes
    if (h.state && h.state !== conv.state) setConv(conv.id, h.state, conv.agent);
    else if (h.state === 'closed') { draw('Rating'); paintTr(); }
    markRead();
  }

  // The element before which a message with this id belongs (ids are ordered).
  function firstAfter(id) {
    var kids = log.children;
    for (var i = 1; i < kids.length; i++) {
      var k = kids[i], kid = k.getAttribute('data-id');
      if (k.classList.contains('pending') || (kid && compareIds(kid, id) > 0)) return k;
    }
    return null;
  }

  function onMessage(m, live) {
    if (!conv || m.conversation !== conv.id) {
      if (!m.conversation) return;
      // A message for a conversation opened elsewhere (another tab) — switch to it.
      if (m.from === 'visitor' && (!conv || conv.state === 'closed')) { reset(m.conversation); setConv(m.conversation, 'queued', null); }
      else return;
    }
    if (m.file) draw('Files', m); // also a known one: fresh links
    if (m.flow || work.Flows) draw('Flows', m); // once asked for, it sees every message
    if (compareIds(m.id, lastId) > 0) lastId = m.id;
    if (msgs[m.id] || m.from === 'note') return; // notes are for agents (the server never sends them here)
    var p = m.cmid && pend[m.cmid], node;
    if (p) { node = p.el; settle(m.cmid, m.id); }
    else node = bubble(m);
    node.setAttribute('data-id', m.id);
    if (node.parentNode) node.remove();
    log.insertBefore(node, firstAfter(m.id));
    msgs[m.id] = { el: node, m: m };
    if (m.from === 'agent') { typ.hidden = true; if (live && D.hidden) { beep(); blink(); } }
    if (live && m.from !== 'visitor') emit('message', { id: m.id, from: m.from, author: m.author, text: m.text, ts: m.ts, conversation: m.conversation });
    paintSeen();
    countUnread();
    markRead();
    scroll();
  }

  function bubble(m) {
    var from = m.from === 'visitor' || m.from === 'agent' ? m.from : m.from === 'bot' ? 'agent bot' : 'system';
    var node = el('div', 'message ' + from, null, { role: m.from === 'system' ? 'note' : 'group' });
    if (m.from === 'agent') node.append(el('span', 'author', m.author || t('support')));
    node.append(el('div', 'text', m.text));
    if (m.from !== 'system') {
      var meta = el('div', 'meta');
      meta.append(el('span', 'time', m.ts ? clockTime(m.ts, LANG) : ''));
      if (m.channel === 'email') meta.append(el('span', 'channel', t('by_email')));
      if (m.from === 'visitor') meta.append(el('span', 'delivery', m.pending ? t('sending') : t('sent')));
      node.append(meta);
    }
    return node;
  }

  /* ---------- sending: sending -> sent (ack) -> failed (+ retry with the SAME cmid) ---------- */
  function outbox(save) {
    var list = [];
    for (var c in pend) if (pend[c].state !== 'done') list.push({ cmid: c, text: pend[c].text });
    if (save) session('outbox', list.length ? JSON.stringify(list) : null);
    return list;
  }
  function submit(text) {
    text = text.trim();
    if (!text) return;
    if (conv && conv.state === 'closed') { reset(''); conv = null; local('conv', null); paintTr(); paintStatus(); }
    enqueue('m-' + randomHex(), text);
    typingOff();
  }
  function enqueue(cmid, text) {
    var node = bubble({ from: 'visitor', text: text, pending: true, ts: Date.now() });
    node.classList.add('pending', 'sending');
    log.append(node);
    pend[cmid] = { el: node, text: text, state: 'sending' };
    outbox(true);
    transmit(cmid);
    scroll();
  }
  function transmit(cmid) {
    var p = pend[cmid];
    setState(cmid, 'sending');
    var ok = sendRaw({ type: 'message', cmid: cmid, text: p.text }, function (r) {
      if (r.type === 'error') setState(cmid, 'failed'); // e.g. unavailable: nothing was stored
    });
    armFail(cmid, ok ? 10000 : 15000); // no ack in time: show it as failed (reconnect also resends)
  }
  function armFail(cmid, ms) {
    var p = pend[cmid];
    clearTimeout(p.timer);
    p.timer = setTimeout(function () { if (p.state === 'sending') setState(cmid, 'failed'); }, ms);
  }
  function setState(cmid, st) {
    var p = pend[cmid];
    if (!p) return;
    p.state = st;
    var n = p.el, meta = n.querySelector('.meta'), ms = meta.querySelector('.delivery');
    n.classList.toggle('sending', st === 'sending');
    n.classList.toggle('failed', st === 'failed');
    ms.textContent = t(st); // the states are the texts' keys: sending, sent, failed
    var rb = meta.querySelector('.retry');
    if (st === 'failed' && !rb) {
      rb = el('button', 'retry', t('retry'), { type: 'button' });
      rb.onclick = function () { rb.remove(); transmit(cmid); };
      meta.append(rb);
    } else if (st !== 'failed' && rb) rb.remove();
  }
  function settle(cmid, id) {
    var p = pend[cmid];
    if (!p) return;
    setState(cmid, 'sent');
    clearTimeout(p.timer);
    p.el.classList.remove('pending');
    delete pend[cmid];
    outbox(true);
    return p;
  }
  function onAck(a) {
    var p = pend[a.cmid];
    // Another conversation: the old one closed (its push may be late).
    if (a.conversation && (!conv || conv.id !== a.conversation)) { reset(a.conversation); setConv(a.conversation, 'queued'); }
    if (!p) return;
    if (msgs[a.id]) { p.el.remove(); settle(a.cmid); return; } // the push came first (other tab)
    onMessage({ conversation: a.conversation, id: a.id, cmid: a.cmid, from: 'visitor', text: p.text, ts: a.ts }, false);
  }
  function flushPending() {
    for (var c in pend) if (pend[c].state === 'sending') transmit(c);
  }

  /* ---------- conversation state ---------- */
  function setConv(id, state, agent) {
    var was = conv && conv.state;
    conv = conv || { id: id };
    conv.id = id; conv.state = state; conv.agent = agent || conv.agent;
    if (state === 'active') conv.ok = 1;
    if (state !== 'queued') { qpos = null; lmOn = false; var oe = log.querySelector('.offer-email'); if (oe) oe.remove(); }
    local('conv', id);
    if (state === 'closed' && was !== 'closed') typ.hidden = true;
    if (state === 'closed') draw('Rating'); else rate.hidden = true;
    paintTr(); paintStatus();
    if (kit.Flows) kit.Flows.draw();
  }
  function paintTr() {
    if ((trf.hidden = !(trOn && conv && conv.ok && conv.state === 'closed'))) trSt.textContent = '';
    else if (!trMail.value) trMail.value = knownMail;
  }
  trf.onsubmit = function (e) {
    e.preventDefault();
    if (!conv) return;
    var mail = trMail.value.trim();
    trGo.disabled = true; trSt.textContent = t('sending');
    if (!sendRaw({ type: 'transcript', email: mail, conversation: conv.id }, function (r) {
      trGo.disabled = false;
      trSt.textContent = r.type === 'ok' ? t('sent') : t('failed') + ': ' + r.message;
    })) trGo.disabled = false;
  };
  function onConversation(c) {
    if (conv && c.id !== conv.id && c.state !== 'closed') reset(c.id);
    if (!conv || c.id === conv.id) setConv(c.id, c.state, c.agent);
  }
  var left = false, lmOn = false; // a message was left (thank-you state); the form was asked for while queued
  // Business hours (welcome.hours). At a change, reconnect (spread over 20 s): the new welcome
  // has the new state, the next change and who is online.
  var hours = null, hoursTimer = null;
  function setHours(h) {
    hours = h || null;
    clearTimeout(hoursTimer);
    if (hours && hours.changes_in_ms != null)
      hoursTimer = setTimeout(function () { if (ws) ws.close(); }, hours.changes_in_ms + 500 + Math.random() * 2e4);
  }
  function shutText() {
    if (hours.opens_at == null) return t('closed_now');
    // "Monday at 09:00", or "at 09:00" later today, in the visitor's own clock
    var at = new Date(hours.opens_at), now = new Date(), loc = LANG === 'nb' ? 'nb-NO' : LANG;
    var day = at - now > 518400000 || at.getDate() !== now.getDate() ? at.toLocaleDateString(loc, { weekday: 'long' }) + ' ' : '';
    return t('closed_until', day + t('at') + clockTime(at, loc));
  }
  function paintStatus() {
    var shut = !!hours && !hours.open;
    var off = wasReady && (!agentsOnline || shut) && (!conv || conv.state === 'closed');
    var q = conv && conv.state === 'queued' && qpos && qpos.conversation === conv.id ? qpos : null, w = q && q.expected_wait_seconds;
    intro.textContent = off && shut ? shutText() : off && !conv ? t('nobody_online') : t('intro');
    lmf.hidden = !(off || lmOn) || left; form.hidden = off;
    qline.hidden = !q;
    qbtn.hidden = !q || q.agents_online !== 0 || !lmf.hidden || left;
    qtext.textContent = !q ? '' : q.agents_online === 0 ? t('queue_nobody_online') : t('queue_position', q.position) + (w != null ? ' · ' + t('queue_wait', Math.max(1, Math.round(w / 60))) : '');
    var s = !conv ? '' : conv.state === 'queued' ? t('queued')
      : conv.state === 'active' ? t('active', conv.agent || t('support')) : conv.state === 'closed' ? t('chat_ended') : '';
    status.textContent = s;
  }
  function showForm() { lmOn = true; paintStatus(); if (!lmf.hidden) { lmMail.focus(); scroll(); } }
  qbtn.onclick = showForm;
  // offer_email: a dismissible card in the chat that opens the leave-a-message form.
  function onOfferEmail(m) {
    if (!conv || m.conversation !== conv.id || conv.state !== 'queued' || left || log.querySelector('.offer-email')) return;
    var c = el('div', 'offer-email', null, { role: 'note' }), go = el('button', 'primary', t('leave_message'), { type: 'button' });
    var x = el('button', 'close', null, { type: 'button', 'aria-label': t('no_thanks') });
    x.append(svg(ICON_X));
    c.append(el('p', null, t('offer_email')), go, x);
    x.onclick = function () { c.remove(); ta.focus(); };
    go.onclick = function () { c.remove(); showForm(); };
    log.append(c);
    scroll();
  }

  /* ---------- typing ---------- */
  var typOn = 0, typOffTimer = 0, typHide = 0;
  function typingTick() {
    if (!conv || conv.state === 'closed' || !ready) return;
    var now = Date.now();
    if (now - typOn > 3000) { typOn = now; sendRaw({ type: 'typing', on: true }); }
    clearTimeout(typOffTimer);
    typOffTimer = setTimeout(typingOff, 4000);
  }
  function typingOff() {
    clearTimeout(typOffTimer);
    if (typOn) { typOn = 0; if (conv && conv.state !== 'closed') sendRaw({ type: 'typing', on: false }); }
  }
  function onTyping(m) {
    if (!conv || m.conversation !== conv.id || m.from !== 'agent') return;
    clearTimeout(typHide);
    typ.textContent = '';
    if (m.on) {
      var d = el('span', 'dots', null, { 'aria-hidden': 'true' });
      d.append(el('i'), el('i'), el('i'));
      typ.append(d, t('typing', conv.agent || t('support')));
      typHide = setTimeout(function () { typ.hidden = true; }, 8000); // a lost "off" must not stick
      scroll();
    }
    typ.hidden = !m.on;
  }

  /* ---------- read receipts and unread ---------- */
  function lastAgentId() {
    var best = '';
    for (var k in msgs) if (msgs[k].m.from !== 'visitor' && compareIds(k, best) > 0) best = k;
    return best;
  }
  function markRead() {
    if (!conv || !isOpen || D.hidden) return;
    var up = lastAgentId(), key = 'read:' + conv.id;
    if (up && compareIds(up, local(key) || '') > 0) {
      local(key, up);
      if (conv.state !== 'closed') sendRaw({ type: 'read', up_to: up });
    }
    countUnread();
  }
  function countUnread() {
    var n = 0, r = conv ? local('read:' + conv.id) || '' : '';
    for (var k in msgs) if (msgs[k].m.from === 'agent' && compareIds(k, r) > 0) n++;
    badge.hidden = !n || isOpen;
    badge.textContent = n > 9 ? '9+' : String(n);
    bub.setAttribute('aria-label', t('open') + (n ? ' (' + t('unread', n) + ')' : ''));
  }
  function paintSeen() {
    var best = null;
    log.querySelectorAll('.message.visitor[data-id]').forEach(function (n) {
      var s = n.querySelector('.delivery');
      if (s) s.textContent = t('sent');
      if (seenUpTo && compareIds(n.getAttribute('data-id'), seenUpTo) <= 0) best = s;
    });
    if (best) best.textContent = t('seen');
  }

  /* ---------- attention: a beep (sound.js) and the title blinking while the tab is hidden ---------- */
  var blinkTimer = 0, origTitle = '';
  function blink() {
    if (blinkTimer) return;
    origTitle = D.title;
    var on = false;
    blinkTimer = setInterval(function () { on = !on; D.title = on ? '💬 ' + t('new_message') : origTitle; }, 1000);
  }
  function unblink() {
    if (!blinkTimer) return;
    clearInterval(blinkTimer); blinkTimer = 0; D.title = origTitle;
  }

  /* ---------- proactive invitations (docs/protocol.md: invite, invite_shown/accepted/dismissed) ---------- */
  var inv = null;
  function onInvite(m) {
    if (inv) inv.remove();
    if (conv && conv.state !== 'closed') return; // already chatting
    var id = m.invitation;
    inv = el('div', 'invitation', null, { role: 'dialog', 'aria-label': t('title'), 'aria-live': 'polite' });
    if (m.agent) inv.append(el('p', 'author', m.agent));
    inv.append(el('p', 'invitation-text', m.text));
    var row = el('div', 'actions'), yes = el('button', 'primary', t('reply'), { type: 'button' });
    var no = el('button', 'link', t('no_thanks'), { type: 'button' }), x = el('button', 'close', null, { type: 'button', 'aria-label': t('no_thanks') });
    x.append(svg(ICON_X));
    row.append(yes, no);
    inv.append(row, x);
    wrap.insertBefore(inv, bub);
    sendRaw({ type: 'invite_shown', invitation: id });
    function done(kind) {
      if (inv) { inv.remove(); inv = null; }
      return sendRaw({ type: kind, invitation: id }, function (r) {
        if (kind === 'invite_accepted' && r.type === 'ok' && r.conversation) {
          if (!conv || conv.id !== r.conversation) reset(r.conversation);
          setConv(r.conversation, conv.state || 'queued', m.agent);
          resume();
        }
      });
    }
    no.onclick = x.onclick = function () { done('invite_dismissed'); bub.focus(); };
    yes.onclick = function () { done('invite_accepted'); open(); };
    if (!D.hidden) beep();
  }

  /* ---------- open / close ---------- */
  function open(focus) {
    if (isOpen) return;
    isOpen = true; unlockAudio();
    win.hidden = false; wrap.classList.add('open');
    bub.setAttribute('aria-expanded', 'true'); bub.setAttribute('aria-label', t('close'));
    session('open', '1');
    if (focus !== false) (form.hidden ? lmMail : ta).focus();
    scroll(); markRead(); countUnread(); load('Files', Boolean); flowStart();
    emit('open');
  }
  function close() {
    if (!isOpen) return;
    isOpen = false;
    win.hidden = true; wrap.classList.remove('open');
    bub.setAttribute('aria-expanded', 'false');
    session('open', null);
    countUnread();
    if (root.activeElement) bub.focus(); // return focus only if it was inside the widget
    emit('close');
  }
  function scroll() { log.scrollTop = log.scrollHeight; }

  /* ---------- loaded when needed: beckon-files.js (the chat opens or shows a file), beckon-flows.js (a bot's
     message), beckon-rating.js (a closed chat) ---------- */
  var kit = { root: root, lang: LANG, local: local, deliver: onMessage, send: sendRaw, conv: function () { return conv; },
    refresh: function () { lastId = ''; resume(); } }, work = {};
  function load(name, fn) {
    if (kit[name]) return fn(kit[name]);
    var q = work[name] = work[name] || [];
    if (q.push(fn) > 1) return;
    var s = el('script', null, null, { src: new URL('beckon-' + name.toLowerCase() + '.js', src) });
    s.onload = function () { kit[name] = W['Beckon' + name](kit); q.forEach(function (f) { load(name, f); }); };
    D.head.append(s);
  }
  function draw(name, m) { load(name, function (F) { F.draw(m); }); }
  // A flow starts when the chat opens with no open conversation (docs/flows.md) nor a rating to give.
  var noFlow;
  function flowStart() {
    if (isOpen && ready && !noFlow && rate.hidden && (!conv || conv.state === 'closed'))
      noFlow = sendRaw({ type: 'flow_start' }, function (r) { noFlow = r.code === 'not_found'; });
  }

  bub.onclick = function () { isOpen ? close() : open(); };
  xbtn.onclick = close;
  wrap.addEventListener('keydown', function (e) { if (e.key === 'Escape' && isOpen) { e.stopPropagation(); close(); } });
  form.onsubmit = function (e) { e.preventDefault(); unlockAudio(); submit(ta.value); ta.value = ''; grow(); ta.focus(); };
  lmf.onsubmit = function (e) {
    e.preventDefault();
    var mail = lmMail.value.trim(), text = lmText.value.trim(), r = { type: 'leave_message', email: mail, text: text };
    if (!/.@./.test(mail) || !text) return;
    knownMail = mail;
    if (lmName.value.trim()) r.name = lmName.value.trim();
    lmGo.disabled = true;
    if (!sendRaw(r, function (rep) {
      lmGo.disabled = false;
      if (rep.type !== 'ok') return;
      left = true; paintStatus();
      log.append(el('p', 'note', t('message_left', mail), { role: 'status' }));
      scroll();
    })) lmGo.disabled = false;
  };
  ta.addEventListener('keydown', function (e) {
    if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) { e.preventDefault(); form.requestSubmit ? form.requestSubmit() : form.onsubmit(e); }
  });
  function grow() { ta.style.height = 'auto'; ta.style.height = Math.min(120, ta.scrollHeight + 2) + 'px'; } // CSSOM: CSP-safe
  ta.addEventListener('input', function () { grow(); if (ta.value) typingTick(); else typingOff(); });
  D.addEventListener('visibilitychange', function () { if (!D.hidden) { unblink(); markRead(); } });
  W.addEventListener('focus', unblink);
  W.addEventListener('online', function () { if (!ws) { attempt = 0; connect(); } });
  W.addEventListener('storage', function (e) {
    if (e.key === KEY + 'token' && e.newValue && e.newValue !== e.oldValue && (!conv || conv.state === 'closed') && ws) {
      ws.close(); // another tab became a (new) visitor: reconnect as that visitor so the tabs share one chat
    } else if (conv && e.key === KEY + 'read:' + conv.id) countUnread();
  });

  /* ---------- public API ---------- */
  var events = [];
  // At most 32 members, each a string (≤ 256), a number or a bool.
  function props(o) {
    var p = {}, n = 0;
    for (var k in o) {
      var v = o[k];
      if (n < 32 && (typeof v === 'number' || typeof v === 'boolean' || typeof v === 'string')) { p[k] = typeof v === 'string' ? v.slice(0, 256) : v; n++; }
    }
    return p;
  }
  // Single-page apps: pushState/replaceState/popstate are page views too (once per URL change).
  var lastUrl = location.href;
  function pageView(u, r) { return { type: 'page_view', url: u.slice(0, 2048), title: D.title.slice(0, 512), referrer: r.slice(0, 2048) }; }
  // consent, then (once it is stored) one page_view for the current page
  function sendConsent(pv) {
    sendRaw({ type: 'consent', granted: consent }, function (r) {
      if (pv && consent && r.type === 'ok') { pageSent = true; sendRaw(pageView(location.href, D.referrer)); }
    });
  }
  function browse(ev) { if (tracking() && !sendRaw(ev)) events.push(ev); }
  function nav() {
    setTimeout(function () { // after the app has set the new title
      var u = location.href;
      if (u === lastUrl) return;
      var ev = pageView(u, lastUrl);
      lastUrl = u;
      browse(ev);
    }, 0);
  }
  ['pushState', 'replaceState'].forEach(function (k) {
    var f = history[k];
    if (f) history[k] = function () { var r = f.apply(this, arguments); nav(); return r; };
  });
  W.addEventListener('popstate', nav);
  var api = { // docs/widget.md; identify, track and consent wait for the socket
    version: '1',
    open: function () { open(); },
    close: function () { close(); },
    toggle: function () { isOpen ? close() : open(); },
    on: function (ev, fn) {
      if (!handlers[ev] || typeof fn !== 'function') return api;
      handlers[ev].push(fn);
      if (ev === 'ready' && wasReady) fn({ visitor: visitor, conversation: conv && conv.id });
      return api;
    },
    off: function (ev, fn) { if (handlers[ev]) handlers[ev] = handlers[ev].filter(function (f) { return f !== fn; }); return api; },
    identify: function (d) {
      d = d || {};
      var ev = { type: 'identify' };
      if (typeof d.name === 'string') ev.name = d.name.slice(0, 100);
      if (typeof d.email === 'string' && /@/.test(d.email)) knownMail = ev.email = d.email.slice(0, 254);
      if (d.attrs) ev.attrs = props(d.attrs);
      if (!sendRaw(ev)) events.push(ev);
      return api;
    },
    track: function (name, p) {
      if (!/^[A-Za-z0-9_-]{1,64}$/.test(name)) return api;
      browse({ type: 'event', name: name, props: props(p) });
      return api;
    },
    consent: function (g) {
      consent = !!g;
      if (!consent) events = events.filter(function (e) { return e.type === 'identify'; });
      if (ready) sendConsent(true);
      return api;
    }
  };
  // Calls made before the script loaded: window.Beckon = window.Beckon || {q: []}; Beckon.q.push(['open'])
  var early = W.Beckon && W.Beckon.q;
  W.Beckon = api;
  if (early && early.forEach) early.forEach(function (c) { if (api[c[0]]) api[c[0]].apply(api, c.slice(1)); });

  /* ---------- boot ---------- */
  function boot() {
    D.body.append(host);
    try { JSON.parse(session('outbox') || '[]').forEach(function (o) { enqueue(o.cmid, o.text); }); } catch (e) { /* ignore */ }
    if (session('open')) open(false);
    paintStatus();
    connect();
  }
  if (D.body) boot(); else D.addEventListener('DOMContentLoaded', boot);
})();
