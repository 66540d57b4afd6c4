-- A visitor's message, one of a batch (messages.lua): check the visitor's cmid table, open a
-- conversation if the visitor has none (queued, into the queue), append the message, record
-- the cmid, store the webhook event and push it on the bus.
-- (now, visitor, new_conversation, cmid, text, preview_bytes, sender) -> {conversation, id,
-- duplicate, opened}, or the message's refusal
--! uses: prelude webhook visitor_promises

local function message_visitor(now, vid, new_cid, cmid, text, preview_bytes, sender)
  local vkey = p .. 'visitor:' .. vid
  if visitor_erased(vkey) then return redis.error_reply(erased_refusal) end
  local seen = redis.call('HGET', vkey .. ':cmids', cmid)
  if seen then
    local cid, id = string.match(seen, '^(%S+) (%S+)$')
    return {cid, id, 1, 0}
  end
  local cid = redis.call('HGET', vkey, 'conv')
  local opened, preview = 0, nil
  if not cid then
    cid, opened, preview = new_cid, 1, string.sub(text, 1, preview_bytes)
    redis.call('HSET', p .. 'conv:' .. cid .. ':meta', 'state', 'queued', 'visitor', vid, 'created', now, 'preview', preview)
    redis.call('HSET', vkey, 'conv', cid, 'last_chat', now)
    redis.call('HINCRBY', vkey, 'chats', 1)
    redis.call('RPUSH', vkey .. ':convs', cid)
    queue_enter(cid, now)
  end
  local id, frame = append(cid, 'visitor', vid, cmid, text)
  redis.call('HSET', vkey .. ':cmids', cmid, cid .. ' ' .. id)
  redis.call('EXPIRE', vkey .. ':cmids', 604800)
  local agent = redis.call('HGET', p .. 'conv:' .. cid .. ':meta', 'agent')
  if opened == 1 then
    bus(vid, '-', 0, conversation_frame(cid, 'queued'))
    bus('-', '-', 1, cjson.encode({type = 'queue_add', conversation = {id = cid, visitor = vid, created = now, preview = preview}}))
  end
  bus_except(sender, vid, agent or '-', frame)
  if opened == 1 then queue_changed(); queue_tell(vid, cid, now) end
  if opened == 1 then webhook(vid, 'conversation.started', {conversation = cid, created = now}) end
  webhook(vid, 'message', {conversation = cid, message = {id = id, from = 'visitor', author = vid, text = text, ts = stamp(id)}})
  return {cid, id, 0, opened}
end
