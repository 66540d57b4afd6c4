-- ARGV: prefix, visitor, now, visit_gap_ms, kind (page|event), url, title, referrer,
--       utm_source, utm_medium, utm_campaign, utm_term, utm_content, event_name, props_json,
--       retention_seconds, max_events -> profile_json
-- A visit starts with the first event after visit_gap_ms of silence. Every way an event comes
-- in (the visitor's socket, the HTTP beacon) ends here, so this is where consent is checked and
-- where an unknown (erased) visitor is refused rather than created again.
--! uses: prelude visitor_promises

local vid, now, gap, kind = ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4]), ARGV[5]
local vkey = p .. 'visitor:' .. vid
if redis.call('EXISTS', vkey) == 0 then
  return redis.error_reply('invalid_token this visitor is not known here (erased, or never said hello): say hello without a token')
end
if not tracking_allowed(vkey) then
  return redis.error_reply('consent_required this site stores browsing only with consent: send consent {granted: true} first')
end
local last = tonumber(redis.call('HGET', vkey, 'last_event') or '0')
if last == 0 or now - last > gap then
  redis.call('HINCRBY', vkey, 'visits', 1)
  redis.call('HSET', vkey, 'visit_started', now, 'visit_pages', 0, 'visit_referrer', ARGV[8],
             'utm_source', ARGV[9], 'utm_medium', ARGV[10], 'utm_campaign', ARGV[11],
             'utm_term', ARGV[12], 'utm_content', ARGV[13])
end
local ekey = p .. 'events:' .. vid
if kind == 'page' then
  redis.call('HINCRBY', vkey, 'visit_pages', 1)
  redis.call('HSET', vkey, 'page_url', ARGV[6], 'page_title', ARGV[7], 'page_started', now)
  redis.call('XADD', ekey, 'MAXLEN', '~', ARGV[17], '*', 'type', 'page_view', 'url', ARGV[6], 'title', ARGV[7], 'referrer', ARGV[8])
else
  redis.call('XADD', ekey, 'MAXLEN', '~', ARGV[17], '*', 'type', 'event', 'name', ARGV[14], 'props', ARGV[15])
end
redis.call('EXPIRE', ekey, ARGV[16])
redis.call('HSET', vkey, 'last_event', now, 'last_seen', now)
redis.call('ZADD', p .. 'visitors:active', now, vid)
if kind == 'page' then
  local v = redis.call('HMGET', vkey, 'visit_pages', 'visit_started', 'name')
  bus('-', '-', 1, cjson.encode({type = 'visitor_update', visitor = {id = vid, page_url = ARGV[6], page_title = ARGV[7],
      page_since = now, visit_pages = tonumber(v[1]), visit_started = tonumber(v[2]), name = v[3] or nil}}))
end
return profile(vid)
