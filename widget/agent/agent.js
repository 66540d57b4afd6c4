// @ts-check: type-checked by tsc from widget/jsconfig.json (meson test widget_types); no build step.
/* Beckon agent panel, protocol v1 (docs/protocol.md). An ES module, no build step: the helpers
 * it shares with the rules editor and the visitor widget are imported from ../shared/.
 * All user-supplied text is rendered with textContent, never innerHTML. */
import { $, el } from '../shared/dom.js';
import { compareIds, randomHex } from '../shared/ids.js';
import { retryDelay } from '../shared/backoff.js';
import { sessionValue, localValue } from '../shared/storage.js';
import { toast } from '../shared/toast.js';
import { unlockAudio, beep } from '../shared/sound.js';
import { clockTime, calendarDay, dayAndTime, duration, isoDay, addDays } from '../shared/time.js';
import { createApi, errorText } from '../shared/api.js';
import { showLogin, handleLogin } from '../shared/login.js';
import { uploadAll, uploadNodes, fileNode, bindAttach } from './files.js';
import { initFlows, showFlows, flowPath, flowOffer } from './flows.js';

var TOKEN_KEY = 'beckon-agent-token', NAME_KEY = 'beckon-agent-name', ROLE_KEY = 'beckon-agent-role';
var WS_URL = (location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + '/ws';

/* ---------- helpers ---------- */
// How long ago ts was: "42 s", "3 min 05 s" (the waiting times tick once a second).
function since(ts) { return duration(Math.max(0, Math.floor((Date.now() - ts) / 1000))); }
function visitorLabel(v) { return 'Visitor ' + String(v || '?').replace(/^v_/, '').slice(0, 6); }
// The visitor's name when the site or the visitor told us (identify), else a short label.
function visitorName(v) {
  var d = vcache.get(v), l = live.get(v);
  return (d && d.visitor && d.visitor.name) || (l && l.name) || visitorLabel(v);
}
// "example.com/path?q" for display; the full URL stays in the link and its title.
function shortUrl(u) {
  try { var x = new URL(u); return x.host + x.pathname + x.search + x.hash; } catch (e) { return String(u || ''); }
}
// Only http(s) URLs become links (a visitor controls what the page reports).
function link(url, text, cls) {
  var ok = /^https?:\/\//i.test(url || '');
  var a = el(ok ? 'a' : 'span', cls || null, text || shortUrl(url), ok ? { href: url, target: '_blank', rel: 'noopener noreferrer', title: url } : { title: url || '' });
  return a;
}
// A mailto: link's address: a visitor typed it, so anything but an address's characters is escaped.
function mailto(address) { return 'mailto:' + address.replace(/[^A-Za-z0-9@._+-]/g, encodeURIComponent); }

/* ---------- state ---------- */
var me = null, ws = null, ready = false, attempt = 0, retryTimer = 0, reqN = 0, waiting = {};
var queue = new Map();  // id -> {id, visitor, created, preview}
var convs = new Map();  // id -> conversation record (see conv())
var current = null;     // selected conversation id
var view = 'chat';      // what the middle column shows: chat, visitors, inbox, canned
var vcache = new Map(); // visitor id -> {visitor, pages, conversations} (the `visitor` reply), or {error}
var vloading = {};      // visitor id -> request in flight
var live = new Map();   // visitor id -> entry of the live visitor list (`visitors` + `visitor_update`)
var liveUnsupported = ''; // the error code of a server without the live visitor list
var picked = null;      // visitor shown in the sidebar from the "Visitors now" list
var inbox = [];         // left messages, newest first
var canned = [], cannedLoaded = false;
var myStatus = sessionValue('beckon-agent-status') === 'away' ? 'away' : 'online';
var noteMode = false;
var emailMode = false;  // the composer answers by email (email_reply): docs/protocol.md, "Email"
var agentNames = {};    // agent names seen (for the transfer picker)

function conv(id, visitor) {
  var c = convs.get(id);
  if (!c) {
    c = { id: id, visitor: visitor || '', state: 'queued', agent: null, created: 0, mine: false, msgs: new Map(),
          pend: new Map(), uploads: new Map(), lastId: '', readSent: '', seenUpTo: '', typing: false, typingTimer: 0, gaps: [],
          rating: null, closedBy: null, loading: false };
    convs.set(id, c);
  }
  if (visitor && !c.visitor) c.visitor = visitor;
  return c;
}

/* ---------- login ---------- */
handleLogin({ tokenKey: TOKEN_KEY, nameKey: NAME_KEY, signedIn: function (body) { sessionValue(ROLE_KEY, body.agent && body.agent.role || null); start(); } });
// No server-side logout in protocol v1: the token is forgotten here and expires on the server.
$('logout').addEventListener('click', function () { signOut('You are signed out.'); });
function signOut(message) {
  sessionValue(TOKEN_KEY, null); sessionValue(ROLE_KEY, null);
  stop();
  showLogin(message, NAME_KEY);
}
var SESSION_EXPIRED = 'Your session has expired. Please sign in again.';

/* ---------- REST (canned responses, the dashboard): the policy of shared/api.js ---------- */
// 401 signs out as close 4001 does. Every REST route the panel calls is open to all roles, so a
// 403 is unexpected here: it is said, not acted on. While a request waits for a busy server the
// connection badge already says so (the socket meets the same server).
var api = createApi({
  token: function () { return sessionValue(TOKEN_KEY); },
  onSignedOut: function () { signOut(SESSION_EXPIRED); },
  onForbidden: function (r) { toast('Not allowed: ' + errorText(r)); }
});

function start() {
  $('login').hidden = true; $('app').hidden = false;
  // The Flows page is for marketers and admins (the role /api/login said; REST checks it again).
  $('nav-flows').hidden = !/^(marketer|admin)$/.test(sessionValue(ROLE_KEY) || '');
  paintNotify();
  connect();
}
function stop() {
  clearTimeout(retryTimer);
  if (ws) { ws.onclose = null; ws.close(); ws = null; }
  ready = false; queue.clear(); convs.clear(); current = null; me = null;
  vcache.clear(); live.clear(); liveUnsupported = ''; vloading = {}; picked = null; inbox = []; canned = []; cannedLoaded = false;
  view = 'chat';
  renderAll(); renderVisitors(); renderInbox(); renderCanned();
}

/* ---------- socket ---------- */
function setConn(state, text) { var c = $('conn'); c.dataset.state = state; c.textContent = text; }
function connect() {
  clearTimeout(retryTimer);
  if (ws) return;
  setConn('connecting', attempt ? 'Reconnecting…' : 'Connecting…');
  ws = new WebSocket(WS_URL, 'beckon-agent.v1');
  ws.onopen = function () { send({ type: 'hello', token: sessionValue(TOKEN_KEY) || '' }); };
  ws.onmessage = function (ev) { var m; try { m = JSON.parse(ev.data); } catch (e) { return; } onFrame(m); };
  ws.onclose = function (ev) {
    ws = null; ready = false; waiting = {};
    convs.forEach(function (c) { c.pend.forEach(function (p, cmid) { if (p.state === 'sending') fail(c, cmid); }); });
    // Only "unauthorized" (4001) ends the session. Anything else is waited out with backoff:
    // storage trouble at hello (1013), a restart (1001), a policy close (1008), the network.
    if (ev.code === 4001) { signOut(SESSION_EXPIRED); return; }
    setConn('offline', ev.code === 1013 ? 'Server busy — reconnecting…' : 'Offline — reconnecting…');
    retryTimer = setTimeout(connect, retryDelay(attempt++));
    renderConv();
  };
}
window.addEventListener('online', function () { if (!ws && sessionValue(TOKEN_KEY)) { attempt = 0; connect(); } });
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
    case 'visitor_update': onVisitorUpdate(m.visitor); break;
    case 'left_message': onLeftMessage(m.message); break;
    case 'resync': send({ type: 'hello', token: sessionValue(TOKEN_KEY) || '' }); break; // fresh queue, then resume all
    case 'error':
      if (m.code === 'unauthorized') return; // the close (4001) follows
      if (m.code === 'unavailable' && !ready) return; // a hello that failed: the close (1013) follows
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
  agentNames[me] = 1;
  renderAll();
  flushPending();
  // The newer parts of the protocol; an older server answers unknown_type and the panel does without.
  // The server says which status it holds (welcome.status, not in docs/protocol.md yet); an older
  // server does not, and then a stored "away" is sent again.
  if (m.status === 'away' || m.status === 'online') { myStatus = m.status; sessionValue('beckon-agent-status', myStatus); }
  else if (myStatus === 'away') setStatus('away');
  paintStatus();
  loadVisitors();
  send({ type: 'left_messages' }, function (r) {
    if (r.type !== 'left_messages') return;
    var seen = {};
    inbox.forEach(function (x) { seen[x.id] = x; });
    (r.messages || []).forEach(function (x) { seen[x.id] = x; });
    inbox = Object.keys(seen).map(function (k) { return seen[k]; }).sort(function (a, b) { return b.ts - a.ts; });
    renderInbox();
  });
  loadCanned();
  if (current) { var cc = convs.get(current); if (cc && cc.visitor) loadVisitor(cc.visitor, true); }
}

