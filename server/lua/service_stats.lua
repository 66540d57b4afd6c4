-- ARGV: prefix, day, day, ... -> per day {day, shown, accepted, chats, flows_json, row, row, ...}:
-- the invitation counters summed over rules, the flows' counters ({"SITE:started": n, ...},
-- flow_run.lua), then the day's fact rows (service_row.lua).
--! uses: prelude
--! flags: no-writes

local out = {}
for i = 2, #ARGV do
  local sums = {shown = 0, accepted = 0, chats = 0}
  local flat = redis.call('HGETALL', p .. 'stats:rules:' .. ARGV[i])
  for j = 1, #flat, 2 do
    local counter = string.match(flat[j], ':([%w_]+)$')
    if sums[counter] then sums[counter] = sums[counter] + tonumber(flat[j + 1]) end
  end
  local flows, counts = redis.call('HGETALL', p .. 'flows:stats:' .. ARGV[i]), {}
  for j = 1, #flows, 2 do counts[flows[j]] = tonumber(flows[j + 1]) end
  local entry = {ARGV[i], sums.shown, sums.accepted, sums.chats, #flows > 0 and cjson.encode(counts) or '{}'}
  for _, row in ipairs(redis.call('HVALS', p .. 'svc:' .. ARGV[i])) do entry[#entry + 1] = row end
  out[#out + 1] = entry
end
return out
