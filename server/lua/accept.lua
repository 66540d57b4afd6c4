-- ARGV: prefix, conversation, agent, now -> 1
-- A chat of a team (routing.lua): while it is offered to an agent, only they may take it; and
-- nobody takes one past their cap (their chats and offers in this slot, the offer of this one
-- not counted twice). Also the answer to offer_accept.
--! uses: prelude routing

local cid, agent, now = ARGV[2], ARGV[3], ARGV[4]
local mkey = p .. 'conv:' .. cid .. ':meta'
local meta = redis.call('HMGET', mkey, 'state', 'visitor')
if not meta[1] then return redis.error_reply('not_found no such conversation') end
if meta[1] == 'active' then return redis.error_reply('already_taken another agent accepted it first') end
if meta[1] ~= 'queued' then return redis.error_reply('wrong_state the conversation is ' .. meta[1]) end
local routed = redis.call('HMGET', mkey, 'team_queue', 'offer')
if routed[2] and routed[2] ~= agent then return redis.error_reply('already_taken the chat is offered to another agent') end
if routed[1] and agent_room(agent) + (routed[2] and 1 or 0) <= 0 then
  return redis.error_reply('wrong_state you have as many chats as you may take')
end
redis.call('HSET', mkey, 'state', 'active', 'agent', agent, 'accepted', now)
conv_agent_set(meta[2], cid, agent)
queue_leave(cid)
redis.call('LPUSH', p .. 'waits', tonumber(now) - tonumber(redis.call('HGET', mkey, 'created') or now))
redis.call('LTRIM', p .. 'waits', 0, 49)
redis.call('SADD', p .. 'agent:' .. agent .. ':convs', cid)
local _, frame = append(cid, 'system', '', '', agent .. ' joined the chat')
bus(meta[2], agent, 0, frame)
bus(meta[2], agent, 0, conversation_frame(cid, 'active', agent))
bus('-', '-', 1, cjson.encode({type = 'queue_remove', conversation = cid, reason = 'accepted', agent = agent}))
queue_changed()
return 1
