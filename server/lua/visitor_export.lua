-- ARGV: prefix, visitor -> export_json: everything held about the visitor
--! uses: prelude visitor_data
--! flags: no-writes

local vid = ARGV[2]
local vkey = p .. 'visitor:' .. vid
if redis.call('EXISTS', vkey) == 0 then return redis.error_reply('not_found no such visitor') end
local convs = {}
for _, cid in ipairs(redis.call('LRANGE', vkey .. ':convs', 0, -1)) do
  convs[#convs + 1] = {id = cid, meta = hash_of(p .. 'conv:' .. cid .. ':meta'), messages = entries_of(p .. 'conv:' .. cid)}
end
local invitations = {}
for _, iid in ipairs(redis.call('SMEMBERS', vkey .. ':invitations')) do
  local inv = hash_of(p .. 'invitation:' .. iid)
  if next(inv) then inv.id = iid; invitations[#invitations + 1] = inv end
end
local function list(t) return #t > 0 and cjson.encode(t) or '[]' end
return '{"visitor":' .. cjson.encode(hash_of(vkey)) .. ',"caps":' .. cjson.encode(hash_of(vkey .. ':caps')) ..
  ',"events":' .. list(entries_of(p .. 'events:' .. vid)) .. ',"conversations":' .. list(convs) ..
  ',"invitations":' .. list(invitations) .. ',"left_messages":' .. list(left_by(vid)) .. '}'
