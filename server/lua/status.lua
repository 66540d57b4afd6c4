-- ARGV: prefix, agent, status (online|away), expiry_ms, node -> 1
--! uses: prelude

redis.call('HSET', p .. 'agent:' .. ARGV[2], 'status', ARGV[3])
if ARGV[3] == 'away' then presence_drop(ARGV[2])
else redis.call('ZADD', p .. 'presence', ARGV[4], ARGV[2] .. '@' .. ARGV[5]) end
return 1
