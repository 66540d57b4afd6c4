-- ARGV: prefix, day, then (rule, evaluated, matched) triples -> 1
--! uses: prelude

local key = p .. 'stats:rules:' .. ARGV[2]
for i = 3, #ARGV - 2, 3 do
  if ARGV[i + 1] ~= '0' then redis.call('HINCRBY', key, ARGV[i] .. ':evaluated', ARGV[i + 1]) end
  if ARGV[i + 2] ~= '0' then redis.call('HINCRBY', key, ARGV[i] .. ':matched', ARGV[i + 2]) end
end
return 1
