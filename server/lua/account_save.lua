-- ARGV: prefix, name, password_hash ("" = keep), role ("" = keep), now, create (0|1),
--       [max_chats ("" or absent = keep, "0" = the agent-max-chats setting, else the agent's own)] -> 1
--! uses: prelude sessions_end

local name, hash, role = ARGV[2], ARGV[3], ARGV[4]
local key = p .. 'agent:' .. name
local exists = redis.call('EXISTS', key) == 1
if ARGV[6] == '1' and exists then return redis.error_reply('wrong_state an account with this name exists') end
if ARGV[6] == '0' and not exists then return redis.error_reply('not_found no such account') end
if ARGV[6] == '1' then redis.call('HSET', key, 'name', name, 'created', ARGV[5]); redis.call('SADD', p .. 'agents', name) end
if role ~= '' then redis.call('HSET', key, 'role', role) end
if ARGV[7] == '0' then redis.call('HDEL', key, 'max_chats')
elseif ARGV[7] and ARGV[7] ~= '' then redis.call('HSET', key, 'max_chats', ARGV[7]) end
if hash ~= '' then
  redis.call('HSET', key, 'password', hash, 'updated', ARGV[5])
  if ARGV[6] == '0' then sessions_end(name) end
end
return 1
