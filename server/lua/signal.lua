-- ARGV: prefix, conversation ("" = the visitor's open one), by, who, kind (typing|read), value
-- Relays typing or read to the other side; read is also stored. -> 1
--! uses: prelude

local cid, by, who, kind, value = ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6]
if cid == '' then cid = redis.call('HGET', p .. 'visitor:' .. who, 'conv') end
if not cid then return redis.error_reply('not_found no open conversation') end
local mkey = p .. 'conv:' .. cid .. ':meta'
local meta = redis.call('HMGET', mkey, 'state', 'visitor', 'agent')
if not meta[1] or (by == 'visitor' and meta[2] ~= who) then return redis.error_reply('not_found no such conversation') end
if by == 'agent' and meta[3] ~= who then return redis.error_reply('forbidden accept the conversation first') end
local frame
if kind == 'read' then
  redis.call('HSET', mkey, by .. '_read', value)
  frame = cjson.encode({type = 'read', conversation = cid, from = by, up_to = value})
else
  frame = cjson.encode({type = 'typing', conversation = cid, from = by, on = value == '1'})
end
if by == 'visitor' then bus('-', meta[3] or '-', 0, frame) else bus(meta[2], '-', 0, frame) end
return 1
