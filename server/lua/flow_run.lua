-- Running a site's quick-reply flow in a conversation (docs/flows.md), for flow.lua and for a
-- visitor who types during a flow (message_visitor.lua). A flow conversation is a conversation
-- like any other, in the state 'flow': its messages are in its stream (history, resume,
-- transcripts, agents after the hand-off), the visitor's `conv` names it, and no agent sees it
-- until it is handed off (then it is 'queued', as a visitor's first message makes one).
-- The meta keeps: flow_site, flow_msg (the id of the last flow message with buttons, "" when
-- none waits), flow_buttons (that message's buttons: JSON {id: {label, next}}), flow_path (the
-- labels chosen so far, JSON), flow_email ("1" while the closed text's email is awaited).
-- The visitor's `flow` field names the conversation while the flow runs (one HMGET field
-- more for a visitor's message; flow_handoff clears it).
-- Counters per UTC day, in the visitor's slot: flows:stats:{day}, "SITE:started", "SITE:completed",
-- "SITE:handed_off", "SITE:emails" (summed over slots by /api/stats/service).
--! uses: prelude webhook routing

-- The UTC day of a time in ms, YYYYMMDD (days to a civil date: Howard Hinnant's algorithm).
local function flow_day(now)
  local z = math.floor(now / 86400000) + 719468
  local era = math.floor(z / 146097)
  local doe = z - era * 146097
  local yoe = math.floor((doe - math.floor(doe / 1460) + math.floor(doe / 36524) - math.floor(doe / 146096)) / 365)
  local doy = doe - (365 * yoe + math.floor(yoe / 4) - math.floor(yoe / 100))
  local mp = math.floor((5 * doy + 2) / 153)
  local d = doy - math.floor((153 * mp + 2) / 5) + 1
  local m = mp < 10 and mp + 3 or mp - 9
  return string.format('%04d%02d%02d', yoe + era * 400 + (m <= 2 and 1 or 0), m, d)
end
local function flow_count(site, now, what)
  local key = p .. 'flows:stats:' .. flow_day(now)
  redis.call('HINCRBY', key, site .. ':' .. what, 1)
  redis.call('EXPIRE', key, 400 * 86400)
end
-- Says a step (or the closed text): appends the bot's message, pushes it to the visitor's
-- sockets, and records which buttons may now be chosen. extra: {buttons, article, link, email}.
local function flow_say(cid, vid, text, extra)
  local mkey = p .. 'conv:' .. cid .. ':meta'
  local rich = {}
  local offered = {}
  if extra.buttons then
    rich.buttons = {}
    for i, b in ipairs(extra.buttons) do
      rich.buttons[i] = {id = b.id, label = b.label}
      offered[b.id] = {label = b.label, next = b.next}
    end
  end
  rich.article = extra.article
  rich.link = extra.link
  if extra.email then rich.email = true end
  local encoded = cjson.encode(rich)
  local id = redis.call('XADD', p .. 'conv:' .. cid, '*', 'from', 'bot', 'author', '', 'cmid', '', 'text', text, 'flow', encoded)
  if extra.buttons then
    redis.call('HSET', mkey, 'flow_msg', id, 'flow_buttons', cjson.encode(offered))
  else
    redis.call('HSET', mkey, 'flow_msg', '', 'flow_buttons', '{}')
  end
  if extra.email then redis.call('HSET', mkey, 'flow_email', id) end
  bus(vid, '-', 0, '{"type":"message","conversation":' .. cjson.encode(cid) .. ',"id":"' .. id ..
      '","from":"bot","author":"","text":' .. cjson.encode(text) .. ',"ts":' .. stamp(id) .. ',"flow":' .. encoded .. '}')
  return id
end
-- The flow ends in the queue: the conversation is queued as a visitor's first message queues
-- one, with the path the visitor took (shown to agents with the chat: queue_add's `flow`, the
-- meta's flow_path). preview: what the queue shows (the typed text, or the path).
local function flow_handoff(cid, vid, now, preview)
  local mkey = p .. 'conv:' .. cid .. ':meta'
  local vkey = p .. 'visitor:' .. vid
  local meta = redis.call('HMGET', mkey, 'state', 'flow_path', 'flow_site')
  if meta[1] ~= 'flow' then return end
  local path = cjson.decode(meta[2] or '[]')
  if preview == '' then preview = table.concat(path, ' › ') end
  redis.call('HSET', mkey, 'state', 'queued', 'created', now, 'preview', preview, 'flow_msg', '', 'flow_buttons', '{}')
  redis.call('HDEL', vkey, 'flow')
  redis.call('HSET', vkey, 'last_chat', now)
  redis.call('HINCRBY', vkey, 'chats', 1)
  profile_changed(vkey)
  queue_enter(cid, now)
  local team = route_enter(cid, vid, now)
  flow_count(meta[3] or '', now, 'handed_off')
  bus(vid, '-', 0, conversation_frame(cid, 'queued'))
  bus('-', '-', 1, cjson.encode({type = 'queue_add', conversation = {id = cid, visitor = vid, created = now, preview = preview,
    flow = #path > 0 and path or nil, team = team}}))
  queue_changed()
  queue_tell(vid, cid, now)
  if redis.call('SCARD', p .. 'hooks:sites') > 0 then webhook(vid, 'conversation.started', {conversation = cid, created = now}) end
end
