-- ARGV: prefix, day, day, ... -> per day {day, shown, accepted, chats, row, row, ...}: the
-- invitation counters summed over rules, then the day's fact rows (service_row.lua).
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
  local entry = {ARGV[i], sums.shown, sums.accepted, sums.chats}
  for _, row in ipairs(redis.call('HVALS', p .. 'svc:' .. ARGV[i])) do entry[#entry + 1] = row end
  out[#out + 1] = entry
end
return out
