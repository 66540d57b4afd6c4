-- ARGV: prefix (the global slot), now -> '["alice",…]': the agents online, by name. How many
-- chats each has is in the sites' slots (agent:NAME:convs): agents_busy.lua, once per slot,
-- and the node counts those with room for another (triggers/triggers.c).
--! uses: prelude
--! flags: no-writes

local names = online_agents(ARGV[2])
return #names > 0 and cjson.encode(names) or '[]'
