-- ARGV: prefix, now, max_chats -> agents online with room for another chat
--! uses: prelude
--! flags: no-writes

local available = 0
for _, agent in ipairs(online_agents(ARGV[2])) do
  if redis.call('SCARD', p .. 'agent:' .. agent .. ':convs') < tonumber(ARGV[3]) then available = available + 1 end
end
return available
