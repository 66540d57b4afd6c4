-- ARGV: prefix -> messages_json (newest first)
--! uses: prelude
--! flags: no-writes

local out = {}
for _, e in ipairs(redis.call('XREVRANGE', p .. 'left', '+', '-', 'COUNT', 100)) do
  local m = {id = e[1], ts = stamp(e[1])}
  for j = 1, #e[2], 2 do m[e[2][j]] = e[2][j + 1] end
  m.unverified = m.unverified == '1' or nil
  out[#out + 1] = m
end
return #out > 0 and cjson.encode(out) or '[]'
