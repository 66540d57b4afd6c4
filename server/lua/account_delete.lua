-- ARGV: prefix, name -> 1
--! uses: prelude sessions_end

local name = ARGV[2]
if redis.call('DEL', p .. 'agent:' .. name) == 0 then return redis.error_reply('not_found no such account') end
redis.call('SREM', p .. 'agents', name)
presence_drop(name)
sessions_end(name)
return 1
