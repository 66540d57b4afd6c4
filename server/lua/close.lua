-- ARGV: prefix, conversation ("" = the visitor's open one), by (visitor|agent), who, now, day,
--       retention_days -> 1 (conversation_close.lua)
--! uses: prelude webhook service_row files conversation_close

local cid, by, who = ARGV[2], ARGV[3], ARGV[4]
if cid == '' then cid = redis.call('HGET', p .. 'visitor:' .. who, 'conv') end
if not cid then return redis.error_reply('not_found no open conversation') end
local meta = redis.call('HMGET', p .. 'conv:' .. cid .. ':meta', 'state', 'visitor', 'agent', 'rule')
if not meta[1] or (by == 'visitor' and meta[2] ~= who) then return redis.error_reply('not_found no such conversation') end
if by == 'agent' and meta[1] == 'active' and meta[3] ~= who then return redis.error_reply('forbidden another agent has this conversation') end
if meta[1] == 'closed' then return redis.error_reply('wrong_state the conversation is already closed') end
conversation_close(cid, meta, by, who, ARGV[5], ARGV[6], ARGV[7])
return 1
