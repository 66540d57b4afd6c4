-- ARGV: prefix, session digest -> {agent, role}
--! uses: prelude
--! flags: no-writes

local agent = redis.call('GET', p .. 'session:' .. ARGV[2])
if not agent then return redis.error_reply('unauthorized unknown or expired session token') end
local role = redis.call('HGET', p .. 'agent:' .. agent, 'role')
if redis.call('EXISTS', p .. 'agent:' .. agent) == 0 then return redis.error_reply('unauthorized no such agent') end
return {agent, role or 'agent'}
