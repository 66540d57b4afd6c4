-- ARGV: prefix, expiry_ms, now, node, agent... -> 1: refreshes the agents this node holds,
-- unless away
--! uses: prelude

redis.call('ZREMRANGEBYSCORE', p .. 'presence', '-inf', '(' .. ARGV[3])
for i = 5, #ARGV do
  if redis.call('HGET', p .. 'agent:' .. ARGV[i], 'status') ~= 'away' then
    redis.call('ZADD', p .. 'presence', ARGV[2], ARGV[i] .. '@' .. ARGV[4])
  end
end
-- the node hears this back on its bus link: the proof the link still works
bus_node('node', ARGV[4], '!ping')
return 1
