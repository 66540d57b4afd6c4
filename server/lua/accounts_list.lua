-- ARGV: prefix, now -> accounts_json
--! uses: prelude
--! flags: no-writes

local out, live = {}, {}
for _, name in ipairs(online_agents(ARGV[2])) do live[name] = true end
local names = redis.call('SMEMBERS', p .. 'agents')
table.sort(names)
for _, name in ipairs(names) do
  local a = redis.call('HMGET', p .. 'agent:' .. name, 'role', 'created', 'status', 'max_chats')
  local online = live[name] == true
  out[#out + 1] = {name = name, role = a[1] or 'agent', created = tonumber(a[2]), status = a[3] or 'online', online = online,
    max_chats = tonumber(a[4] or '') or cjson.null}
end
return #out > 0 and cjson.encode(out) or '[]'
