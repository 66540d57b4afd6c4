-- ARGV: prefix, conversation, agent, cmid, text, sender -> {conversation, id, duplicate}
-- A note is for agents: stored in the conversation, never sent to the visitor.
--! uses: prelude

local cid, agent, cmid = ARGV[2], ARGV[3], ARGV[4]
local ckey = p .. 'conv:' .. cid
local owner = redis.call('HMGET', ckey .. ':meta', 'state', 'agent')
if not owner[1] then return redis.error_reply('not_found no such conversation') end
local seen = redis.call('HGET', ckey .. ':cmids', cmid)
if seen then return {cid, seen, 1} end
local id, frame = append(cid, 'note', agent, cmid, ARGV[5])
redis.call('HSET', ckey .. ':cmids', cmid, id)
bus_except(ARGV[6], '-', agent, frame)
if owner[2] and owner[2] ~= agent then bus('-', owner[2], 0, frame) end
return {cid, id, 0}
