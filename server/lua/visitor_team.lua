-- ARGV: prefix (the visitor's slot), visitor, site, team -> 1: the team the visitor's next chat
-- goes to (routing.lua, route_enter), from their hello's `team`; a team the site does not have
-- clears it (the site's default team then takes the chat).
--! uses: prelude

local vkey, site, team = p .. 'visitor:' .. ARGV[2], ARGV[3], ARGV[4]
if redis.call('EXISTS', vkey) == 0 then return 0 end
if redis.call('HEXISTS', p .. 'teams:' .. site, team) == 1 then redis.call('HSET', vkey, 'team', team)
else redis.call('HDEL', vkey, 'team') end
return 1
