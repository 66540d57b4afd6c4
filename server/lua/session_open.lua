-- ARGV: prefix, session digest, name, seconds -> 1
-- The agent's set of sessions lets a password change end every one of them.
--! uses: prelude

redis.call('SET', p .. 'session:' .. ARGV[2], ARGV[3], 'EX', ARGV[4])
local skey = p .. 'agent:' .. ARGV[3] .. ':sessions'
redis.call('SADD', skey, ARGV[2])
redis.call('EXPIRE', skey, ARGV[4])
redis.call('DEL', p .. 'login:fail:' .. ARGV[3])
return 1
