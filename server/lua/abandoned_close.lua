-- Conversations their visitor abandoned, closed by 'timeout' (for queue_sweep.lua).
-- visitors:seen holds, per visitor, the last time a node confirmed a socket of theirs: at hello,
-- then with every heartbeat (chat.c), newest time kept. A visitor not confirmed for ttl ms has no
-- socket open anywhere, counted from then: a node that dies stops confirming its visitors, who
-- reconnect and are confirmed by another. A queued conversation is closed once its visitor has
-- been gone queued_ms (so is a conversation still in its flow, never handed off); an active one once its visitor has been gone and nothing was written to it
-- for idle_ms. A site may set either limit in minutes (abandoned_queued_minutes,
-- idle_active_minutes; 0 = never). Only visitors gone at least the smallest limit are looked
-- at, 1000 and 100 closes a sweep at most (visitors:seen:offset: where the next sweep goes on),
-- so that a crowd leaving at once, or a week of visitors when the limits are turned on, never
-- holds Redis long; those without an open conversation leave the set. When every limit this node
-- knows is 0, it only drops visitors gone longer than any limit can be (10080 minutes): another
-- node may be configured otherwise. now_text and day are strings (now is written into the meta as given).
--! uses: prelude files conversation_close

local function abandoned_close(now_text, day, retention_days, queued_ms, idle_ms, ttl)
  local now, seen, least = tonumber(now_text), p .. 'visitors:seen', nil
  local function limit(site, field, default)
    local minutes = site and tonumber(redis.call('HGET', p .. 'site:' .. site, field) or '')
    return minutes and minutes * 60000 or default
  end
  local function consider(ms) if ms and ms > 0 and (not least or ms < least) then least = ms end end
  consider(queued_ms); consider(idle_ms)
  for _, site in ipairs(redis.call('SMEMBERS', p .. 'sites')) do
    local h = redis.call('HMGET', p .. 'site:' .. site, 'abandoned_queued_minutes', 'idle_active_minutes')
    for j = 1, 2 do consider(tonumber(h[j] or '') and tonumber(h[j]) * 60000) end
  end
  if not least then redis.call('ZREMRANGEBYSCORE', seen, '-inf', '(' .. (now - ttl - 10080 * 60000)); return end
  local offset, scanned, dropped, closes = tonumber(redis.call('GET', seen .. ':offset') or '0'), 0, 0, 0
  local gone = redis.call('ZRANGEBYSCORE', seen, '-inf', now - ttl - least, 'WITHSCORES', 'LIMIT', offset, 1000)
  for i = 1, #gone, 2 do
    if closes == 100 then break end
    scanned = scanned + 1
    local vid, since = gone[i], tonumber(gone[i + 1]) + ttl
    local v = redis.call('HMGET', p .. 'visitor:' .. vid, 'conv', 'site')
    local meta = v[1] and redis.call('HMGET', p .. 'conv:' .. v[1] .. ':meta', 'state', 'visitor', 'agent', 'rule')
    local due = false
    if not meta or not meta[1] or meta[1] == 'closed' then
      dropped = dropped + redis.call('ZREM', seen, vid)
    elseif meta[1] == 'queued' or meta[1] == 'flow' then
      local ms = limit(v[2], 'abandoned_queued_minutes', queued_ms)
      due = ms > 0 and since + ms <= now
    elseif meta[1] == 'active' then
      local ms = limit(v[2], 'idle_active_minutes', idle_ms)
      if ms > 0 and since + ms <= now then
        local last = redis.call('XREVRANGE', p .. 'conv:' .. v[1], '+', '-', 'COUNT', 1)[1]
        due = (last and stamp(last[1]) or 0) + ms <= now
      end
    end
    if due then
      conversation_close(v[1], meta, 'timeout', '', now_text, day, retention_days)
      dropped, closes = dropped + redis.call('ZREM', seen, vid), closes + 1
    end
  end
  local next_offset = (#gone < 2000 and scanned * 2 == #gone) and 0 or offset + scanned - dropped
  if next_offset ~= offset then redis.call('SET', seen .. ':offset', next_offset) end
end
