-- ARGV: prefix, visitor, new_conversation, cmid, text, now, preview, sender (node:connection),
--       agents online -> {conversation, id, duplicate, opened}
--! uses: prelude webhook visitor_promises

local vid, cmid, text, now = ARGV[2], ARGV[4], ARGV[5], tonumber(ARGV[6])
agents_online = tonumber(ARGV[9]) or 0
local vkey = p .. 'visitor:' .. vid
if visitor_erased(vkey) then return redis.error_reply(erased_refusal) end
local seen = redis.call('HGET', vkey .. ':cmids', cmid)
if seen then
  local cid, id = string.match(seen, '^(%S+) (%S+)$')
  return {cid, id, 1, 0}
end
local cid = redis.call('HGET', vkey, 'conv')
local opened = 0
if not cid then
  cid, opened = ARGV[3], 1
  redis.call('HSET', p .. 'conv:' .. cid .. ':meta', 'state', 'queued', 'visitor', vid, 'created', now, 'preview', ARGV[7])
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
  bus('-', '-', 1, cjson.encode({type = 'queue_add', conversation = {id = cid, visitor = vid, created = now, preview = ARGV[7]}}))
end
bus_except(ARGV[8], vid, agent or '-', frame)
if opened == 1 then queue_changed(); queue_tell(vid, cid, now) end
if opened == 1 then webhook(vid, 'conversation.started', {conversation = cid, created = now}) end
webhook(vid, 'message', {conversation = cid, message = {id = id, from = 'visitor', author = vid, text = text, ts = stamp(id)}})
return {cid, id, 0, opened}
