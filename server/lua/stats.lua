-- ARGV: prefix, day, day, ... -> {day, flat_json, ...}
--! uses: prelude
--! flags: no-writes

local out = {}
for i = 2, #ARGV do
  local flat = redis.call('HGETALL', p .. 'stats:rules:' .. ARGV[i])
  if #flat > 0 then
    local t = {}
    for j = 1, #flat, 2 do t[flat[j]] = tonumber(flat[j + 1]) end
    out[#out + 1] = ARGV[i]
    out[#out + 1] = cjson.encode(t)
  end
end
return out
