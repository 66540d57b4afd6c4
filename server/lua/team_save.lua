-- ARGV: prefix (the site's slot), site, team, team JSON (checked by http/teams_api.c),
--       default (1|0) -> 1: a team of a site saved (docs/teams.md); the site must exist.
--! uses: prelude

local site, name = ARGV[2], ARGV[3]
if redis.call('EXISTS', p .. 'site:' .. site) == 0 then return redis.error_reply('not_found no such site') end
redis.call('HSET', p .. 'teams:' .. site, name, ARGV[4])
local dkey = p .. 'teams:' .. site .. ':default'
if ARGV[5] == '1' then redis.call('SET', dkey, name)
elseif redis.call('GET', dkey) == name then redis.call('DEL', dkey) end
return 1
