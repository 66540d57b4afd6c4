-- Ends every session of an agent and closes their sockets on every node.
--! uses: prelude

local function sessions_end(name)
  local skey = p .. 'agent:' .. name .. ':sessions'
  for _, digest in ipairs(redis.call('SMEMBERS', skey)) do redis.call('DEL', p .. 'session:' .. digest) end
  redis.call('DEL', skey)
  bus_node('a', name, '!logout')
end
