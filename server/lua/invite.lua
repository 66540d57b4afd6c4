-- ARGV: prefix, visitor, rule, text, agent, now, day, invitation -> profile_json
-- Records the invitation and the visitor's cap state in one step.
--! uses: prelude visitor_promises

local vid, rule, now, day = ARGV[2], ARGV[3], ARGV[6], ARGV[7]
local vkey = p .. 'visitor:' .. vid
if visitor_erased(vkey) then return redis.error_reply(erased_refusal) end
if redis.call('HGET', vkey, 'conv') then return redis.error_reply('wrong_state the visitor is chatting already') end
local ikey = p .. 'invitation:' .. ARGV[8]
redis.call('HSET', ikey, 'rule', rule, 'visitor', vid, 'text', ARGV[4], 'agent', ARGV[5], 'created', now)
redis.call('EXPIRE', ikey, 86400)
redis.call('SADD', vkey .. ':invitations', ARGV[8])
local visits = redis.call('HGET', vkey, 'visits') or '0'
local ckey = vkey .. ':caps'
local count, current = 1, redis.call('HGET', ckey, rule .. ':visit')
if current then
  local v, n = string.match(current, '^(%d+) (%d+)$')
  if v == visits then count = tonumber(n) + 1 end
end
redis.call('HSET', ckey, rule .. ':visit', visits .. ' ' .. count, rule .. ':last', now)
if redis.call('HGET', vkey, 'inv_day') ~= day then redis.call('HSET', vkey, 'inv_day', day, 'inv_today', 1)
else redis.call('HINCRBY', vkey, 'inv_today', 1) end
profile_changed(vkey)
redis.call('HINCRBY', p .. 'stats:rules:' .. day, rule .. ':fired', 1)
return profile(vid)
