-- ARGV: prefix, node, site... -> 1: the leases this node holds are given up (shutdown), so
-- the next node to start sends at once instead of waiting for them to expire.
--! uses: prelude

for i = 3, #ARGV do
  local key = p .. 'hooks:' .. ARGV[i] .. ':lease'
  if redis.call('GET', key) == ARGV[2] then redis.call('DEL', key) end
end
return 1
