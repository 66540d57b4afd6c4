-- ARGV: prefix, top (how many of the searches that found nothing; 0: none), then days (YYYYMMDD)
--   -> (day, counters_json, missing_json) triples: counters {"SITE:counter": n}, missing
--   [["SITE LANG query", n], ...] most common first
--! uses: prelude
--! flags: no-writes

local top = tonumber(ARGV[2])
local out = {}
for i = 3, #ARGV do
  local day = ARGV[i]
  local flat = redis.call('HGETALL', p .. 'help:stats:' .. day)
  local counters = {}
  for k = 1, #flat, 2 do counters[flat[k]] = tonumber(flat[k + 1]) end
  local m = top > 0 and redis.call('ZREVRANGE', p .. 'help:missing:' .. day, 0, top - 1, 'WITHSCORES') or {}
  local missing = {}
  for k = 1, #m, 2 do missing[#missing + 1] = {m[k], tonumber(m[k + 1])} end
  out[#out + 1] = day
  out[#out + 1] = next(counters) and cjson.encode(counters) or '{}'
  out[#out + 1] = #missing > 0 and cjson.encode(missing) or '[]'
end
return out
