-- A visitor's message, one of a batch (messages.lua): check the visitor's cmid table, open a
-- conversation if the visitor has none (queued, into the queue), append the message, record
-- the cmid, store the webhook event and push it on the bus.
-- (batch, visitor, new_conversation, cmid, text, preview_bytes, sender, file) -> {conversation, id,
-- duplicate, opened}, or the message's refusal. batch: now, day and hooks (messages.lua). file:
-- a file's message (file_message.lua; append() in prelude.lua), nil for text.
--
-- Every Redis call here is paid per message, so each one earns its place: one HMGET reads the
-- visitor's conversation and whether it exists (an erased visitor has no `created`; EXISTS
-- makes sure only then); one HMGET reads the cmid and the day the cmid table's expiry was last
-- set (its field ""; no cmid is empty): the table expires 8 days after the first message of
-- the visitor's last day, so a cmid is known for at least 7 days after the last message, with
-- one EXPIRE a visitor a day instead of one a message.
--! uses: prelude webhook visitor_promises

local function message_visitor(batch, vid, new_cid, cmid, text, preview_bytes, sender, file)
  local vkey = p .. 'visitor:' .. vid
  local visitor = redis.call('HMGET', vkey, 'conv', 'created')
  if not visitor[2] and visitor_erased(vkey) then return redis.error_reply(erased_refusal) end
  local ckey = vkey .. ':cmids'
  local seen = redis.call('HMGET', ckey, cmid, '')
  if seen[1] then
    local cid, id = string.match(seen[1], '^(%S+) (%S+)$')
    return {cid, id, 1, 0}
  end
  local cid, now = visitor[1], batch.now
  local opened, preview = 0, nil
  if not cid then
    cid, opened, preview = new_cid, 1, string.sub(text, 1, preview_bytes)
    redis.call('HSET', p .. 'conv:' .. cid .. ':meta', 'state', 'queued', 'visitor', vid, 'created', now, 'preview', preview)
    redis.call('HSET', vkey, 'conv', cid, 'last_chat', now)
    redis.call('HINCRBY', vkey, 'chats', 1)
    profile_changed(vkey)
    redis.call('RPUSH', vkey .. ':convs', cid)
    queue_enter(cid, now)
  end
  local id, frame = append(cid, 'visitor', vid, cmid, text, file)
  if seen[2] == batch.day then
    redis.call('HSET', ckey, cmid, cid .. ' ' .. id)
  else
    redis.call('HSET', ckey, cmid, cid .. ' ' .. id, '', batch.day)
    redis.call('EXPIRE', ckey, 691200)
  end
  local agent = redis.call('HGET', p .. 'conv:' .. cid .. ':meta', 'agent')
  if opened == 1 then
    bus(vid, '-', 0, conversation_frame(cid, 'queued'))
    bus('-', '-', 1, cjson.encode({type = 'queue_add', conversation = {id = cid, visitor = vid, created = now, preview = preview}}))
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
