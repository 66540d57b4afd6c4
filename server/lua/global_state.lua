-- ARGV: prefix (the global slot), now, list (1|0)
-- -> '{"agents_online":N,"sites_count":N,"sites":[id...],"roster":[name,max...]}' (sites and
--    roster only when list is 1; max: the agent's max_chats, false when they have none: routing.lua)
-- What a site's scripts cannot read from their slot (base/keys.h): the agents online, passed to
-- the scripts that tell visitors the queue's wait, and the sites. Read at each visitor's hello
-- (whether any site is configured decides the visitor's slot), and by every node once a second
-- with the list, whose tags name the slots the node sweeps and asks for an agent's lists.
--! uses: prelude
--! flags: no-writes

local count = redis.call('SCARD', p .. 'sites')
local sites = ARGV[3] == '1' and count > 0 and cjson.encode(redis.call('SMEMBERS', p .. 'sites')) or '[]'
local names = online_agents(ARGV[2])
local roster = '[]'
if ARGV[3] == '1' and #names > 0 then
  local flat = {}
  for _, name in ipairs(names) do
    flat[#flat + 1] = name
    flat[#flat + 1] = tonumber(redis.call('HGET', p .. 'agent:' .. name, 'max_chats') or '') or false
  end
  roster = cjson.encode(flat)
end
return '{"agents_online":' .. #names .. ',"sites_count":' .. count .. ',"sites":' .. sites .. ',"roster":' .. roster .. '}'
