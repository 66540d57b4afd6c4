-- ARGV: prefix (the global slot), now, list (1|0)
-- -> '{"agents_online":N,"sites_count":N,"sites":[id...]}' (sites only when list is 1)
-- What a site's scripts cannot read from their slot (base/keys.h): the agents online, passed to
-- the scripts that tell visitors the queue's wait, and the sites. Read at each visitor's hello
-- (whether any site is configured decides the visitor's slot), and by every node once a second
-- with the list, whose tags name the slots the node sweeps and asks for an agent's lists.
--! uses: prelude
--! flags: no-writes

local count = redis.call('SCARD', p .. 'sites')
local sites = ARGV[3] == '1' and count > 0 and cjson.encode(redis.call('SMEMBERS', p .. 'sites')) or '[]'
return '{"agents_online":' .. #online_agents(ARGV[2]) .. ',"sites_count":' .. count .. ',"sites":' .. sites .. '}'
