-- A visitor's message, one of a batch (messages.lua): check the visitor's cmid table, open a
-- conversation if the visitor has none (queued, into the queue), append the message, record
-- the cmid, store the webhook event and push it on the bus.
-- (batch, visitor, new_conversation, cmid, text, preview_bytes, sender, file) -> {conversation, id,
-- duplicate, opened}, or the message's refusal. batch: now, day and hooks (messages.lua). file:
-- a file's message (file_message.lua; append() in prelude.lua), nil for text.
--
-- Every Redis call here is paid per message (each costs Redis some 2-4 µs with its Lua
-- overhead), so each one earns its place; a message to the open conversation makes five: one
-- HMGET of the visitor's hash reads the conversation, whether the visitor exists (an erased
-- visitor has no `created`; EXISTS makes sure only then), the conversation's agent
-- (`conv_agent`, "CONVERSATION AGENT", written with the meta's `agent` by accept.lua and
-- transfer.lua; missing, or of another conversation, the meta is read instead) and the day the
-- cmid table's expiry was last set (`cmids_day`); XADD appends; HSETNX records the cmid and
-- checks it in one step: a cmid seen before (a resend, rare) leaves the table as it was, and
-- the entry just added is deleted again (XDEL, in the same atomic step: nobody saw it) and the
-- first one's id answered. Before the visitor has a conversation the cmid is checked first
-- (HGET), so that a resend never opens one. The cmid table expires 8 days after the first
-- message of the visitor's last day, so a cmid is known for at least 7 days after the last
-- message, with one EXPIRE a visitor a day instead of one a message. Then the two SPUBLISHes.
-- A visitor who types while a flow runs (`flow`, read with the rest: the conversation of the
-- flow) hands the chat to the queue first (flow_handoff, flow_run.lua).
--! uses: prelude webhook visitor_promises routing flow_run

local function message_visitor(batch, vid, new_cid, cmid, text, preview_bytes, sender, file)
  local vkey = p .. 'visitor:' .. vid
  local visitor = redis.call('HMGET', vkey, 'conv', 'created', 'conv_agent', 'cmids_day', 'flow')
  if not visitor[2] and visitor_erased(vkey) then return redis.error_reply(erased_refusal) end
  local ckey = vkey .. ':cmids'
  local cid, now = visitor[1], batch.now
  local opened, preview, team = 0, nil, nil
  if not cid then
    local seen = redis.call('HGET', ckey, cmid)
    if seen then
      local first_cid, first_id = string.match(seen, '^(%S+) (%S+)$')
      return {first_cid, first_id, 1, 0}
    end
    cid, opened, preview = new_cid, 1, string.sub(text, 1, preview_bytes)
    redis.call('HSET', p .. 'conv:' .. cid .. ':meta', 'state', 'queued', 'visitor', vid, 'created', now, 'preview', preview)
    redis.call('HSET', vkey, 'conv', cid, 'last_chat', now)
    redis.call('HINCRBY', vkey, 'chats', 1)
    profile_changed(vkey)
    redis.call('RPUSH', vkey .. ':convs', cid)
    queue_enter(cid, now)
    team = route_enter(cid, vid, now)
  elseif visitor[5] == cid then
    -- typed during a flow: a person takes over at once, with the path so far (flow_run.lua)
    flow_handoff(cid, vid, now, string.sub(text, 1, preview_bytes))
  end
  local id, frame = append(cid, 'visitor', vid, cmid, text, file)
  if redis.call('HSETNX', ckey, cmid, cid .. ' ' .. id) == 0 then
    redis.call('XDEL', p .. 'conv:' .. cid, id)
    local first_cid, first_id = string.match(redis.call('HGET', ckey, cmid), '^(%S+) (%S+)$')
    return {first_cid, first_id, 1, 0}
  end
  if visitor[4] ~= batch.day then
    redis.call('EXPIRE', ckey, 691200)
    redis.call('HSET', vkey, 'cmids_day', batch.day)
  end
  local agent, known = nil, visitor[3]
  if known and string.sub(known, 1, #cid + 1) == cid .. ' ' then
    agent = string.sub(known, #cid + 2)
  else
    agent = redis.call('HGET', p .. 'conv:' .. cid .. ':meta', 'agent')
  end
  if opened == 1 then
    bus(vid, '-', 0, conversation_frame(cid, 'queued'))
    bus('-', '-', 1, cjson.encode({type = 'queue_add', conversation = {id = cid, visitor = vid, created = now, preview = preview,
      team = team}}))
  end
  bus_except(sender, vid, agent or '-', frame)
  if opened == 1 then queue_changed(); queue_tell(vid, cid, now) end
  if batch.hooks then
    if opened == 1 then webhook(vid, 'conversation.started', {conversation = cid, created = now}) end
    webhook(vid, 'message', {conversation = cid, message = {id = id, from = 'visitor', author = vid, text = text, ts = stamp(id),
      file = file and file.hook or nil}})
  end
  return {cid, id, 0, opened}
end
