-- routing.lua - teams: which team a new chat goes to, and who is offered it (docs/teams.md).
--
-- Everything a decision reads is in the conversation's slot, so that one script call decides
-- alone, across nodes:
--   teams:{site} (hash: team -> its JSON, http/teams_api.c), teams:{site}:default (string);
--   team:{site}:{team}:queue (sorted set: the team's waiting chats by creation time, beside the
--   slot's `queue`: positions and waits per team);
--   roster (sorted set: agent -> until when (ms) the node sweeps last saw them online),
--   roster:cap (hash: agent -> their maximum of concurrent chats), roster:assigned (hash:
--   agent -> when they were last offered or given a chat: "longest idle" is the smallest).
--   The nodes copy these from the global slot (presence and agent:NAME's max_chats) with every
--   sweep (route_sweep.lua), so they are at most a second old; the count they are checked
--   against is not a copy: agent:{name}:convs (the agent's chats in this slot) and
--   agent:{name}:offered (the chats offered to them and not yet answered), both kept by the
--   scripts that change them. An agent's load is the two together; no offer makes it pass
--   their cap, and accept.lua refuses an accept that would.
--   offers:due (sorted set: conversation -> its offer's deadline): what the sweep moves on.
-- teams:online (hash: a team's queue key after p -> its agents online, as the route sweep last
-- counted them: what its waiting visitors are told).
-- The meta of a routed conversation: team, team_site, team_queue (its queue's key after p),
-- team_online (the team's agents online when it was routed), offer (the agent it is offered to),
-- offer_deadline, declined (the agents who declined it or let it pass, space-separated),
-- overflow ("offline" when no team could take it).
--! uses: prelude

local function team_get(site, name)
  if not name or name == '' then return nil end
  local raw = redis.call('HGET', p .. 'teams:' .. site, name)
  if not raw then return nil end
  local team = cjson.decode(raw)
  team.name, team.site = name, site
  return team
end

local function roster_present(agent, now)
  local until_ms = redis.call('ZSCORE', p .. 'roster', agent)
  return until_ms ~= false and tonumber(until_ms) >= now
end

local function roster_default_cap()
  return tonumber(redis.call('GET', p .. 'roster:default_cap') or '') or 4
end

-- An agent's room for another chat in this slot (cap minus chats minus offers).
local function agent_room(agent)
  local cap = tonumber(redis.call('HGET', p .. 'roster:cap', agent) or '') or roster_default_cap()
  return cap - redis.call('SCARD', p .. 'agent:' .. agent .. ':convs') -
         redis.call('SCARD', p .. 'agent:' .. agent .. ':offered')
end

local function team_names(team)
  local names = {}
  for i, m in ipairs(team.members or {}) do names[i] = m.agent end
  return names
end

local function team_online(team, now)
  local names = team_names(team)
  if #names == 0 then return 0 end
  local n = 0
  for _, until_ms in ipairs(redis.call('ZMSCORE', p .. 'roster', unpack(names))) do
    if until_ms and tonumber(until_ms) >= now then n = n + 1 end
  end
  return n
end

-- The team's members online, each {agent, room, idle}: three calls for the team and two for
-- each member online, read once per script call (a sweep keeps it up to date as it offers).
local function team_roster(team, now)
  local names = team_names(team)
  local out = {}
  if #names == 0 then return out end
  local untils = redis.call('ZMSCORE', p .. 'roster', unpack(names))
  local caps = redis.call('HMGET', p .. 'roster:cap', unpack(names))
  local idles = redis.call('HMGET', p .. 'roster:assigned', unpack(names))
  local default = roster_default_cap()
  for i, agent in ipairs(names) do
    if untils[i] and tonumber(untils[i]) >= now then
      out[#out + 1] = {agent = agent, idle = tonumber(idles[i] or '0') or 0,
        room = (tonumber(caps[i] or '') or default) - redis.call('SCARD', p .. 'agent:' .. agent .. ':convs') -
               redis.call('SCARD', p .. 'agent:' .. agent .. ':offered')}
    end
  end
  return out
end

local function roster_has_room(roster)
  for _, m in ipairs(roster) do
    if m.room > 0 then return true end
  end
  return false
end

-- The member online with the most room, ties by the longest idle; nil when none has room.
-- skip: agents not to offer it to (who declined it or let it pass).
local function team_pick(roster, skip)
  local best
  for _, m in ipairs(roster) do
    if not skip[m.agent] and m.room > 0 and
       (not best or m.room > best.room or (m.room == best.room and m.idle < best.idle)) then
      best = m
    end
  end
  return best
end

local function declined_set(text)
  local set = {}
  for agent in string.gmatch(text or '', '%S+') do set[agent] = true end
  return set
end

-- One decision for a waiting chat of an offer team: offer it to the best member, or nothing
-- (everyone at their cap, or an offer stands). Returns the agent offered, or nil. roster:
-- team_roster's, kept up to date here (nil: read now).
local function route_offer(cid, team, now, roster)
  local mkey = p .. 'conv:' .. cid .. ':meta'
  local meta = redis.call('HMGET', mkey, 'state', 'offer', 'declined', 'visitor', 'created', 'preview')
  if meta[1] ~= 'queued' or meta[2] then return nil end
  roster = roster or team_roster(team, now)
  local best = team_pick(roster, declined_set(meta[3]))
  if not best and meta[3] then
    -- everyone with room declined it once: they are asked again, in the same order
    redis.call('HDEL', mkey, 'declined')
    best = team_pick(roster, {})
  end
  if not best then return nil end
  local agent = best.agent
  best.room, best.idle = best.room - 1, now
  local deadline = now + 1000 * (tonumber(team.offer_seconds) or 20)
  redis.call('HSET', mkey, 'offer', agent, 'offer_deadline', deadline)
  redis.call('SADD', p .. 'agent:' .. agent .. ':offered', cid)
  redis.call('ZADD', p .. 'offers:due', deadline, cid)
  redis.call('HSET', p .. 'roster:assigned', agent, now)
  bus('-', agent, 0, cjson.encode({type = 'offer', conversation = {id = cid, visitor = meta[4],
    created = tonumber(meta[5]), preview = meta[6], team = team.name}, deadline = deadline}))
  return agent
end

-- Takes a conversation off its offer (declined, passed its deadline, its agent gone): the agent
-- is told, and is not asked again until every other member was.
local function offer_withdraw(cid, agent, reason)
  local mkey = p .. 'conv:' .. cid .. ':meta'
  redis.call('SREM', p .. 'agent:' .. agent .. ':offered', cid)
  redis.call('ZREM', p .. 'offers:due', cid)
  redis.call('HDEL', mkey, 'offer', 'offer_deadline')
  local declined = redis.call('HGET', mkey, 'declined')
  redis.call('HSET', mkey, 'declined', declined and (declined .. ' ' .. agent) or agent)
  bus('-', agent, 0, cjson.encode({type = 'offer_withdrawn', conversation = cid, reason = reason}))
end

-- Puts a queued conversation in a team's queue (leaving the one it was in).
local function team_enqueue(cid, site, team, online, now)
  local mkey = p .. 'conv:' .. cid .. ':meta'
  local qkey = 'team:' .. site .. ':' .. team.name .. ':queue'
  local old = redis.call('HGET', mkey, 'team_queue')
  if old and old ~= qkey then redis.call('ZREM', p .. old, cid) end
  redis.call('ZADD', p .. qkey, redis.call('HGET', mkey, 'created') or now, cid)
  redis.call('HSET', mkey, 'team', team.name, 'team_site', site, 'team_queue', qkey, 'team_online', online)
  redis.call('HSET', p .. 'teams:online', qkey, online)
end

-- Routes a queued conversation to a team: one with nobody online passes it to its fallback
-- (at most 4 hops, never twice to one team); an offer team offers it at once. With no team
-- online at all it stays in the first team's queue and the visitor is offered the offline
-- path (leave a message), once. Returns the team it is in, or nil.
local function route_place(cid, vid, site, team, now)
  local mkey = p .. 'conv:' .. cid .. ':meta'
  local first, seen, hops = team, {}, 0
  while team do
    seen[team.name] = true
    local online = team_online(team, now)
    if online > 0 then
      team_enqueue(cid, site, team, online, now)
      if team.mode == 'offer' then route_offer(cid, team, now) end
      return team.name
    end
    local fallback = team.fallback
    if not fallback or seen[fallback] or hops >= 4 then break end
    team, hops = team_get(site, fallback), hops + 1
  end
  if first and not redis.call('HGET', mkey, 'team_queue') then team_enqueue(cid, site, first, 0, now) end
  if redis.call('HSETNX', mkey, 'overflow', 'offline') == 1 then
    redis.call('HSET', mkey, 'email_offered', now)
    redis.call('ZREM', p .. 'queue:to_offer', cid)
    if vid then bus(vid, '-', 0, cjson.encode({type = 'offer_email', conversation = cid, reason = 'no_agents'})) end
  end
  return first and first.name
end

-- A conversation just queued (queue_enter): its team is the one the visitor chose (hello's
-- `team`, an invitation's, a flow's hand-off step's: the visitor's `team`), else the site's
-- default team; a site without teams routes nothing (today's shared queue).
local function route_enter(cid, vid, now)
  local visitor = redis.call('HMGET', p .. 'visitor:' .. vid, 'site', 'team')
  local site = visitor[1] or ''
  local team = team_get(site, visitor[2]) or team_get(site, redis.call('GET', p .. 'teams:' .. site .. ':default'))
  if not team then return nil end
  return route_place(cid, vid, site, team, now)
end
