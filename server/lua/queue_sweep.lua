-- ARGV: prefix, now, acknowledge_after_ms, offer_email_after_ms, day, retention_days,
--       abandoned_queued_ms, idle_active_ms, seen_ttl_ms, closed_sites (",a,b," or ""),
--       first (1 on a node's first sweep, else 0), agents online -> 1
-- Run once a second for each slot of sites (base/keys.h), with that slot's prefix.
-- A visitor of a site outside its business hours is told so in the acknowledgement, and is
-- offered the email form with it rather than minutes later.
-- Run by every node each second; HSETNX makes each step happen once per conversation, and a
-- conversation closed as abandoned (abandoned_close.lua) is closed once.
-- Queue positions: a visitor entering the queue is told its own at once (queue_tell); when
-- the queue or the number of agents online has changed since the last announcement, the
-- sweep publishes the whole order once ("!queue"), and each node tells its own waiting
-- visitors (so they also learn when the last agent leaves). One message a second at
-- most, whatever the queue's length.
--! uses: prelude webhook service_row files conversation_close abandoned_close

abandoned_close(ARGV[2], ARGV[5], ARGV[6], tonumber(ARGV[7]), tonumber(ARGV[8]), tonumber(ARGV[9]))
local now = tonumber(ARGV[2])
local texts = {en = 'We have seen your question and will answer shortly.',
               da = 'Vi har set dit spørgsmål og svarer om lidt.',
               nb = 'Vi har sett spørsmålet ditt og svarer snart.'}
local closed_texts = {en = 'We have seen your question. We are closed right now and will answer when we are back.',
               da = 'Vi har set dit spørgsmål. Vi har lukket lige nu og svarer, når vi er tilbage.',
               nb = 'Vi har sett spørsmålet ditt. Vi har stengt nå og svarer når vi er tilbake.'}
local closed_sites = ARGV[10] or ''
local function site_closed(vid)
  if closed_sites == '' or not vid then return false end
  local site = redis.call('HGET', p .. 'visitor:' .. vid, 'site')
  return site ~= false and string.find(closed_sites, ',' .. site .. ',', 1, true) ~= nil
end
local function site_ms(vid, field, default)
  local site = vid and redis.call('HGET', p .. 'visitor:' .. vid, 'site')
  local seconds = site and tonumber(redis.call('HGET', p .. 'site:' .. site, field) or '')
  return seconds and seconds * 1000 or default
end
local function least_ms(field, default)
  for _, site in ipairs(redis.call('SMEMBERS', p .. 'sites')) do
    local seconds = tonumber(redis.call('HGET', p .. 'site:' .. site, field) or '')
    if seconds and seconds * 1000 < default then default = seconds * 1000 end
  end
  return default
end
local ack_ms, offer_ms = tonumber(ARGV[3]), tonumber(ARGV[4])
-- queue:to_ack and queue:to_offer hold the queued chats not yet acknowledged or offered, so
-- a long queue costs nothing here once everyone in it has heard from us. A queue left by a
-- Beckon that kept no such sets is entered into them once: a node asks on its first sweep
-- only, and queue:marks says it was done.
if ARGV[11] == '1' and redis.call('SETNX', p .. 'queue:marks', 1) == 1 then
  local q = redis.call('ZRANGE', p .. 'queue', 0, -1, 'WITHSCORES')
  for i = 1, #q, 2 do
    local m = redis.call('HMGET', p .. 'conv:' .. q[i] .. ':meta', 'acknowledged', 'email_offered')
    if not m[1] then redis.call('ZADD', p .. 'queue:to_ack', q[i + 1], q[i]) end
    if not m[2] then redis.call('ZADD', p .. 'queue:to_offer', q[i + 1], q[i]) end
  end
end
local due = redis.call('ZRANGEBYSCORE', p .. 'queue:to_ack', '-inf', now - least_ms('auto_ack_seconds', ack_ms),
                      'WITHSCORES', 'LIMIT', 0, 500)
for i = 1, #due, 2 do
  local cid, mkey = due[i], p .. 'conv:' .. due[i] .. ':meta'
  local vid = redis.call('HGET', mkey, 'visitor')
  local ripe = tonumber(due[i + 1]) + site_ms(vid, 'auto_ack_seconds', ack_ms) <= now
  if ripe then redis.call('ZREM', p .. 'queue:to_ack', cid) end
  if ripe and redis.call('HSETNX', mkey, 'acknowledged', now) == 1 then
    local lang = string.lower(string.sub(redis.call('HGET', p .. 'visitor:' .. (vid or ''), 'lang') or 'en', 1, 2))
    if lang == 'no' or lang == 'nn' then lang = 'nb' end
    local closed = site_closed(vid)
    local words = closed and closed_texts or texts
    local _, frame = append(cid, 'system', '', '', words[lang] or words.en)
    if vid then bus(vid, '-', 0, frame) end
    if closed and redis.call('HSETNX', mkey, 'email_offered', now) == 1 then
      redis.call('ZREM', p .. 'queue:to_offer', cid)
      if vid then bus(vid, '-', 0, cjson.encode({type = 'offer_email', conversation = cid})) end
    end
  end
end
due = redis.call('ZRANGEBYSCORE', p .. 'queue:to_offer', '-inf', now - least_ms('offer_email_seconds', offer_ms),
                'WITHSCORES', 'LIMIT', 0, 500)
for i = 1, #due, 2 do
  local cid, mkey = due[i], p .. 'conv:' .. due[i] .. ':meta'
  local vid = redis.call('HGET', mkey, 'visitor')
  local ripe = tonumber(due[i + 1]) + site_ms(vid, 'offer_email_seconds', offer_ms) <= now
  if ripe then redis.call('ZREM', p .. 'queue:to_offer', cid) end
  if ripe and redis.call('HSETNX', mkey, 'email_offered', now) == 1 then
    if vid then bus(vid, '-', 0, cjson.encode({type = 'offer_email', conversation = cid})) end
  end
end
local version = redis.call('GET', p .. 'queue:version') or '0'
agents_online = tonumber(ARGV[12]) or 0
local online_now = tostring(agents_online)
local queue_moved = redis.call('GETSET', p .. 'queue:announced', version) ~= version
local agents_moved = redis.call('GETSET', p .. 'queue:announced_online', online_now) ~= online_now
-- A chat of a team (routing.lua) stands in its team's queue: each team's order goes out on its
-- own, with the team's agents online (as the chat was last routed), the rest as one order.
if (queue_moved or agents_moved) and redis.call('ZCARD', p .. 'queue') > 0 then
  local orders, teams = {['-'] = {}}, {['-'] = agents_online}
  for _, cid in ipairs(redis.call('ZRANGE', p .. 'queue', 0, -1)) do
    local meta = redis.call('HMGET', p .. 'conv:' .. cid .. ':meta', 'visitor', 'team_queue', 'team_online')
    local key = meta[2] or '-'
    if not orders[key] then
      orders[key] = {}
      teams[key] = tonumber(meta[2] and redis.call('HGET', p .. 'teams:online', meta[2]) or meta[3]) or 0
    end
    local order = orders[key]
    order[#order + 1] = meta[1] or '-'
    order[#order + 1] = cid
  end
  local avg = queue_wait_estimate(now)
  for key, order in pairs(orders) do
    if #order > 0 then
      bus_nodes('!queue ' .. cjson.encode({online = teams[key], average_wait_ms = avg or cjson.null, order = order}))
    end
  end
end
return 1