function resume(c) {
  c.loading = true;
  // Until one history reply has come, lastId may be a pushed message's (e.g. a chat transferred to us):
  // read from the start then.
  send({ type: 'resume', conversation: c.id, since: c.synced ? c.lastId || '0' : '0' }, function (r) {
    if (r.type === 'error') { c.loading = false; if (r.code === 'not_found') toast('That conversation no longer exists.'); }
  });
}
function onHistory(h) {
  var c = convs.get(h.conversation);
  if (!c) return;
  c.synced = true;
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
  if (q.flow) c.flow = q.flow; // the labels the visitor chose in the site's flow
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
function addMessage(m, isLive) {
  if (!m.conversation || !m.id) return;
  var c = conv(m.conversation);
  if (c.msgs.has(m.id)) {
    if (m.file) c.msgs.get(m.id).file = m.file; // a history's links are signed anew
    return;
  }
  if (m.cmid && c.pend.has(m.cmid)) { clearTimeout(c.pend.get(m.cmid).timer); c.pend.delete(m.cmid); }
  c.msgs.set(m.id, m);
  if (compareIds(m.id, c.lastId) > 0) c.lastId = m.id;
  if ((m.from === 'agent' || m.from === 'note') && m.author) agentNames[m.author] = 1;
  if (m.from === 'visitor') {
    if (!c.visitor && m.author) { c.visitor = m.author; if (c.id === current) loadVisitor(c.visitor); }
    c.typing = false;
    if (isLive && (document.hidden || c.id !== current)) { beep(); }
    // The visitor may have said who they are (identify) since the sidebar was loaded.
    if (isLive && c.id === current && c.visitor) refreshVisitorSoon(c.visitor);
  }
  if (isLive) { renderChats(); if (c.id === current) { renderConv(); renderVisitor(); markRead(c); } }
}
function sorted(c) { return Array.from(c.msgs.values()).sort(function (a, b) { return compareIds(a.id, b.id); }); }
function unreadCount(c) {
  var n = 0;
  c.msgs.forEach(function (m, id) { if (m.from === 'visitor' && compareIds(id, c.readSent) > 0) n++; });
  return n;
}
function markRead(c) {
  if (!c || c.id !== current || document.hidden || !c.mine || c.state !== 'active') return;
  var up = '';
  c.msgs.forEach(function (m, id) { if ((m.from === 'visitor' || m.from === 'system') && compareIds(id, up) > 0) up = id; });
  if (up && compareIds(up, c.readSent) > 0) {
    if (send({ type: 'read', conversation: c.id, up_to: up })) { c.readSent = up; renderChats(); }
  }
}

/* sending: sending -> sent (ack) -> failed (+ retry with the same cmid) */
// kind: 'message' (to the visitor) or 'note' (internal: agents only).
function sendMessage(c, text, kind) {
  var cmid = (kind === 'note' ? 'n-' : kind === 'email_reply' ? 'e-' : 'a-') + randomHex();
  c.pend.set(cmid, { text: text, kind: kind || 'message', state: 'sending', ts: Date.now(), timer: 0 });
  transmit(c, cmid);
}
function transmit(c, cmid) {
  var p = c.pend.get(cmid);
  p.state = 'sending';
  var ok = send({ type: p.kind, conversation: c.id, cmid: cmid, text: p.text }, function (r) {
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
  if (p.kind === 'email_reply' && a.mail !== 'sent') {
    toast(a.mail === 'unsure' ? 'Saved; the mail server stopped answering after it took the email: it may still arrive.'
      : 'Saved, but the email was not sent: ' + (a.mail_error || 'the mail server refused it') + '. Send it again to retry.');
  }
  addMessage({ conversation: a.conversation, id: a.id, cmid: a.cmid, from: p.kind === 'note' ? 'note' : 'agent', author: me, text: p.text, ts: a.ts,
               channel: p.kind === 'email_reply' ? 'email' : undefined }, true);
}
function flushPending() {
  convs.forEach(function (c) { c.pend.forEach(function (p, cmid) { if (p.state === 'sending') transmit(c, cmid); }); });
}

/* ---------- conversation state, typing, read, rating ---------- */
function onConversation(x) {
  var c = conv(x.id), was = c.mine;
  c.state = x.state;
  if (x.agent) { c.agent = x.agent; agentNames[x.agent] = 1; }
  if (x.state === 'active' && x.agent) {
    c.mine = x.agent === me;
    if (c.mine && !was && !c.accepting) {
      // Transferred to me: load it, and say so.
      c.takenElsewhere = false;
      resume(c);
      beep(true);
      toast('A chat was transferred to you.');
    } else if (was && !c.mine) {
      c.takenElsewhere = false;
      if (c.id === current) toast('The chat is now with ' + x.agent + '.');
    }
  }
  if (x.state === 'closed') { c.closedBy = x.closed_by || null; c.typing = false; }
  queue.delete(x.id);
  if (c.id === current && c.visitor) refreshVisitorSoon(c.visitor); // chats count, conversation list
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
  if (compareIds(m.up_to, c.seenUpTo) > 0) { c.seenUpTo = m.up_to; if (c.id === current) renderConv(); }
}
function onRating(m) {
  var c = convs.get(m.conversation);
  if (!c) return;
  c.rating = { score: m.score, comment: m.comment || '' };
  renderAll();
}

/* ---------- actions ---------- */
function select(id) {
  if (current && current !== id) { stopTyping(convs.get(current)); closeCanned(); if (emailMode) setEmailMode(false); }
  current = id; picked = null;
  var c = convs.get(id) || conv(id, queue.get(id) && queue.get(id).visitor);
  if (!c.synced && !c.loading) resume(c);
  if (c.visitor) loadVisitor(c.visitor, true);
  setView('chat');
  markRead(c);
  if (c.mine && c.state === 'active') $('input').focus();
}
function accept(id) {
  var b = $('accept'); b.disabled = true;
  conv(id).accepting = true;
  send({ type: 'accept', conversation: id }, function (r) {
    b.disabled = false;
    var c = conv(id);
    c.accepting = false;
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
  if (!c || !text || !(canChat(c) || (emailMode && canEmail(c)))) return;
  $('input').value = '';
  closeCanned();
  if (noteMode) { sendMessage(c, text, 'note'); setNoteMode(false); return; }
  if (emailMode) { sendMessage(c, text, 'email_reply'); return; }
  stopTyping(c);
  sendMessage(c, text);
});
$('input').addEventListener('keydown', function (e) {
  if (cannedKey(e)) return;
  if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) { e.preventDefault(); $('composer').requestSubmit(); }
});
function setNoteMode(on) {
  noteMode = on;
  if (on && emailMode) setEmailMode(false);
  $('note-toggle').setAttribute('aria-pressed', String(on));
  $('composer').classList.toggle('note-mode', on);
  $('note-hint').hidden = !on;
  $('send').textContent = on ? 'Add note' : 'Send';
  $('input').placeholder = on ? 'Internal note — only agents see this' : 'Type a reply — Enter to send, Shift+Enter for a new line, / for canned responses';
  if (on) stopTyping(convs.get(current));
}
$('note-toggle').addEventListener('click', function () { setNoteMode(!noteMode); $('input').focus(); });
// An answer by email: any conversation but another agent's active chat (the server says when the
// visitor gave no address); a chat that is not this agent's active one can only be answered so.
function canChat(c) { return !!c && c.mine && c.state === 'active'; }
function canEmail(c) { return !!c && !(c.state === 'active' && !c.mine); }
function setEmailMode(on) {
  emailMode = on;
  if (on && noteMode) setNoteMode(false);
  $('email-toggle').setAttribute('aria-pressed', String(on));
  $('composer').classList.toggle('email-mode', on);
  $('email-hint').hidden = !on;
  $('send').textContent = on ? 'Send by email' : 'Send';
  if (on) stopTyping(convs.get(current));
  renderConv();
}
$('email-toggle').addEventListener('click', function () { setEmailMode(!emailMode); $('input').focus(); });
$('email-answer').addEventListener('click', function () { setEmailMode(true); $('input').focus(); });
var typingSent = 0, typingOff = 0;
$('input').addEventListener('input', function () {
  updateCanned();
  var c = convs.get(current);
  if (!c || !c.mine || c.state !== 'active' || noteMode || emailMode) return;
  if (!$('input').value || $('input').value.charAt(0) === '/') return stopTyping(c);
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
// Browsers start audio on a user gesture only: any click or key in the panel unlocks it.
document.addEventListener('pointerdown', unlockAudio);
document.addEventListener('keydown', unlockAudio);
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
function setView(v) {
  view = v;
  ['visitors', 'inbox', 'canned', 'dashboard', 'flows'].forEach(function (k) { $('nav-' + k).setAttribute('aria-current', String(view === k)); });
  if (v !== 'chat') closeCanned();
  if (v === 'visitors') { loadVisitors(); renderVisitors(); }
  if (v === 'inbox') { markInboxSeen(); renderInbox(); }
  if (v === 'canned') { loadCanned(); renderCanned(); }
  if (v === 'dashboard') loadDashboard();
  if (v === 'flows') showFlows();
  renderAll();
}
$('nav-visitors').addEventListener('click', function () { setView('visitors'); });
$('nav-inbox').addEventListener('click', function () { setView('inbox'); });
$('nav-canned').addEventListener('click', function () { setView('canned'); });
$('nav-dashboard').addEventListener('click', function () { setView('dashboard'); });
$('nav-flows').addEventListener('click', function () { setView('flows'); });
initFlows({ api: api });

function renderQueue() {
  var ul = $('queue'); ul.textContent = '';
  var items = Array.from(queue.values()).sort(function (a, b) { return a.created - b.created; });
  items.forEach(function (q) {
    loadVisitor(q.visitor);
    var li = el('li', 'q-row');
    var b = el('button', 'item', null, { type: 'button', 'data-conv': q.id, 'aria-current': String(view === 'chat' && q.id === current) });
    b.appendChild(el('span', 'name', visitorName(q.visitor)));
    b.appendChild(el('span', 'wait', since(q.created), { 'data-since': String(q.created), title: 'Waiting time' }));
    b.appendChild(el('span', 'sub', (q.rule ? '⚑ ' + q.rule + ' · ' : '') + (q.channel === 'email' ? '✉ ' : '') + (q.preview || '…')));
    var path = q.flow && q.flow.length ? q.flow.join(' › ') : '';
    if (path && path !== q.preview) b.appendChild(el('span', 'sub flow-path', 'Flow: ' + path));
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
    .sort(function (a, b) { return Number(a.state === 'closed') - Number(b.state === 'closed') || compareIds(b.lastId, a.lastId); });
  list.forEach(function (c) {
    loadVisitor(c.visitor);
    var li = el('li');
    var b = el('button', 'item' + (c.state === 'closed' ? ' closed' : ''), null, { type: 'button', 'data-conv': c.id, 'aria-current': String(view === 'chat' && c.id === current) });
    b.appendChild(el('span', 'name', visitorName(c.visitor)));
    var n = c.id === current ? 0 : unreadCount(c);
    if (n) b.appendChild(el('span', 'unread', String(n), { 'aria-label': n + ' unread' }));
    else b.appendChild(el('span', 'muted small', c.state === 'closed' ? 'closed' : ''));
    var last = sorted(c).filter(function (m) { return m.from !== 'system'; }).pop();
    b.appendChild(el('span', 'sub' + (c.typing ? ' typing-dot' : ''), c.typing ? 'typing…' : last ? (last.from === 'agent' ? 'You: ' : last.from === 'note' ? 'Note: ' : last.from === 'bot' ? 'Bot: ' : '') + last.text : ''));
    b.addEventListener('click', function () { select(c.id); });
    li.appendChild(b); ul.appendChild(li);
  });
  $('chats-count').textContent = String(list.filter(function (c) { return c.state !== 'closed'; }).length);
  $('chats-empty').hidden = list.length > 0;
}

function renderConv() {
  var c = view === 'chat' && current && convs.get(current);
  $('placeholder').hidden = !!c || view !== 'chat'; $('conv').hidden = !c;
  $('visitors-view').hidden = view !== 'visitors'; $('inbox-view').hidden = view !== 'inbox'; $('canned-view').hidden = view !== 'canned';
  $('dashboard-view').hidden = view !== 'dashboard'; $('flows-view').hidden = view !== 'flows';
  if (!c) return;
  $('conv-title').textContent = visitorName(c.visitor);
  var st = c.state === 'queued' ? 'Waiting in the queue' + (c.created ? ' for ' + since(c.created) : '')
    : c.state === 'active' ? (c.mine ? 'Active — you are chatting' : c.takenElsewhere ? 'Accepted by ' + (c.agent || 'another agent') : 'Active with ' + (c.agent || 'another agent'))
    : c.closedBy === 'timeout' ? 'Closed after the visitor left'
    : 'Closed' + (c.closedBy ? ' by the ' + c.closedBy : '');
  if (!c.mine && c.state !== 'queued') st += ' · read-only';
  $('conv-state').textContent = st;
  var path = flowPath(c, sorted(c));
  $('conv-flow').hidden = !path.length;
  $('conv-flow').textContent = path.length ? 'Came through the flow: ' + path.join(' › ') : '';
  $('accept').hidden = c.state !== 'queued' || c.mine;
  $('transfer').hidden = !(c.mine && c.state === 'active');
  $('close-conv').hidden = c.state === 'closed' || (!c.mine && c.state !== 'queued');
  $('dismiss').hidden = c.state !== 'closed';
  var canWrite = canChat(c);
  // Not the agent's active chat: read-only, unless the agent chose to answer it by email.
  $('composer').hidden = !canWrite && !emailMode;
  $('email-answer').hidden = canWrite || emailMode || !canEmail(c);
  $('email-toggle').hidden = !canEmail(c) || !canWrite;
  $('note-toggle').hidden = $('attach').hidden = !canWrite;

  var log = $('log');
  var stick = log.scrollHeight - log.scrollTop - log.clientHeight < 60;
  log.textContent = '';
  var msgs = sorted(c), seenNode = /** @type {HTMLElement | null} */ (null);
  if (c.gaps.length) log.appendChild(el('p', 'note gap', 'Some earlier messages could not be loaded.', { role: 'note' }));
  msgs.forEach(function (m) {
    if (m.from === 'note') { log.appendChild(noteNode(m.author === me ? 'You' : m.author, m.ts, m.text, { 'data-id': m.id })); return; }
    var node = el('div', 'msg ' + m.from + (m.from === 'agent' && m.author !== me ? ' other' : '') + (m.channel === 'email' ? ' email' : ''), null, { 'data-id': m.id });
    if (m.file) {
      var box = el('div', 'text file');
      box.appendChild(fileNode(m, function () { refreshLinks(c); }));
      node.appendChild(box);
    } else node.appendChild(el('div', 'text', m.text));
    if (m.channel === 'email') emailParts(m).forEach(function (part) { node.appendChild(part); });
    var offer = m.from === 'bot' ? flowOffer(m.flow) : null;
    if (offer) node.appendChild(offer);
    if (m.from !== 'system') {
      var meta = el('div', 'meta');
      var who = m.from === 'agent' ? (m.author === me ? 'You' : m.author) : m.from === 'bot' ? 'Bot (flow)' : visitorName(c.visitor);
      meta.appendChild(el('span', null, who + ' · ' + clockTime(m.ts)));
      if (m.channel === 'email') meta.appendChild(el('span', 'channel', m.from === 'agent' ? '✉ by email' : '✉ by email' + (m.email_from ? ' from ' + m.email_from : '')));
      if (m.from === 'agent') {
        var s = el('span', 'state', 'Sent');
        meta.appendChild(s);
        if (c.seenUpTo && compareIds(m.id, c.seenUpTo) <= 0) seenNode = s;
      }
      node.appendChild(meta);
    }
    log.appendChild(node);
  });
  if (seenNode) seenNode.textContent = 'Seen';
  c.pend.forEach(function (p, cmid) {
    var note = p.kind === 'note', node, meta;
    if (note) {
      node = noteNode('You', p.ts, p.text, { 'data-cmid': cmid });
      node.classList.add(p.state);
      meta = node.querySelector('.meta');
    } else {
      node = el('div', 'msg agent ' + p.state, null, { 'data-cmid': cmid });
      node.appendChild(el('div', 'text', p.text));
      meta = el('div', 'meta');
      meta.appendChild(el('span', null, 'You · ' + clockTime(p.ts)));
      node.appendChild(meta);
    }
    meta.appendChild(el('span', 'state', p.state === 'failed' ? (note ? 'Not saved' : 'Not sent') : (note ? 'Saving…' : 'Sending…')));
    if (p.state === 'failed') {
      var r = el('button', 'retry', 'Retry', { type: 'button' });
      r.addEventListener('click', function () { transmit(c, cmid); });
      meta.appendChild(r);
    }
    log.appendChild(node);
  });
  uploadNodes(c, uploadHost).forEach(function (node) { log.appendChild(node); });
  if (c.rating) {
    log.appendChild(el('p', 'note rating', 'Visitor rated this chat ' + c.rating.score + '/5' + (c.rating.comment ? ': “' + c.rating.comment + '”' : '')));
  }
  if (!ready) log.appendChild(el('p', 'note', 'Offline — messages will be sent when the connection is back.'));
  if (stick) log.scrollTop = log.scrollHeight;
  renderTyping();
}

/* A visitor's mail: the whole text for the agent to expand, and what it carried that was not taken. */
function emailParts(m) {
  var parts = [];
  if (m.original) {
    var d = el('details', 'whole-mail');
    d.appendChild(el('summary', null, 'Show the whole email'));
    d.appendChild(el('pre', null, m.original));
    parts.push(d);
  }
  (m.attachments || []).forEach(function (a) {
    parts.push(el('p', 'refused', 'Attachment not taken: ' + (a.name || 'unnamed') + (a.type ? ' (' + a.type + ')' : '') + (a.refused ? ' — ' + a.refused : '')));
  });
  return parts;
}

/* files: attach by the button, a drop on the conversation or a paste (files.js) */
var uploadHost = {
  token: function () { return sessionValue(TOKEN_KEY) || ''; },
  changed: function (/** @type {string} */ id) { if (id === current) renderConv(); },
  stored: function (/** @type {any} */ a) {
    addMessage({ conversation: a.conversation, id: a.id, cmid: a.cmid, from: 'agent', author: me, text: a.file.name, file: a.file,
                 ts: Number(String(a.id).split('-')[0]) || Date.now() }, true);
  }
};
function canAttach() { var c = current && convs.get(current); return !!c && c.mine && c.state === 'active' && !noteMode && !emailMode; }
bindAttach({ button: $('attach'), picker: /** @type {HTMLInputElement} */ ($('attach-picker')), zone: $('conv'), input: $('input'),
  canAttach: canAttach, add: function (list) { var c = convs.get(current); if (c) uploadAll(c, list, uploadHost); } });
// Fresh signed links for a conversation's files (a resume from the start signs them anew), at
// most every 5 s: several expired thumbnails fail at once.
/** @param {any} c */
function refreshLinks(c) {
  if (Date.now() - (c.linksAsked || 0) < 5000) return;
  c.linksAsked = Date.now();
  send({ type: 'resume', conversation: c.id, since: '0' });
}

// An internal note: yellow, labelled, never sent to the visitor.
function noteNode(author, ts, text, attrs) {
  var node = el('div', 'msg internal', null, attrs);
  node.appendChild(el('div', 'text', text));
  var meta = el('div', 'meta');
  meta.appendChild(el('span', 'lock', 'Note · only agents see this'));
  meta.appendChild(el('span', null, author + ' · ' + clockTime(ts)));
  node.appendChild(meta);
  return node;
}

function renderTyping() {
  var c = current && convs.get(current);
  $('typing').textContent = c && c.typing && c.state !== 'closed' ? visitorName(c.visitor) + ' is typing…' : '';
}

/* ---------- the visitor sidebar (the `visitor` reply, kept live by `visitor_update`) ---------- */
function sideVisitor() {
  if (view !== 'chat' && picked) return picked;
  var c = current && convs.get(current);
  return c ? c.visitor : null;
}
function loadVisitor(vid, force) {
  if (!vid || vloading[vid] || (!force && vcache.has(vid))) return;
  if (!send({ type: 'visitor', visitor: vid }, function (r) {
    delete vloading[vid];
    if (r.type === 'visitor' && r.visitor) {
      vcache.set(vid, { visitor: r.visitor, pages: r.pages || [], conversations: r.conversations || [] });
      var l = live.get(vid);
      if (l && r.visitor.name) l.name = r.visitor.name;
    } else if (r.type === 'error' && !(vcache.get(vid) || {}).visitor) {
      vcache.set(vid, { error: r.code, message: r.message });
    }
    renderVisitor(); renderQueue(); renderChats(); renderVisitors();
    if (current && view === 'chat') $('conv-title').textContent = visitorName((convs.get(current) || {}).visitor);
  })) return;
  vloading[vid] = true;
}
var refreshTimer = 0;
function refreshVisitorSoon(vid) {
  clearTimeout(refreshTimer);
  refreshTimer = setTimeout(function () { loadVisitor(vid, true); }, 600);
}
function onVisitorUpdate(u) {
  if (!u || !u.id) return;
  var l = live.get(u.id) || { id: u.id };
  ['page_url', 'page_title', 'page_since', 'visit_pages', 'visit_started'].forEach(function (k) { if (u[k] != null) l[k] = u[k]; });
  l.updated = Date.now();
  live.set(u.id, l);
  var d = vcache.get(u.id);
  if (d && d.visitor) {
    var v = d.visitor;
    if (u.visit_started && v.visit_started && u.visit_started !== v.visit_started) d.pages = []; // a new visit
    if (u.visit_started) v.visit_started = u.visit_started;
    if (u.visit_pages != null) v.visit_pages = u.visit_pages;
    v.page = { url: u.page_url, title: u.page_title, since: u.page_since };
    var last = d.pages[d.pages.length - 1];
    // (the reply's page ts and page_since can differ by a millisecond or so)
    if (!last || last.url !== u.page_url || Math.abs(last.ts - u.page_since) > 250) d.pages.push({ url: u.page_url, title: u.page_title, ts: u.page_since });
    if (d.pages.length > 50) d.pages.shift();
  }
  if (sideVisitor() === u.id) renderVisitor();
  renderVisitors();
}

function renderVisitor() {
  var card = $('visitor-card'), dl = $('visitor-details'), pl = $('visitor-pages'), cl = $('visitor-convs'), note = $('visitor-note');
  card.textContent = ''; dl.textContent = ''; pl.textContent = ''; cl.textContent = '';
  $('visitor-pages-box').hidden = true; $('visitor-convs-box').hidden = true; note.hidden = true;
  var vid = sideVisitor();
  var c = view === 'chat' && current ? convs.get(current) : null;
  if (!vid && !c) { card.appendChild(el('p', 'muted', 'No chat selected')); return; }
  var d = vid ? vcache.get(vid) : null, v = d && d.visitor, l = vid ? live.get(vid) : null;
  var rows = [];

  card.appendChild(el('p', 'visitor-name', visitorName(vid)));
  if (v && v.email) card.appendChild(el('a', 'visitor-email', v.email, { href: mailto(v.email) }));
  var page = v && v.page && v.page.url ? v.page : l && l.page_url ? { url: l.page_url, title: l.page_title, since: l.page_since } : null;
  if (page) {
    var now = el('div', 'current-page', null, { 'data-page': page.url });
    now.appendChild(el('span', 'label', 'Now on'));
    now.appendChild(link(page.url, page.title || shortUrl(page.url), 'page-title'));
    if (page.title) now.appendChild(el('span', 'page-url', shortUrl(page.url)));
    if (page.since) {
      var ps = el('span', 'page-since', 'for ');
      ps.appendChild(el('span', null, since(page.since), { 'data-since': String(page.since) }));
      now.appendChild(ps);
    }
    card.appendChild(now);
  }

  if (c && c.visitor === vid) {
    var st = c.state === 'active' ? 'active with ' + (c.agent === me ? 'you' : c.agent || '—') : c.state;
    rows.push(['Chat', st]);
    var q = queue.get(c.id);
    if (q && q.rule) c.rule = q.rule;
    if (!c.rule && d && d.conversations) d.conversations.forEach(function (x) { if (x.id === c.id && x.rule) c.rule = x.rule; });
    if (c.rule) rows.push(['Invited by', c.rule === 'manual' ? 'an agent (manual invitation)' : 'rule ' + c.rule]);
    if (c.rating) rows.push(['Rating', c.rating.score + '/5' + (c.rating.comment ? ' — ' + c.rating.comment : '')]);
  }
  if (v) {
    if (v.visit_started) rows.push(['This visit', 'since ' + clockTime(v.visit_started) + (v.visit_pages ? ' · ' + v.visit_pages + (v.visit_pages === 1 ? ' page' : ' pages') : '')]);
    if (v.visits != null) rows.push(['Visits', String(v.visits)]);
    if (v.chats != null) rows.push(['Chats', String(v.chats)]);
    rows.push(['Came from', v.referrer ? v.referrer : 'direct']);
    var utm = v.utm || {}, ut = Object.keys(utm).map(function (k) { return k + ': ' + utm[k]; }).join(', ');
    if (ut) rows.push(['Campaign', ut]);
    if (v.device) rows.push(['Device', v.device]);
    if (v.lang) rows.push(['Language', v.lang]);
    if (v.first_seen) rows.push(['First seen', calendarDay(v.first_seen)]);
    var at = v.attrs || {};
    Object.keys(at).forEach(function (k) { rows.push([k, String(at[k])]); });
  }
  rows.push(['Visitor id', vid || '—']);
  rows.forEach(function (r) {
    dl.appendChild(el('dt', null, r[0]));
    var dd = el('dd');
    if (r[0] === 'Came from' && /^https?:/i.test(r[1])) dd.appendChild(link(r[1])); else dd.textContent = r[1];
    dl.appendChild(dd);
  });

  if (d && d.pages && d.pages.length) {
    $('visitor-pages-box').hidden = false;
    d.pages.forEach(function (pg, i) {
      var li = el('li', i === d.pages.length - 1 ? 'current' : null);
      li.appendChild(el('span', 'time', clockTime(pg.ts)));
      li.appendChild(link(pg.url, pg.title || shortUrl(pg.url), 'url'));
      pl.appendChild(li);
    });
  }
  if (d && d.conversations && d.conversations.length) {
    $('visitor-convs-box').hidden = false;
    d.conversations.forEach(function (x) {
      var li = el('li'), known = convs.get(x.id);
      if (!known || !known.mine) known = null; // our own chats are kept current by pushes; others by this reply
      var parts = [calendarDay(x.created), (known && known.agent) || x.agent || 'no agent', (known && known.state) || x.state];
      if (x.rating) parts.push('★' + x.rating);
      if (x.rule) parts.push('⚑ ' + x.rule);
      if (x.channel === 'email') parts.push('✉ email');
      var b = el('button', null, parts.join(' · '), { type: 'button', 'data-conv': x.id, 'aria-current': String(!!c && c.id === x.id),
        title: x.id === (c && c.id) ? 'This chat' : 'Open read-only' });
      b.addEventListener('click', function () { openConversation(x, vid); });
      li.appendChild(b); cl.appendChild(li);
    });
  }
  if (d && d.error) {
    note.hidden = false;
    note.textContent = d.error === 'unknown_type' ? 'This server does not report visitor details yet.' : 'Visitor details could not be loaded (' + (d.message || d.error) + ').';
  } else if (!d) { note.hidden = false; note.textContent = 'Loading visitor details…'; }
}
// A past (or someone else's) conversation: shown read-only, loaded with `resume`.
function openConversation(x, vid) {
  var c = conv(x.id, vid);
  if (!c.mine) { c.state = x.state || c.state; c.agent = x.agent || c.agent; c.created = c.created || x.created; if (x.rule) c.rule = x.rule; }
  select(x.id);
}

/* ---------- "Visitors now" (the `visitors` reply, kept live by `visitor_update`) ---------- */
function loadVisitors() {
  send({ type: 'visitors' }, function (r) {
    if (r.type !== 'visitors') { if (r.type === 'error') { liveUnsupported = r.code; renderVisitors(); } return; }
    var next = new Map();
    (r.visitors || []).forEach(function (x) { var o = live.get(x.id); if (o && o.fresh) x.fresh = o.fresh; next.set(x.id, x); });
    live = next; liveUnsupported = '';
    renderVisitors();
  });
}
setInterval(function () { if (ready && view === 'visitors' && !document.hidden) loadVisitors(); }, 20000);
function renderVisitors() {
  var cutoff = Date.now() - 5 * 60 * 1000;
  var list = Array.from(live.values()).filter(function (x) { return (x.page_since || x.updated || 0) >= cutoff || x.conversation; })
    .sort(function (a, b) { return (b.page_since || 0) - (a.page_since || 0); });
  $('visitors-count').textContent = String(list.length);
  if (view !== 'visitors') return;
  var tb = $('visitors-list'); tb.textContent = '';
  list.forEach(function (x) {
    var tr = el('tr', null, null, { 'data-visitor': x.id });
    var td = el('td');
    var who = el('button', 'who', visitorName(x.id), { type: 'button', title: 'Show details' });
    who.addEventListener('click', function () { picked = x.id; loadVisitor(x.id, true); renderVisitor(); });
    td.appendChild(who);
    if (x.visits > 1) td.appendChild(el('div', 'muted small', x.visits + ' visits'));
    tr.appendChild(td);
    td = el('td');
    if (x.page_url) { td.appendChild(link(x.page_url, x.page_title || shortUrl(x.page_url), 'page-title')); td.appendChild(el('span', 'page-url', shortUrl(x.page_url))); }
    tr.appendChild(td);
    td = el('td', 'num');
    if (x.visit_started) td.appendChild(el('span', null, since(x.visit_started), { 'data-since': String(x.visit_started), title: 'Time on site' }));
    tr.appendChild(td);
    tr.appendChild(el('td', 'num', x.visit_pages != null ? String(x.visit_pages) : ''));
    td = el('td');
    if (x.conversation) {
      var o = el('button', 'ghost invite', 'In chat', { type: 'button', title: 'Open the conversation' });
      o.addEventListener('click', function () { openConversation({ id: x.conversation }, x.id); });
      td.appendChild(o);
    } else {
      var b = el('button', 'primary invite', 'Invite', { type: 'button', 'aria-label': 'Invite ' + visitorName(x.id) + ' to chat' });
      b.addEventListener('click', function () { openInvite(x); });
      td.appendChild(b);
    }
    tr.appendChild(td);
    tb.appendChild(tr);
  });
  $('visitors-empty').hidden = list.length > 0;
  $('visitors-empty').textContent = liveUnsupported ? 'This server does not report live visitors yet (' + liveUnsupported + ').' : 'No one is on the site right now.';
}
var inviteFor = null;
function openInvite(x) {
  inviteFor = x.id;
  $('invite-who').textContent = visitorName(x.id) + (x.page_title || x.page_url ? ' · on ' + (x.page_title || shortUrl(x.page_url)) : '');
  $('invite-dialog').showModal();
  $('invite-text').focus(); $('invite-text').select();
}
$('invite-cancel').addEventListener('click', function () { $('invite-dialog').close(); });
$('invite-form').addEventListener('submit', function (e) {
  e.preventDefault();
  var text = $('invite-text').value.trim(), vid = inviteFor;
  if (!text || !vid) return;
  $('invite-send').disabled = true;
  var sent = send({ type: 'invite', visitor: vid, text: text }, function (r) {
    $('invite-send').disabled = false;
    if (r.type === 'ok') { $('invite-dialog').close(); toast('Invitation sent to ' + visitorName(vid) + '.'); }
    else toast('Could not invite: ' + (r.message || r.code));
  });
  if (!sent) { $('invite-send').disabled = false; toast('Offline — try again when the connection is back.'); }
});

/* ---------- left messages ---------- */
function inboxSeen() { return +(localValue('beckon-inbox-seen:' + me) || 0); }
function markInboxSeen() {
  var top = inbox.reduce(function (m, x) { return Math.max(m, x.ts || 0); }, inboxSeen());
  localValue('beckon-inbox-seen:' + me, String(top));
}
function onLeftMessage(x) {
  if (!x || !x.id || inbox.some(function (y) { return y.id === x.id; })) return;
  inbox.unshift(x);
  beep();
  if (view === 'inbox' && !document.hidden) markInboxSeen();
  else if ('Notification' in window && Notification.permission === 'granted' && (document.hidden || !document.hasFocus())) {
    try { new Notification('Message left by ' + (x.name || x.email), { body: x.text, tag: 'beckon-left-' + x.id }); } catch (e) { /* ignore */ }
  }
  renderInbox();
}
function renderInbox() {
  var seen = me ? inboxSeen() : 0, fresh = 0;
  var ul = $('inbox-list'); ul.textContent = '';
  inbox.forEach(function (x) {
    var isNew = x.ts > seen || x.fresh;
    if (x.ts > seen) fresh++;
    var li = el('li', isNew ? 'fresh' : null, null, { 'data-id': x.id });
    var from = el('div', 'from');
    from.appendChild(el('b', null, x.name || x.email || 'Visitor'));
    if (x.email) from.appendChild(el('a', null, x.email, { href: mailto(x.email) }));
    // The visitor's identity is signed by the site; these details were only typed here.
    if (x.unverified) from.appendChild(el('span', 'muted small', 'unverified', { title: 'Typed with this message; the visitor\'s verified profile says otherwise or is kept unchanged' }));
    from.appendChild(el('span', 'muted small', dayAndTime(x.ts)));
    li.appendChild(from);
    li.appendChild(el('div', 'text', x.text));
    var act = el('div', 'actions');
    if (x.email) act.appendChild(el('a', null, 'Reply by email', { href: mailto(x.email) + '?subject=' + encodeURIComponent('Re: your message') }));
    if (x.visitor) {
      var b = el('button', 'retry', 'Visitor details', { type: 'button' });
      b.addEventListener('click', function () { picked = x.visitor; loadVisitor(x.visitor, true); renderVisitor(); });
      act.appendChild(b);
    }
    li.appendChild(act);
    ul.appendChild(li);
  });
  $('inbox-empty').hidden = inbox.length > 0;
  var badge = $('inbox-badge');
  badge.hidden = !fresh || view === 'inbox';
  badge.textContent = String(fresh);
  badge.setAttribute('aria-label', fresh + ' new');
}

/* ---------- canned responses (REST: GET/PUT/DELETE /api/canned) ---------- */
var cannedError = '';
function loadCanned() {
  return api('GET', '/api/canned').then(function (r) {
    if (r.status !== 200) { cannedError = errorText(r); renderCanned(); return; }
    canned = (r.body.canned || []).slice().sort(function (a, b) { return String(a.shortcut).localeCompare(String(b.shortcut)); });
    cannedLoaded = true; cannedError = '';
    renderCanned(); if (!$('canned-pop').hidden) updateCanned();
  }, function (e) { cannedError = e.message; renderCanned(); });
}
var editing = null, armedDelete = null;
function renderCanned() {
  var ul = $('canned-list'); ul.textContent = '';
  canned.forEach(function (k) {
    var li = el('li', null, null, { 'data-id': k.id });
    li.appendChild(el('span', 'shortcut', k.shortcut));
    li.appendChild(el('span', 'canned-text', k.text));
    var btns = el('div', 'btns');
    var e = el('button', 'ghost', 'Edit', { type: 'button', 'aria-label': 'Edit ' + k.shortcut });
    e.addEventListener('click', function () { editCanned(k); });
    var del = el('button', 'danger', armedDelete === k.id ? 'Really delete?' : 'Delete', { type: 'button', 'aria-label': 'Delete ' + k.shortcut });
    del.addEventListener('click', function () {
      if (armedDelete !== k.id) { armedDelete = k.id; renderCanned(); return; }
      armedDelete = null;
      api('DELETE', '/api/canned/' + encodeURIComponent(k.id)).then(function (r) {
        if (r.status !== 200 && r.status !== 204) toast('Could not delete: ' + errorText(r));
        if (editing === k.id) editCanned(null);
        loadCanned();
      }, function () { /* api.js said why */ });
    });
    btns.appendChild(e); btns.appendChild(del); li.appendChild(btns);
    ul.appendChild(li);
  });
  $('canned-empty').hidden = canned.length > 0;
  $('canned-empty').textContent = cannedError ? 'Canned responses are not available: ' + cannedError : 'No canned responses yet.';
}
function editCanned(k) {
  editing = k ? k.id : null;
  $('canned-form-title').textContent = k ? 'Edit ' + k.shortcut : 'New canned response';
  $('canned-shortcut').value = k ? k.shortcut : '';
  $('canned-text').value = k ? k.text : '';
  $('canned-cancel').hidden = !k;
  $('canned-error').textContent = '';
  if (k) $('canned-text').focus();
}
$('canned-cancel').addEventListener('click', function () { editCanned(null); });
$('canned-form').addEventListener('submit', function (e) {
  e.preventDefault();
  var sc = $('canned-shortcut').value.trim().replace(/\s+/g, '-'), text = $('canned-text').value.trim();
  if (!sc || !text) { $('canned-error').textContent = 'Enter a shortcut and a text.'; return; }
  if (sc.charAt(0) !== '/') sc = '/' + sc;
  var id = editing || sc.slice(1).toLowerCase().replace(/[^a-z0-9_-]+/g, '-').replace(/^-+|-+$/g, '').slice(0, 64) || randomHex();
  $('canned-save').disabled = true;
  api('PUT', '/api/canned/' + encodeURIComponent(id), { shortcut: sc, text: text }).then(function (r) {
    $('canned-save').disabled = false;
    if (r.status !== 200 && r.status !== 201) { $('canned-error').textContent = 'Not saved: ' + errorText(r); return; }
    editCanned(null);
    toast('Saved ' + sc + '.');
    loadCanned();
  }, function (e) { $('canned-save').disabled = false; $('canned-error').textContent = e.message; });
});

// The "/" popup in the reply box: filter by shortcut and text; arrows move, Enter or Tab inserts, Esc closes.
var cannedItems = [], cannedSel = 0, cannedDismissed = false;
function closeCanned() {
  $('canned-pop').hidden = true; cannedItems = [];
  $('input').removeAttribute('aria-activedescendant'); $('input').setAttribute('aria-expanded', 'false');
}
function updateCanned() {
  var v = $('input').value;
  if (v.charAt(0) !== '/' || v.indexOf('\n') >= 0) { cannedDismissed = false; closeCanned(); return; }
  if (cannedDismissed) return;
  if (!cannedLoaded) loadCanned();
  var q = v.slice(1).toLowerCase();
  var scored = [];
  canned.forEach(function (k) {
    var sc = String(k.shortcut || '').toLowerCase().replace(/^\//, ''), tx = String(k.text || '').toLowerCase();
    var rank = !q ? 1 : sc.indexOf(q) === 0 ? 0 : sc.indexOf(q) > 0 ? 1 : tx.indexOf(q) >= 0 ? 2 : -1;
    if (rank >= 0) scored.push([rank, k]);
  });
  scored.sort(function (a, b) { return a[0] - b[0] || String(a[1].shortcut).localeCompare(String(b[1].shortcut)); });
  var prev = cannedItems[cannedSel];
  cannedItems = scored.slice(0, 8).map(function (x) { return x[1]; });
  cannedSel = Math.max(0, cannedItems.indexOf(prev));
  renderCannedPop(q);
}
function renderCannedPop(q) {
  var ul = $('canned-pop'); ul.textContent = '';
  cannedItems.forEach(function (k, i) {
    var li = el('li', null, null, { role: 'option', id: 'canned-opt-' + i, 'aria-selected': String(i === cannedSel), 'data-id': k.id });
    li.appendChild(el('span', 'shortcut', k.shortcut));
    li.appendChild(el('span', 'canned-text', k.text));
    li.addEventListener('mousedown', function (e) { e.preventDefault(); });
    li.addEventListener('click', function () { insertCanned(k); });
    ul.appendChild(li);
  });
  if (!cannedItems.length) {
    ul.appendChild(el('li', 'none', !cannedLoaded ? 'Loading canned responses…' : canned.length ? 'No canned response matches “' + q + '”' : 'No canned responses yet — add some under “Canned responses”.'));
  }
  ul.hidden = false;
  $('input').setAttribute('aria-expanded', 'true');
  if (cannedItems.length) $('input').setAttribute('aria-activedescendant', 'canned-opt-' + cannedSel); else $('input').removeAttribute('aria-activedescendant');
}
function insertCanned(k) {
  var i = $('input');
  i.value = k.text;
  closeCanned();
  i.focus(); i.setSelectionRange(i.value.length, i.value.length);
}
function cannedKey(e) {
  if ($('canned-pop').hidden || e.isComposing) return false;
  if (e.key === 'ArrowDown' || e.key === 'ArrowUp') {
    if (!cannedItems.length) return false;
    e.preventDefault();
    cannedSel = (cannedSel + (e.key === 'ArrowDown' ? 1 : cannedItems.length - 1)) % cannedItems.length;
    renderCannedPop('');
    return true;
  }
  if ((e.key === 'Enter' && !e.shiftKey) || e.key === 'Tab') {
    if (!cannedItems.length) return false;
    e.preventDefault(); insertCanned(cannedItems[cannedSel]); return true;
  }
  if (e.key === 'Escape') { e.preventDefault(); cannedDismissed = true; closeCanned(); return true; }
  return false;
}

/* ---------- dashboard (REST: GET /api/stats/service[.csv]) ---------- */
var SVG = 'http://www.w3.org/2000/svg';
var dashAgents = {};   // agent names seen in the figures (the filter's choices)
var dashSeq = 0;       // answers to an older request are dropped
var dashPicked = false; // the agent chose the days
['dash-from', 'dash-to'].forEach(function (id) {
  ['input', 'change'].forEach(function (ev) { $(id).addEventListener(ev, function () { dashPicked = true; }); });
});
function dashQuery() {
  var q = 'from=' + encodeURIComponent($('dash-from').value) + '&to=' + encodeURIComponent($('dash-to').value);
  if ($('dash-agent').value) q += '&agent=' + encodeURIComponent($('dash-agent').value);
  return q;
}
// Seconds as people read them: 42.5 s, 3 min 05 s, 1 h 02 min; '—' without a sample.
function secs(v) {
  if (v == null) return '—';
  if (v > 0 && v < 1) return Math.round(v * 1000) + ' ms';
  if (v < 60) return (v < 10 ? v.toFixed(1) : Math.round(v)) + ' s';
  return duration(Math.round(v));
}
function pct(v) { return v == null ? '—' : Math.round(v * 100) + ' %'; }
function num(v) { return v == null ? '—' : String(v); }
function loadDashboard() {
  // "The last 7 days" follows the date (a panel stays open past midnight) until the agent picks days.
  if (!dashPicked) { var today = isoDay(new Date()); $('dash-from').value = addDays(today, -6); $('dash-to').value = today; }
  // The server says the same (400); saying it here keeps a failed request out of the console.
  var span = (Date.parse($('dash-to').value) - Date.parse($('dash-from').value)) / 86400000;
  var seq = ++dashSeq;  /* before the checks: a request still on its way must not paint over them */
  $('dash-body').setAttribute('aria-busy', 'false');
  if (!(span >= 0)) { $('dash-error').textContent = 'Pick a “From” day on or before the “To” day.'; return; }
  if (span > 365) { $('dash-error').textContent = 'The range is at most 366 days.'; return; }
  $('dash-body').setAttribute('aria-busy', 'true');
  api('GET', '/api/stats/service?' + dashQuery()).then(function (r) {
    if (seq !== dashSeq) return;
    $('dash-body').setAttribute('aria-busy', 'false');
    if (r.status !== 200) { $('dash-error').textContent = errorText(r); return; }
    $('dash-error').textContent = '';
    renderDashboard(r.body);
  }, function (e) { if (seq === dashSeq) { $('dash-body').setAttribute('aria-busy', 'false'); $('dash-error').textContent = e.message; } });
}
function renderDashboard(d) {
  var t = d.totals;
  var cards = [
    ['chats', 'Chats', num(t.chats), t.answered + ' answered'],
    ['missed', 'Missed', num(t.missed), 'closed before an answer'],
    ['waiting_p50', 'Waiting p50', secs(t.waiting_p50), 'p90 ' + secs(t.waiting_p90)],
    ['first_response_p50', 'First response p50', secs(t.first_response_p50), 'p90 ' + secs(t.first_response_p90)],
    ['handling_avg', 'Handling avg', secs(t.handling_avg), 'p50 ' + secs(t.handling_p50)],
    ['csat', 'CSAT', pct(t.csat), t.ratings + (t.ratings === 1 ? ' rating' : ' ratings')],
    ['invitation_chats', 'Chats from invitations', num(t.invitation_chats),
      t.invitations_shown == null ? 'not counted per agent' : t.invitations_shown + ' shown, ' + t.invitations_accepted + ' accepted'],
    // quick-reply flows (docs/flows.md): per site, so null with an agent chosen
    ['flows_started', 'Flows started', num(t.flows_started), t.flows_started == null ? 'not counted per agent' : 'visitors who got a flow'],
    ['flows_completed', 'Flows completed', num(t.flows_completed), 'an answer reached'],
    ['flows_handed_off', 'Flows handed off', num(t.flows_handed_off), 'to a person'],
    ['flows_emails', 'Emails from flows', num(t.flows_emails), 'left outside hours']
  ];
  var dl = $('dash-cards'); dl.textContent = '';
  cards.forEach(function (c) {
    var box = el('div', 'card', null, { 'data-figure': c[0] });
    box.appendChild(el('dt', null, c[1]));
    box.appendChild(el('dd', 'value', c[2], { 'data-value': t[c[0]] == null ? '' : String(t[c[0]]) }));
    box.appendChild(el('dd', 'sub', c[3]));
    dl.appendChild(box);
  });
  renderChart(d.days);
  if (!d.agent) (d.agents || []).forEach(function (a) { dashAgents[a.agent] = 1; });
  if (me) dashAgents[me] = 1;
  var sel = $('dash-agent'), keep = sel.value;
  while (sel.options.length > 1) sel.remove(1);
  Object.keys(dashAgents).sort().forEach(function (n) { sel.appendChild(el('option', null, n, { value: n })); });
  sel.value = keep;
  var tb = $('dash-agents-list'); tb.textContent = '';
  (d.agents || []).forEach(function (a) {
    var tr = el('tr', null, null, { 'data-agent': a.agent });
    tr.appendChild(el('th', null, a.agent, { scope: 'row' }));
    [num(a.chats), num(a.missed), secs(a.waiting_p50), secs(a.first_response_p90), secs(a.handling_avg), pct(a.csat)]
      .forEach(function (v) { tr.appendChild(el('td', 'num', v)); });
    tb.appendChild(tr);
  });
  $('dash-agents-empty').hidden = (d.agents || []).length > 0;
}
// Bars per day: answered, with missed stacked on top (left axis, chats); a dot per day for the
// first response p90 (right axis, seconds). Every day is one <g> with a <title> tooltip.
function renderChart(days) {
  var W = 640, H = 230, L = 34, R = 48, T = 24, B = 30;
  var box = $('dash-chart'); box.textContent = '';
  var maxChats = Math.max(1, Math.max.apply(null, days.map(function (x) { return x.chats; })));
  var frt = days.map(function (x) { return x.first_response_p90; }).filter(function (v) { return v != null; });
  var maxSecs = Math.max(1, Math.max.apply(null, frt.concat([0])));
  function svg(tag, attrs, text) {
    var e = document.createElementNS(SVG, tag);
    for (var k in attrs) e.setAttribute(k, attrs[k]);
    if (text != null) e.textContent = text;
    return e;
  }
  var total = days.reduce(function (n, x) { return n + x.chats; }, 0);
  var root = svg('svg', { viewBox: '0 0 ' + W + ' ' + H, role: 'img', 'aria-labelledby': 'dash-chart-title dash-chart-desc', class: 'chart-svg' });
  root.appendChild(svg('desc', { id: 'dash-chart-desc' }, total + ' chats in ' + days.length + ' days; hover a day for its figures.'));
  var ph = H - T - B, slot = (W - L - R) / days.length, bw = Math.max(2, Math.min(36, slot * 0.6));
  var y = function (n) { return T + ph - ph * n / maxChats; };
  var ys = function (v) { return T + ph - ph * v / maxSecs; };
  [0, 0.5, 1].forEach(function (f) {
    var n = maxChats * f;
    root.appendChild(svg('line', { x1: L, x2: W - R, y1: y(n), y2: y(n), class: 'grid' }));
    if (f === 0 || n === Math.round(n)) root.appendChild(svg('text', { x: L - 6, y: y(n) + 4, class: 'axis', 'text-anchor': 'end' }, String(n)));
    root.appendChild(svg('text', { x: W - R + 6, y: ys(maxSecs * f) + 4, class: 'axis first-response' }, secs(maxSecs * f).replace(/ 00 s$/, '')));
  });
  root.appendChild(svg('text', { x: 4, y: 11, class: 'axis' }, 'chats'));
  root.appendChild(svg('text', { x: W - 4, y: 11, class: 'axis first-response', 'text-anchor': 'end' }, 'first response p90'));
  var every = Math.ceil(days.length / 12), points = [];
  days.forEach(function (x, i) {
    var cx = L + slot * i + slot / 2;
    var g = svg('g', { class: 'day', 'data-day': x.day });
    g.appendChild(svg('title', {}, x.day + ': ' + x.chats + ' chats, ' + x.missed + ' missed, first response p90 ' + secs(x.first_response_p90)));
    g.appendChild(svg('rect', { x: cx - slot / 2, y: T, width: slot, height: ph, class: 'hover-target' }));
    var ans = x.chats - x.missed;
    g.appendChild(svg('rect', { x: cx - bw / 2, y: y(ans), width: bw, height: y(0) - y(ans), class: 'answered' }));
    g.appendChild(svg('rect', { x: cx - bw / 2, y: y(x.chats), width: bw, height: y(ans) - y(x.chats), class: 'missed' }));
    if (x.first_response_p90 != null) {
      points.push(cx + ',' + ys(x.first_response_p90));
      g.appendChild(svg('circle', { cx: cx, cy: ys(x.first_response_p90), r: 3.5, class: 'first-response' }));
    }
    if (i % every === 0) g.appendChild(svg('text', { x: cx, y: H - B + 16, class: 'axis', 'text-anchor': 'middle' }, x.day.slice(5)));
    root.appendChild(g);
  });
  if (points.length > 1) root.insertBefore(svg('polyline', { points: points.join(' '), class: 'first-response-line' }), root.querySelector('g.day'));
  box.appendChild(root);
}
$('dash-form').addEventListener('submit', function (e) { e.preventDefault(); loadDashboard(); });
$('dash-agent').addEventListener('change', loadDashboard);
$('dash-csv').addEventListener('click', function () {
  var b = $('dash-csv');
  b.disabled = true;
  api('GET', '/api/stats/service.csv?' + dashQuery())
    .then(function (r) {
      if (r.status !== 200) { $('dash-error').textContent = 'No CSV: ' + errorText(r); return; }
      var name = /filename="([^"]+)"/.exec(r.headers.get('content-disposition') || '');
      $('dash-error').textContent = '';
      var blob = new Blob([r.text], { type: r.headers.get('content-type') || 'text/csv' });
      var a = el('a', null, null, { href: URL.createObjectURL(blob), download: name ? name[1] : 'beckon-service.csv' });
      document.body.appendChild(a); a.click(); a.remove();
      setTimeout(function () { URL.revokeObjectURL(a.href); }, 10000);
    }, function (err) { $('dash-error').textContent = 'No CSV: ' + err.message; })
    .then(function () { b.disabled = false; });
});

/* ---------- transfer ---------- */
$('transfer').addEventListener('click', function () {
  var dl = $('agent-names'); dl.textContent = '';
  Object.keys(agentNames).forEach(function (n) { if (n !== me) dl.appendChild(el('option', null, null, { value: n })); });
  $('transfer-error').textContent = ''; $('transfer-to').value = '';
  $('transfer-dialog').showModal(); $('transfer-to').focus();
});
$('transfer-cancel').addEventListener('click', function () { $('transfer-dialog').close(); });
$('transfer-form').addEventListener('submit', function (e) {
  e.preventDefault();
  var c = convs.get(current), to = $('transfer-to').value.trim();
  if (!c || !to) return;
  if (to === me) { $('transfer-error').textContent = 'That is you — pick another agent.'; return; }
  $('transfer-send').disabled = true;
  var sent = send({ type: 'transfer', conversation: c.id, to: to }, function (r) {
    $('transfer-send').disabled = false;
    if (r.type === 'ok') {
      $('transfer-dialog').close();
      stopTyping(c);
      c.mine = false; c.agent = to; agentNames[to] = 1;
      toast('Transferred to ' + to + '.');
      renderAll();
    } else {
      $('transfer-error').textContent = r.code === 'not_found' ? 'There is no agent called “' + to + '”.' : 'Could not transfer: ' + (r.message || r.code);
    }
  });
  if (!sent) { $('transfer-send').disabled = false; $('transfer-error').textContent = 'Offline — try again when the connection is back.'; }
});

/* ---------- my status: online / away ---------- */
function paintStatus() {
  var b = $('status');
  b.dataset.status = myStatus;
  b.textContent = myStatus === 'away' ? 'Away' : 'Online';
  b.title = myStatus === 'away' ? 'You get no new chats and do not count as online. Click to go online.' : 'You get new chats. Click to set yourself away.';
  b.setAttribute('aria-label', 'Your status: ' + b.textContent + '. ' + b.title);
}
function setStatus(st, byUser) {
  var sent = send({ type: 'status', status: st }, function (r) {
    if (r.type === 'ok') { myStatus = st; sessionValue('beckon-agent-status', st); paintStatus(); if (byUser) toast(st === 'away' ? 'You are away.' : 'You are online.'); }
    else if (byUser) toast('Could not change your status: ' + (r.message || r.code));
  });
  if (!sent && byUser) toast('Offline — try again when the connection is back.');
}
$('status').addEventListener('click', function () { setStatus(myStatus === 'away' ? 'online' : 'away', true); });
paintStatus();

// Tick the waiting times once a second without rebuilding the lists.
setInterval(function () {
  document.querySelectorAll('[data-since]').forEach(function (n) { n.textContent = since(+n.getAttribute('data-since')); });
  var c = current && convs.get(current);
  if (c && c.state === 'queued') $('conv-state').textContent = 'Waiting in the queue for ' + since(c.created);
}, 1000);

/* ---------- boot ---------- */
if (sessionValue(TOKEN_KEY)) start(); else showLogin('', NAME_KEY);
