-- ARGV: prefix, conversation, since ("0" = all), limit, by, who, max_bytes
-- -> {state, gap, complete, messages_json, next, visitor_read, agent_read, accepted (1|0)}
-- Visitors never see notes. A page holds at most `limit` messages and about max_bytes of
-- them (always at least one), so that a reply fits a socket's send queue however long the
-- messages are. `next` is the last id looked at: page on from there (notes skipped for a
-- visitor still move it forward).
-- `since` must be an id this conversation gave out, or "0". One ahead of its last message or
-- never in it is the client's mistake (bad_request), not a gap. `gap` is 1 when messages the
-- client has not seen were removed, whatever removed them (XDEL, XTRIM, a deleted stream):
-- entries-added counts every entry ever added, so any removal shows against the length.
--! uses: prelude
--! flags: no-writes

local cid, since, limit, by, who, max_bytes = ARGV[2], ARGV[3], tonumber(ARGV[4]), ARGV[5], ARGV[6], tonumber(ARGV[7])
if string.match(since, '^0+%-0+$') then since = '0' end  -- "0-0" is the start too, as XRANGE reads it
local key = p .. 'conv:' .. cid
local meta = redis.call('HMGET', key .. ':meta', 'state', 'visitor', 'visitor_read', 'agent_read', 'accepted')
if not meta[1] or (by == 'visitor' and meta[2] ~= who) then return redis.error_reply('not_found no such conversation') end
-- stream ids compared as the 64-bit numbers they are (Lua numbers are doubles)
local function number_compare(a, b)
  a, b = string.match(a, '^0*(%d-%d)$'), string.match(b, '^0*(%d-%d)$')
  if #a ~= #b then return #a < #b and -1 or 1 end
  return a == b and 0 or (a < b and -1 or 1)
end
local function id_compare(a, b)
  local am, as = string.match(a, '^(%d+)-(%d+)$')
  local bm, bs = string.match(b, '^(%d+)-(%d+)$')
  local c = number_compare(am, bm)
  if c ~= 0 then return c end
  return number_compare(as, bs)
end
local gap = 0
if redis.call('EXISTS', key) == 1 then
  local info, s = redis.call('XINFO', 'STREAM', key), {}
  for i = 1, #info, 2 do s[info[i]] = info[i + 1] end
  local removed = tonumber(s['entries-added']) > tonumber(s['length'])
  local deleted = s['max-deleted-entry-id']
  if since == '0' then
    if removed then gap = 1 end
  elseif id_compare(since, s['last-generated-id']) > 0 then
    return redis.error_reply('bad_request resume.since is after the last message of this conversation: resume from an id it gave you, or from "0"')
  elseif #redis.call('XRANGE', key, since, since) == 0 then
    local first = s['first-entry'] and s['first-entry'][1]
    -- gone itself: trimmed from the head (what followed it up to the first entry may be gone
    -- too: XTRIM leaves max-deleted-entry-id alone), or deleted (then what followed it is gone
    -- only if something later was deleted too)
    if removed and (not first or id_compare(since, first) < 0 or id_compare(since, deleted) < 0) then gap = 1
    elseif not (removed and id_compare(since, deleted) == 0) then
      return redis.error_reply('bad_request resume.since is not a message of this conversation: resume from an id it gave you, or from "0"')
    end
  elseif removed and id_compare(since, deleted) < 0 then
    gap = 1
  end
elseif since ~= '0' then
  gap = 1
end
local entries = redis.call('XRANGE', key, since == '0' and '-' or ('(' .. since), '+', 'COUNT', limit + 1)
local complete = #entries <= limit and 1 or 0
local out, bytes, next = {}, 0, since
for i = 1, math.min(#entries, limit) do
  local id, f = entries[i][1], entries[i][2]
  local m = {id = id, ts = stamp(id)}
  for j = 1, #f, 2 do m[f[j]] = f[j + 1] end
  if m.cmid == '' then m.cmid = nil end
  if m.attachments then m.attachments = cjson.decode(m.attachments) end  -- a mail's, listed (mail_inbound.lua)
  if m.file then m.file = cjson.decode(m.file) end
  if m.flow then m.flow = cjson.decode(m.flow) end
  if not (by == 'visitor' and m.from == 'note') then
    local encoded = cjson.encode(m)
    if #out > 0 and bytes + #encoded > max_bytes then complete = 0; break end
    bytes = bytes + #encoded + 1
    out[#out + 1] = encoded
  end
  next = id
end
return {meta[1], gap, complete, '[' .. table.concat(out, ',') .. ']', next, meta[3] or '', meta[4] or '', meta[5] and 1 or 0}
