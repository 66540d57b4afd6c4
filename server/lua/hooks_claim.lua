-- ARGV: prefix, node, lease_ms, site ("" = every site with a webhook) -> rows of 6 (hook_next.lua).
-- Run each second by every node, and at once for a site when its stream grew ("!hooks").
--! uses: prelude hook_next

local out = {}
local sites = ARGV[4] ~= '' and {ARGV[4]} or redis.call('SMEMBERS', p .. 'hooks:sites')
for _, site in ipairs(sites) do
  local row = hook_next(site, ARGV[2], ARGV[3])
  if row then for _, v in ipairs(row) do out[#out + 1] = v end end
end
return out
