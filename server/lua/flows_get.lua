-- ARGV: prefix (global), site ("" = all) -> {site, flow_json, meta_json, ...}
--! uses: prelude
--! flags: no-writes

local out = {}
local sites = ARGV[2] ~= '' and {ARGV[2]} or redis.call('HKEYS', p .. 'flows')
table.sort(sites)
for _, site in ipairs(sites) do
  local flow = redis.call('HGET', p .. 'flows', site)
  if flow then
    out[#out + 1] = site
    out[#out + 1] = flow
    out[#out + 1] = redis.call('HGET', p .. 'flows:meta', site) or '{}'
  end
end
return out
