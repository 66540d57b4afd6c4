-- ARGV: prefix, conversation, from_agent, to_agent, to_agent exists (1|0: the global slot's
--       agent:NAME, read by the node just before) -> 1
--! uses: prelude

local cid, from, to = ARGV[2], ARGV[3], ARGV[4]
local mkey = p .. 'conv:' .. cid .. ':meta'
local meta = redis.call('HMGET', mkey, 'state', 'agent', 'visitor')
if not meta[1] then return redis.error_reply('not_found no such conversation') end
if meta[1] ~= 'active' or meta[2] ~= from then return redis.error_reply('forbidden only the agent in the chat can transfer it') end
if to == from then return redis.error_reply('wrong_state the chat is yours already') end
if ARGV[5] ~= '1' then return redis.error_reply('not_found no agent named ' .. to) end
redis.call('HSET', mkey, 'agent', to)
conv_agent_set(meta[3], cid, to)
redis.call('SREM', p .. 'agent:' .. from .. ':convs', cid)
redis.call('SADD', p .. 'agent:' .. to .. ':convs', cid)
local _, frame = append(cid, 'system', '', '', from .. ' transferred the chat to ' .. to)
local conv = conversation_frame(cid, 'active', to)
bus(meta[3], from, 0, frame)
bus('-', to, 0, frame)
bus(meta[3], from, 0, conv)
bus('-', to, 0, conv)
return 1
