-- The keys that hold a visitor's data, shared by export and erasure.
--! uses: prelude

local function hash_of(key)
  local t, flat = {}, redis.call('HGETALL', key)
  for i = 1, #flat, 2 do t[flat[i]] = flat[i + 1] end
  return t
end
local function entries_of(key)
  local out = {}
  for _, e in ipairs(redis.call('XRANGE', key, '-', '+')) do
    local m = {id = e[1]}
    for j = 1, #e[2], 2 do m[e[2][j]] = e[2][j + 1] end
    out[#out + 1] = m
  end
  return out
end
local function left_by(vid)
  local out = {}
  for _, m in ipairs(entries_of(p .. 'left')) do if m.visitor == vid then out[#out + 1] = m end end
  return out
end
