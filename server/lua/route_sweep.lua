-- ARGV: prefix (a site slot), now, default cap (agent-max-chats), roster (1: the agent pairs
--       that follow are the agents online, as the node last read them from the global slot;
--       0: the node has no fresh read, leave the roster as it is), agent, cap ("" = the
--       default), ... -> the number of offers made
-- Run once a second for each slot of sites by every node (chat/sweeps.c), like queue_sweep.lua;
-- each step below is done once whichever node comes first, since each reads what the last left.
-- 1. the roster (routing.lua) refreshed: the agents online and their caps, in this slot;
-- 2. offers past their deadline, or whose agent is no longer online, withdrawn and moved on;
-- 3. each team's waiting chats: a team with nobody online overflows (fallback, or the offline
--    path); an offer team's chats without an offer are offered while a member has room;
-- 4. a chat about to pass its team's waiting target (at 80 %) is marked once: every agent is
--    told (queue_breach) and the site's webhook gets conversation.breach.
--! uses: prelude webhook routing

local now, default_cap = tonumber(ARGV[2]), ARGV[3]
if ARGV[4] == '1' then
  redis.call('SET', p .. 'roster:default_cap', default_cap)
  -- an agent the node's read no longer has (away, logged out) is off the roster at once
  local online = {}
  for i = 5, #ARGV - 1, 2 do online[ARGV[i]] = true end
  for _, agent in ipairs(redis.call('ZRANGEBYSCORE', p .. 'roster', now, '+inf')) do
    if not online[agent] then redis.call('ZADD', p .. 'roster', now - 1, agent) end
  end
  local scores, caps, defaults = {}, {}, {}
  for i = 5, #ARGV - 1, 2 do
    scores[#scores + 1] = now + 3000
    scores[#scores + 1] = ARGV[i]
    if ARGV[i + 1] ~= '' then caps[#caps + 1] = ARGV[i]; caps[#caps + 1] = ARGV[i + 1]
    else defaults[#defaults + 1] = ARGV[i] end
  end
  if #scores > 0 then redis.call('ZADD', p .. 'roster', unpack(scores)) end
  if #caps > 0 then redis.call('HSET', p .. 'roster:cap', unpack(caps)) end
  if #defaults > 0 then redis.call('HDEL', p .. 'roster:cap', unpack(defaults)) end
  redis.call('ZREMRANGEBYSCORE', p .. 'roster', '-inf', now - 60000)
end

local offers = 0
-- agents gone from the roster (within the minute it keeps them) lose their offers; then the
-- offers past their deadline: two reads when there is nothing to do
for _, agent in ipairs(redis.call('ZRANGEBYSCORE', p .. 'roster', '-inf', '(' .. now)) do
  for _, cid in ipairs(redis.call('SMEMBERS', p .. 'agent:' .. agent .. ':offered')) do
    offer_withdraw(cid, agent, 'agent_away')
  end
end
for _, cid in ipairs(redis.call('ZRANGEBYSCORE', p .. 'offers:due', '-inf', now)) do
  local agent = redis.call('HGET', p .. 'conv:' .. cid .. ':meta', 'offer')
  if agent then offer_withdraw(cid, agent, 'expired') else redis.call('ZREM', p .. 'offers:due', cid) end
end

local function team_sweep(site, team)
  local qkey = p .. 'team:' .. site .. ':' .. team.name .. ':queue'
  if redis.call('ZCARD', qkey) == 0 then return end
  local online = team_online(team, now)
  -- the team's agents online, as its waiting visitors are told (queue_tell, queue_sweep.lua):
  -- a change is a change of the queue, announced by the next queue sweep
  local qname = 'team:' .. site .. ':' .. team.name .. ':queue'
  if tonumber(redis.call('HGET', p .. 'teams:online', qname) or '-1') ~= online then
    redis.call('HSET', p .. 'teams:online', qname, online)
    queue_changed()
  end
  if online == 0 then
    for _, cid in ipairs(redis.call('ZRANGE', qkey, 0, 199)) do
      local meta = redis.call('HMGET', p .. 'conv:' .. cid .. ':meta', 'state', 'overflow', 'visitor')
      if meta[1] == 'queued' and not meta[2] then route_place(cid, meta[3], site, team, now) end
    end
  elseif team.mode == 'offer' then
    -- oldest first, a page at a time, while a member has room: a queue waiting on full agents
    -- costs one read of the roster, not a read of the queue
    local roster, from = team_roster(team, now), 0
    while roster_has_room(roster) do
      local page = redis.call('ZRANGE', qkey, from, from + 99)
      for _, cid in ipairs(page) do
        if not roster_has_room(roster) then break end
        if route_offer(cid, team, now, roster) then offers = offers + 1 end
      end
      if #page < 100 then break end
      from = from + 100
    end
  end
  local wait = tonumber(team.wait_seconds)
  if wait then
    local late = redis.call('ZRANGEBYSCORE', qkey, '-inf', now - wait * 800, 'LIMIT', 0, 100)
    for _, cid in ipairs(late) do
      local mkey = p .. 'conv:' .. cid .. ':meta'
      if redis.call('HSETNX', mkey, 'breach', now) == 1 then
        local created = tonumber(redis.call('HGET', mkey, 'created') or now)
        local event = {conversation = cid, team = team.name, target = 'wait', due = created + wait * 1000}
        bus('-', '-', 1, cjson.encode({type = 'queue_breach', conversation = cid, team = team.name, target = 'wait',
          due = event.due}))
        webhook(redis.call('HGET', mkey, 'visitor') or '', 'conversation.breach', event)
      end
    end
  end
end

for _, site in ipairs(redis.call('SMEMBERS', p .. 'sites')) do
  local flat = redis.call('HGETALL', p .. 'teams:' .. site)
  for i = 1, #flat, 2 do
    local team = cjson.decode(flat[i + 1])
    team.name, team.site = flat[i], site
    team_sweep(site, team)
  end
end
return offers
