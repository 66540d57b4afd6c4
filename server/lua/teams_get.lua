-- ARGV: prefix (the site's slot), site, now -> '{"teams":[…]}': the site's teams, each with
-- `name`, `default`, what was saved, and now: `waiting` (its queue), `online` (its members on
-- the roster, routing.lua), `offers` (its chats offered and not yet answered).
--! uses: prelude routing
--! flags: no-writes

local site, now = ARGV[2], tonumber(ARGV[3])
if redis.call('EXISTS', p .. 'site:' .. site) == 0 then return redis.error_reply('not_found no such site') end
local default = redis.call('GET', p .. 'teams:' .. site .. ':default')
local flat = redis.call('HGETALL', p .. 'teams:' .. site)
local teams = {}
for i = 1, #flat, 2 do
  local team = cjson.decode(flat[i + 1])
  team.name, team.site = flat[i], site
  local qkey = p .. 'team:' .. site .. ':' .. team.name .. ':queue'
  local offers = 0
  for _, cid in ipairs(redis.call('ZRANGE', qkey, 0, -1)) do
    if redis.call('HEXISTS', p .. 'conv:' .. cid .. ':meta', 'offer') == 1 then offers = offers + 1 end
  end
  team.site = nil
  team.default = team.name == default
  team.waiting = redis.call('ZCARD', qkey)
  team.online = team_online(team, now)
  team.offers = offers
  teams[#teams + 1] = team
end
table.sort(teams, function(a, b) return a.name < b.name end)
if #teams == 0 then return '{"teams":[]}' end
return cjson.encode({teams = teams})
