-- ARGV: prefix -> (site, hours, tz) triples, "" for none: what every node compiles, so the
-- queue sweep knows which sites are closed whatever node saw their visitors.
--! uses: prelude
--! flags: no-writes

local out = {}
for _, id in ipairs(redis.call('SMEMBERS', p .. 'sites')) do
  local h = redis.call('HMGET', p .. 'site:' .. id, 'hours', 'tz')
  out[#out + 1] = id
  out[#out + 1] = h[1] or ''
  out[#out + 1] = h[2] or ''
end
return out
