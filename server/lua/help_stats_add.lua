-- ARGV: prefix, day (YYYYMMDD), counter_count, then (field "SITE:counter", count) pairs, then
-- (member "SITE LANG query", count) pairs of searches that found nothing -> 1
-- A node's help counters of the last seconds (help/help_counters.c), added up per UTC day.
--! uses: prelude

local KEEP_DAYS, MISSING_KEPT = 400, 1000
local stats, missing = p .. 'help:stats:' .. ARGV[2], p .. 'help:missing:' .. ARGV[2]
local counters = tonumber(ARGV[3])
local i = 4
for _ = 1, counters do
  redis.call('HINCRBY', stats, ARGV[i], ARGV[i + 1])
  i = i + 2
end
local any_missing = false
while i < #ARGV do
  redis.call('ZINCRBY', missing, ARGV[i + 1], ARGV[i])
  any_missing = true
  i = i + 2
end
redis.call('EXPIRE', stats, KEEP_DAYS * 86400)
if any_missing then
  redis.call('ZREMRANGEBYRANK', missing, 0, -MISSING_KEPT - 1)
  redis.call('EXPIRE', missing, KEEP_DAYS * 86400)
end
return 1
