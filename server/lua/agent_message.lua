-- ARGV: prefix, conversation, agent, cmid, text, sender -> {conversation, id, duplicate}
-- The first agent message sets the meta's first_response (ms, its stream id's): notes,
-- system messages and an invitation's opening text are not answers.
--! uses: prelude webhook

local cid, agent, cmid = ARGV[2], ARGV[3], ARGV[4]
local ckey = p .. 'conv:' .. cid
local meta = redis.call('HMGET', ckey .. ':meta', 'state', 'agent', 'visitor')
if not meta[1] then return redis.error_reply('not_found no such conversation') end
if meta[1] == 'closed' then return redis.error_reply('wrong_state the conversation is closed') end
if meta[1] ~= 'active' or meta[2] ~= agent then return redis.error_reply('forbidden accept the conversation first') end
local seen = redis.call('HGET', ckey .. ':cmids', cmid)
if seen then return {cid, seen, 1} end
local id, frame = append(cid, 'agent', agent, cmid, ARGV[5])
redis.call('HSET', ckey .. ':cmids', cmid, id)
redis.call('HSETNX', ckey .. ':meta', 'first_response', string.match(id, '^(%d+)'))
bus_except(ARGV[6], meta[3], agent, frame)
webhook(meta[3], 'message', {conversation = cid, message = {id = id, from = 'agent', author = agent, text = ARGV[5], ts = stamp(id)}})
return {cid, id, 0}
