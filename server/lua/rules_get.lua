-- ARGV: prefix, id ("" = all) -> {id, rule_json, meta_json, ...}
--! uses: prelude
--! flags: no-writes

local out = {}
local ids = ARGV[2] ~= '' and {ARGV[2]} or redis.call('HKEYS', p .. 'rules')
table.sort(ids)
for _, id in ipairs(ids) do
  local rule = redis.call('HGET', p .. 'rules', id)
  if rule then
    out[#out + 1] = id
    out[#out + 1] = rule
    out[#out + 1] = redis.call('HGET', p .. 'rules:meta', id) or '{}'
  end
end
return out
