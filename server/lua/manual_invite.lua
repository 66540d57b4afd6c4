-- ARGV: prefix, visitor, agent, text, now, invitation, day -> 1
-- An agent invites a visitor by hand: recorded like a rule's invitation (rule "manual").
--! uses: prelude

local vid, agent, text, iid = ARGV[2], ARGV[3], ARGV[4], ARGV[6]
local vkey = p .. 'visitor:' .. vid
if redis.call('EXISTS', vkey) == 0 then return redis.error_reply('not_found no such visitor') end
if redis.call('HGET', vkey, 'conv') then return redis.error_reply('wrong_state the visitor is chatting already') end
local ikey = p .. 'invitation:' .. iid
redis.call('HSET', ikey, 'rule', 'manual', 'visitor', vid, 'text', text, 'agent', agent, 'created', ARGV[5])
redis.call('EXPIRE', ikey, 86400)
redis.call('SADD', vkey .. ':invitations', iid)
redis.call('HINCRBY', p .. 'stats:rules:' .. ARGV[7], 'manual:fired', 1)
bus(vid, '-', 0, cjson.encode({type = 'invite', invitation = iid, rule = 'manual', text = text, agent = agent}))
return 1
