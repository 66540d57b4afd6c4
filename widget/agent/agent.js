/* Beckon agent panel, protocol v1 (docs/protocol.md). Plain JS, no dependencies.
 * All user-supplied text is rendered with textContent, never innerHTML. */
(function () {
  'use strict';
  var TOKEN_KEY = 'beckon-agent-token', NAME_KEY = 'beckon-agent-name';
  var WS_URL = (location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + '/ws';
  var $ = function (id) { return document.getElementById(id); };

  /* ---------- helpers ---------- */
  function cmp(a, b) {
    if (!a) return b ? -1 : 0;
    if (!b) return 1;
    var x = a.split('-'), y = b.split('-');
    return (x[0] - y[0]) || (x[1] - y[1]);
  }
  function rnd() {
    var b = new Uint8Array(8); crypto.getRandomValues(b);
    return Array.prototype.map.call(b, function (v) { return (v + 256).toString(16).slice(1); }).join('');
  }
  function el(tag, cls, text, attrs) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text != null) e.textContent = text;
    for (var k in attrs) e.setAttribute(k, attrs[k]);
    return e;
  }
  function clock(ts) { return new Date(ts).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' }); }
  function since(ts) {
    var s = Math.max(0, Math.floor((Date.now() - ts) / 1000));
    if (s < 60) return s + ' s';
    var m = Math.floor(s / 60);
    if (m < 60) return m + ' min ' + String(s % 60).padStart(2, '0') + ' s';
    return Math.floor(m / 60) + ' h ' + String(m % 60).padStart(2, '0') + ' min';
  }
  function visitorLabel(v) { return 'Visitor ' + String(v || '?').replace(/^v_/, '').slice(0, 6); }
  function storage(k, v) {
    try {
      if (v === undefined) return sessionStorage.getItem(k);
      if (v === null) sessionStorage.removeItem(k); else sessionStorage.setItem(k, v);
    } catch (e) { /* storage blocked */ }
    return null;
  }
  var toastTimer = 0;
  function toast(text) {
    var t = $('toast');
    t.textContent = text; t.hidden = false;
    clearTimeout(toastTimer);
    toastTimer = setTimeout(function () { t.hidden = true; }, 4000);
  }

  /* ---------- state ---------- */
  var me = null, ws = null, ready = false, attempt = 0, retryTimer = 0, reqN = 0, waiting = {};
  var queue = new Map();  // id -> {id, visitor, created, preview}
  var convs = new Map();  // id -> conversation record (see conv())
  var current = null;     // selected conversation id

  function conv(id, visitor) {
    var c = convs.get(id);
    if (!c) {
      c = { id: id, visitor: visitor || '', state: 'queued', agent: null, created: 0, mine: false, msgs: new Map(),
            pend: new Map(), lastId: '', readSent: '', seenUpTo: '', typing: false, typingTimer: 0, gaps: [],
            rating: null, closedBy: null, loading: false };
      convs.set(id, c);
    }
    if (visitor && !c.visitor) c.visitor = visitor;
    return c;
  }

  /* ---------- login ---------- */
  function showLogin(message) {
    $('app').hidden = true; $('login').hidden = false;
    $('login-error').textContent = message || '';
    $('login-name').value = $('login-name').value || storage(NAME_KEY) || '';
    ($('login-name').value ? $('login-password') : $('login-name')).focus();
  }
  $('login-form').addEventListener('submit', function (e) {
    e.preventDefault();
    unlockAudio();
    var name = $('login-name').value.trim(), password = $('login-password').value;
    if (!name || !password) { $('login-error').textContent = 'Enter your name and password.'; return; }
    $('login-submit').disabled = true; $('login-error').textContent = '';
    fetch('/api/login', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name: name, password: password }) })
      .then(function (r) { return r.json().then(function (b) { return { status: r.status, body: b }; }); })
      .then(function (r) {
        if (r.status !== 200 || !r.body.token) {
          $('login-error').textContent = r.status === 401 ? 'Wrong name or password.' : ((r.body.error && r.body.error.message) || 'Sign-in failed (' + r.status + ').');
          return;
        }
        storage(TOKEN_KEY, r.body.token); storage(NAME_KEY, name);
        $('login-password').value = '';
        start();
      })
      .catch(function () { $('login-error').textContent = 'The server cannot be reached. Try again.'; })
      .then(function () { $('login-submit').disabled = false; });
  });
  $('logout').addEventListener('click', function () {
    // No server-side logout in protocol v1: the token is forgotten here and expires on the server.
    storage(TOKEN_KEY, null);
    stop();
    showLogin('You are signed out.');
  });

  function start() {
    $('login').hidden = true; $('app').hidden = false;
    paintNotify();
    connect();
  }
  function stop() {
    clearTimeout(retryTimer);
    if (ws) { ws.onclose = null; ws.close(); ws = null; }
    ready = false; queue.clear(); convs.clear(); current = null; me = null;
    renderAll();
  }

  /* ---------- socket ---------- */
  function setConn(state, text) { var c = $('conn'); c.dataset.state = state; c.textContent = text; }
  function connect() {
    clearTimeout(retryTimer);
    if (ws) return;
    setConn('connecting', attempt ? 'Reconnecting…' : 'Connecting…');
    ws = new WebSocket(WS_URL, 'beckon-agent.v1');
    ws.onopen = function () { send({ type: 'hello', token: storage(TOKEN_KEY) || '' }); };
    ws.onmessage = function (ev) { var m; try { m = JSON.parse(ev.data); } catch (e) { return; } onFrame(m); };
    ws.onclose = function (ev) {
      ws = null; ready = false; waiting = {};
      convs.forEach(function (c) { c.pend.forEach(function (p, cmid) { if (p.state === 'sending') fail(c, cmid); }); });
      if (ev.code === 1008) { storage(TOKEN_KEY, null); stop(); showLogin('Your session has expired. Please sign in again.'); return; }
      setConn('offline', 'Offline — reconnecting…');
      var cap = Math.min(30000, 500 * Math.pow(2, attempt++));
      retryTimer = setTimeout(connect, 250 + Math.random() * cap);
      renderConv();
    };
  }
  window.addEventListener('online', function () { if (!ws && storage(TOKEN_KEY)) { attempt = 0; connect(); } });
  function send(obj, cb) {
    if (!ws || ws.readyState !== 1 || (!ready && obj.type !== 'hello')) return false;
    if (obj.type === 'hello') ready = false;
    obj.req = ++reqN;
    if (cb) waiting[obj.req] = cb;
    ws.send(JSON.stringify(obj));
    return true;
  }

  function onFrame(m) {
    var cb = m.req != null && waiting[m.req];
    if (cb) delete waiting[m.req];
    switch (m.type) {
      case 'welcome': onWelcome(m); break;
      case 'history': onHistory(m); break;
      case 'ack': onAck(m); break;
      case 'message': addMessage(m, true); break;
      case 'conversation': onConversation(m); break;
      case 'queue_add': queueAdd(m.conversation, true); break;
      case 'queue_remove': queueRemove(m.conversation, m.reason); break;
      case 'typing': onTyping(m); break;
      case 'read': onRead(m); break;
      case 'rating': onRating(m); break;
      case 'resync': send({ type: 'hello', token: storage(TOKEN_KEY) || '' }); break; // fresh queue, then resume all
      case 'error':
        if (m.code === 'unauthorized') return; // the close (1008) follows
        if (!cb) toast('Error: ' + (m.message || m.code));
        break;
    }
    if (cb) cb(m);
  }

  function onWelcome(m) {
    ready = true; attempt = 0;
    me = m.agent.name;
    $('me').textContent = me;
    setConn('online', 'Online');
    queue.clear();
    (m.queue || []).forEach(function (q) { queueAdd(q, false); });
    var mineNow = {};
    (m.conversations || []).forEach(function (x) {
      var c = conv(x.id, x.visitor);
      c.state = x.state; c.created = x.created; c.mine = true; c.agent = me;
      mineNow[x.id] = 1;
    });
    // Catch up on everything we hold: our chats, and any we were looking at.
    convs.forEach(function (c) { if (c.mine || c.id === current) resume(c); });
    if (current && !convs.get(current)) current = null;
    renderAll();
    flushPending();
  }

  function resume(c) {
    c.loading = true;
    send({ type: 'resume', conversation: c.id, since: c.lastId || '0' }, function (r) {
      if (r.type === 'error') { c.loading = false; if (r.code === 'not_found') toast('That conversation no longer exists.'); }
    });
  }
  function onHistory(h) {
    var c = convs.get(h.conversation);
    if (!c) return;
    if (h.gap) c.gaps.push(h.since);
    (h.messages || []).forEach(function (m) { m.conversation = h.conversation; addMessage(m, false); });
    if (h.complete === false) { resume(c); return; }
    c.loading = false;
    if (h.state) c.state = h.state;
    if (!c.created && c.msgs.size) c.created = c.msgs.values().next().value.ts;
    renderAll();
  }

  /* ---------- queue ---------- */
  function queueAdd(q, live) {
    if (!q || !q.id) return;
    var fresh = !queue.has(q.id);
    queue.set(q.id, q);
    var c = conv(q.id, q.visitor);
    c.created = c.created || q.created;
    renderQueue();
    if (live && fresh) announce(q);
  }
  function queueRemove(id, reason) {
    queue.delete(id);
    var c = convs.get(id);
    if (c && !c.mine) {
      if (reason === 'closed') c.state = 'closed';
      else if (reason === 'accepted') { c.state = 'active'; c.takenElsewhere = true; }
      if (id !== current) convs.delete(id);
    }
    renderQueue();
    if (id === current) renderConv();
  }

  /* ---------- messages ---------- */
  function addMessage(m, live) {
    if (!m.conversation || !m.id) return;
    var c = conv(m.conversation);
    if (c.msgs.has(m.id)) return;
    if (m.cmid && c.pend.has(m.cmid)) { clearTimeout(c.pend.get(m.cmid).timer); c.pend.delete(m.cmid); }
    c.msgs.set(m.id, m);
    if (cmp(m.id, c.lastId) > 0) c.lastId = m.id;
    if (m.from === 'visitor') {
      c.typing = false;
      if (live && (document.hidden || c.id !== current)) { beep(); }
    }
    if (live) { renderChats(); if (c.id === current) { renderConv(); renderVisitor(); markRead(c); } }
  }
  function sorted(c) { return Array.from(c.msgs.values()).sort(function (a, b) { return cmp(a.id, b.id); }); }
  function unreadCount(c) {
    var n = 0;
    c.msgs.forEach(function (m, id) { if (m.from === 'visitor' && cmp(id, c.readSent) > 0) n++; });
    return n;
  }
  function markRead(c) {
    if (!c || c.id !== current || document.hidden || !c.mine || c.state !== 'active') return;
    var up = '';
    c.msgs.forEach(function (m, id) { if (m.from !== 'agent' && cmp(id, up) > 0) up = id; });
    if (up && cmp(up, c.readSent) > 0) {
      if (send({ type: 'read', conversation: c.id, up_to: up })) { c.readSent = up; renderChats(); }
    }
  }

  /* sending: sending -> sent (ack) -> failed (+ retry with the same cmid) */
  function sendMessage(c, text) {
    var cmid = 'a-' + rnd();
    c.pend.set(cmid, { text: text, state: 'sending', ts: Date.now(), timer: 0 });
    transmit(c, cmid);
  }
  function transmit(c, cmid) {
    var p = c.pend.get(cmid);
    p.state = 'sending';
    var ok = send({ type: 'message', conversation: c.id, cmid: cmid, text: p.text }, function (r) {
      if (r.type === 'error') { fail(c, cmid); toast('Not sent: ' + (r.message || r.code)); }
    });
    clearTimeout(p.timer);
    p.timer = setTimeout(function () { if (p.state === 'sending') fail(c, cmid); }, ok ? 10000 : 15000);
    if (c.id === current) renderConv();
  }
  function fail(c, cmid) {
    var p = c.pend.get(cmid);
    if (!p) return;
    p.state = 'failed'; clearTimeout(p.timer);
    if (c.id === current) renderConv();
  }
  function onAck(a) {
    var c = convs.get(a.conversation);
    if (!c || !c.pend.has(a.cmid)) return;
    var p = c.pend.get(a.cmid);
    addMessage({ conversation: a.conversation, id: a.id, cmid: a.cmid, from: 'agent', author: me, text: p.text, ts: a.ts }, true);
  }
  function flushPending() {
    convs.forEach(function (c) { c.pend.forEach(function (p, cmid) { if (p.state === 'sending') transmit(c, cmid); }); });
  }

  /* ---------- conversation state, typing, read, rating ---------- */
  function onConversation(x) {
    var c = conv(x.id);
    c.state = x.state;
    if (x.agent) c.agent = x.agent;
    if (x.state === 'active' && x.agent === me) c.mine = true;
    if (x.state === 'closed') { c.closedBy = x.closed_by || null; c.typing = false; }
    queue.delete(x.id);
    renderAll();
  }
  function onTyping(m) {
    var c = convs.get(m.conversation);
    if (!c || m.from !== 'visitor') return;
    c.typing = !!m.on;
    clearTimeout(c.typingTimer);
    if (c.typing) c.typingTimer = setTimeout(function () { c.typing = false; renderTyping(); renderChats(); }, 8000);
    renderTyping(); renderChats();
  }
  function onRead(m) {
    var c = convs.get(m.conversation);
    if (!c || m.from !== 'visitor') return;
    if (cmp(m.up_to, c.seenUpTo) > 0) { c.seenUpTo = m.up_to; if (c.id === current) renderConv(); }
  }
  function onRating(m) {
    var c = convs.get(m.conversation);
    if (!c) return;
    c.rating = { score: m.score, comment: m.comment || '' };
    renderAll();
  }

  /* ---------- actions ---------- */
  function select(id) {
    if (current && current !== id) stopTyping(convs.get(current));
    current = id;
    var c = convs.get(id) || conv(id, queue.get(id) && queue.get(id).visitor);
    if (!c.msgs.size && !c.loading) resume(c);
    renderAll();
    markRead(c);
    if (c.mine && c.state === 'active') $('input').focus();
  }
  function accept(id) {
    var b = $('accept'); b.disabled = true;
    send({ type: 'accept', conversation: id }, function (r) {
      b.disabled = false;
      var c = conv(id);
      if (r.type === 'ok') {
        c.mine = true; c.state = 'active'; c.agent = me;
        queue.delete(id);
        if (current !== id) select(id); else { renderAll(); $('input').focus(); }
        resume(c);
      } else if (r.code === 'already_taken') {
        queue.delete(id); toast('Another agent accepted this chat first.');
        c.takenElsewhere = true; renderAll();
      } else toast('Could not accept: ' + (r.message || r.code));
    });
  }
  $('accept').addEventListener('click', function () { if (current) accept(current); });
  $('close-conv').addEventListener('click', function () {
    var c = convs.get(current);
    if (!c) return;
    stopTyping(c);
    send({ type: 'close', conversation: c.id }, function (r) {
      if (r.type === 'ok') { c.state = 'closed'; c.closedBy = 'agent'; renderAll(); }
      else toast('Could not close: ' + (r.message || r.code));
    });
  });
  $('dismiss').addEventListener('click', function () {
    convs.delete(current); current = null; renderAll();
  });
  $('composer').addEventListener('submit', function (e) {
    e.preventDefault();
    var c = convs.get(current), text = $('input').value.trim();
    if (!c || !text || !c.mine || c.state !== 'active') return;
    $('input').value = '';
    stopTyping(c);
    sendMessage(c, text);
  });
  $('input').addEventListener('keydown', function (e) {
    if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) { e.preventDefault(); $('composer').requestSubmit(); }
  });
  var typingSent = 0, typingOff = 0;
  $('input').addEventListener('input', function () {
    var c = convs.get(current);
    if (!c || !c.mine || c.state !== 'active') return;
    if (!$('input').value) return stopTyping(c);
    if (Date.now() - typingSent > 3000) { typingSent = Date.now(); send({ type: 'typing', conversation: c.id, on: true }); }
    clearTimeout(typingOff);
    typingOff = setTimeout(function () { stopTyping(c); }, 4000);
  });
  function stopTyping(c) {
    clearTimeout(typingOff);
    if (typingSent && c && c.state === 'active' && c.mine) send({ type: 'typing', conversation: c.id, on: false });
    typingSent = 0;
  }
  document.addEventListener('visibilitychange', function () {
    if (!document.hidden) { markRead(convs.get(current)); paintTitle(); }
  });

  /* ---------- notifications and sound ---------- */
  var actx = null;
  function unlockAudio() {
    try {
      if (!actx) { var A = window.AudioContext || window.webkitAudioContext; if (A) actx = new A(); }
      if (actx && actx.state === 'suspended') actx.resume();
    } catch (e) { actx = null; }
  }
  document.addEventListener('pointerdown', unlockAudio);
  document.addEventListener('keydown', unlockAudio);
  function beep(double) {
    if (!actx || actx.state !== 'running') return;
    [0, double ? 0.18 : -1].forEach(function (at) {
      if (at < 0) return;
      var o = actx.createOscillator(), g = actx.createGain(), t0 = actx.currentTime + at;
      o.frequency.value = at ? 1175 : 880;
      g.gain.setValueAtTime(0.0001, t0);
      g.gain.exponentialRampToValueAtTime(0.18, t0 + 0.02);
      g.gain.exponentialRampToValueAtTime(0.0001, t0 + 0.22);
      o.connect(g); g.connect(actx.destination); o.start(t0); o.stop(t0 + 0.25);
    });
  }
  function announce(q) {
    beep(true);
    if (!('Notification' in window) || Notification.permission !== 'granted') return;
    if (!document.hidden && document.hasFocus()) return;
    try {
      var n = new Notification('New chat waiting', { body: q.preview || visitorLabel(q.visitor), tag: 'beckon-' + q.id });
      n.onclick = function () { window.focus(); select(q.id); n.close(); };
    } catch (e) { /* some platforms only allow notifications from a service worker */ }
  }
  function paintNotify() {
    $('notify').hidden = !('Notification' in window) || Notification.permission !== 'default';
  }
  $('notify').addEventListener('click', function () {
    unlockAudio();
    Notification.requestPermission().then(paintNotify, paintNotify); // asked on a user gesture only
  });
  var baseTitle = document.title;
  function paintTitle() { document.title = (queue.size ? '(' + queue.size + ') ' : '') + baseTitle; }

  /* ---------- rendering ---------- */
  function renderAll() { renderQueue(); renderChats(); renderConv(); renderVisitor(); }

  function renderQueue() {
    var ul = $('queue'); ul.textContent = '';
    var items = Array.from(queue.values()).sort(function (a, b) { return a.created - b.created; });
    items.forEach(function (q) {
      var li = el('li', 'q-row');
      var b = el('button', 'item', null, { type: 'button', 'data-conv': q.id, 'aria-current': String(q.id === current) });
      b.appendChild(el('span', 'name', visitorLabel(q.visitor)));
      b.appendChild(el('span', 'wait', since(q.created), { 'data-since': String(q.created), title: 'Waiting time' }));
      b.appendChild(el('span', 'sub', (q.rule ? '⚑ ' + q.rule + ' · ' : '') + (q.preview || '…')));
      b.addEventListener('click', function () { select(q.id); });
      var a = el('button', 'primary accept', 'Accept', { type: 'button', 'aria-label': 'Accept chat with ' + visitorLabel(q.visitor) });
      a.addEventListener('click', function () { accept(q.id); });
      li.appendChild(b); li.appendChild(a); ul.appendChild(li);
    });
    $('queue-count').textContent = String(items.length);
    $('queue-empty').hidden = items.length > 0;
    paintTitle();
  }

  function renderChats() {
    var ul = $('chats'); ul.textContent = '';
    var list = Array.from(convs.values()).filter(function (c) { return c.mine; })
      .sort(function (a, b) { return (a.state === 'closed') - (b.state === 'closed') || cmp(b.lastId, a.lastId); });
    list.forEach(function (c) {
      var li = el('li');
      var b = el('button', 'item' + (c.state === 'closed' ? ' closed' : ''), null, { type: 'button', 'data-conv': c.id, 'aria-current': String(c.id === current) });
      b.appendChild(el('span', 'name', visitorLabel(c.visitor)));
      var n = c.id === current ? 0 : unreadCount(c);
      if (n) b.appendChild(el('span', 'unread', String(n), { 'aria-label': n + ' unread' }));
      else b.appendChild(el('span', 'muted small', c.state === 'closed' ? 'closed' : ''));
      var last = sorted(c).filter(function (m) { return m.from !== 'system'; }).pop();
      b.appendChild(el('span', 'sub' + (c.typing ? ' typing-dot' : ''), c.typing ? 'typing…' : last ? (last.from === 'agent' ? 'You: ' : '') + last.text : ''));
      b.addEventListener('click', function () { select(c.id); });
      li.appendChild(b); ul.appendChild(li);
    });
    $('chats-count').textContent = String(list.filter(function (c) { return c.state !== 'closed'; }).length);
    $('chats-empty').hidden = list.length > 0;
  }

  function renderConv() {
    var c = current && convs.get(current);
    $('placeholder').hidden = !!c; $('conv').hidden = !c;
    if (!c) return;
    $('conv-title').textContent = visitorLabel(c.visitor);
    var st = c.state === 'queued' ? 'Waiting in the queue' + (c.created ? ' for ' + since(c.created) : '')
      : c.state === 'active' ? (c.mine ? 'Active — you are chatting' : c.takenElsewhere ? 'Accepted by ' + (c.agent || 'another agent') : 'Active with ' + (c.agent || 'another agent'))
      : 'Closed' + (c.closedBy ? ' by the ' + c.closedBy : '');
    $('conv-state').textContent = st;
    $('accept').hidden = c.state !== 'queued' || c.mine;
    $('close-conv').hidden = c.state === 'closed' || (!c.mine && c.state !== 'queued');
    $('dismiss').hidden = c.state !== 'closed';
    var canWrite = c.mine && c.state === 'active';
    $('composer').hidden = !canWrite;

    var log = $('log');
    var stick = log.scrollHeight - log.scrollTop - log.clientHeight < 60;
    log.textContent = '';
    var msgs = sorted(c), seenNode = null;
    if (c.gaps.length) log.appendChild(el('p', 'note gap', 'Some earlier messages could not be loaded.', { role: 'note' }));
    msgs.forEach(function (m) {
      var node = el('div', 'msg ' + m.from + (m.from === 'agent' && m.author !== me ? ' other' : ''), null, { 'data-id': m.id });
      node.appendChild(el('div', 'text', m.text));
      if (m.from !== 'system') {
        var meta = el('div', 'meta');
        meta.appendChild(el('span', null, (m.from === 'agent' ? (m.author === me ? 'You' : m.author) : visitorLabel(c.visitor)) + ' · ' + clock(m.ts)));
        if (m.from === 'agent') {
          var s = el('span', 'state', 'Sent');
          meta.appendChild(s);
          if (c.seenUpTo && cmp(m.id, c.seenUpTo) <= 0) seenNode = s;
        }
        node.appendChild(meta);
      }
      log.appendChild(node);
    });
    if (seenNode) seenNode.textContent = 'Seen';
    c.pend.forEach(function (p, cmid) {
      var node = el('div', 'msg agent ' + p.state, null, { 'data-cmid': cmid });
      node.appendChild(el('div', 'text', p.text));
      var meta = el('div', 'meta');
      meta.appendChild(el('span', null, 'You · ' + clock(p.ts)));
      meta.appendChild(el('span', 'state', p.state === 'failed' ? 'Not sent' : 'Sending…'));
      if (p.state === 'failed') {
        var r = el('button', 'retry', 'Retry', { type: 'button' });
        r.addEventListener('click', function () { transmit(c, cmid); });
        meta.appendChild(r);
      }
      node.appendChild(meta);
      log.appendChild(node);
    });
    if (c.rating) {
      log.appendChild(el('p', 'note rating', 'Visitor rated this chat ' + c.rating.score + '/5' + (c.rating.comment ? ': “' + c.rating.comment + '”' : '')));
    }
    if (!ready) log.appendChild(el('p', 'note', 'Offline — messages will be sent when the connection is back.'));
    if (stick) log.scrollTop = log.scrollHeight;
    renderTyping();
  }

  function renderTyping() {
    var c = current && convs.get(current);
    $('typing').textContent = c && c.typing && c.state !== 'closed' ? visitorLabel(c.visitor) + ' is typing…' : '';
  }

  function renderVisitor() {
    var dl = $('visitor-details'); dl.textContent = '';
    var c = current && convs.get(current);
    if (!c) { dl.appendChild(el('dt', null, '—')); dl.appendChild(el('dd', null, 'No chat selected')); return; }
    var q = queue.get(c.id);
    if (q && q.rule) c.rule = q.rule;
    var rows = [['Visitor id', c.visitor || '—'], ['Conversation', c.id], ['State', c.state],
      ['Started', c.created ? new Date(c.created).toLocaleString() : '—'], ['Agent', c.agent || '—'],
      ['Messages', String(c.msgs.size)]];
    if (c.rule) rows.push(['Invited by rule', c.rule]);
    if (c.rating) rows.push(['Rating', c.rating.score + '/5' + (c.rating.comment ? ' — ' + c.rating.comment : '')]);
    rows.forEach(function (r) { dl.appendChild(el('dt', null, r[0])); dl.appendChild(el('dd', null, r[1])); });
  }

  // Tick the waiting times once a second without rebuilding the lists.
  setInterval(function () {
    document.querySelectorAll('[data-since]').forEach(function (n) { n.textContent = since(+n.getAttribute('data-since')); });
    var c = current && convs.get(current);
    if (c && c.state === 'queued') $('conv-state').textContent = 'Waiting in the queue for ' + since(c.created);
  }, 1000);

  /* ---------- boot ---------- */
  if (storage(TOKEN_KEY)) start(); else showLogin();
})();
