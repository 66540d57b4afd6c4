-- ARGV: prefix, now, visitor... -> 1. A node confirms the visitors it holds sockets of; one
-- erased meanwhile (no profile any more) is not brought back. GT: nodes' clocks differ a
-- little, and a visitor must never move back in time.
--! uses: prelude

for i = 3, #ARGV do
  if redis.call('EXISTS', p .. 'visitor:' .. ARGV[i]) == 1 then
    redis.call('ZADD', p .. 'visitors:seen', 'GT', ARGV[2], ARGV[i])
  end
end
return 1
