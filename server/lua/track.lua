-- ARGV: prefix, visit_gap_ms, retention_seconds, max_events, then 15 values per event:
--       visitor, now, kind (page|event), url, title, referrer, utm_source, utm_medium,
--       utm_campaign, utm_term, utm_content, event_name, props_json, visitor_update_head,
--       profile_rev
-- -> one element per event, in their order: {profile_json, profile_rev, visits, visit_started,
--    visit_pages}, or that event's refusal as an error reply ("code message")
--
-- The page views and events that reach a node together come in one call
-- (triggers/track_batch.c): what a script call costs Redis by itself is paid once for all of
-- them, and the live list (visitors:active) takes them in one ZADD. A refusal is that event's
-- answer alone; an error Redis raises ends the call (storage trouble: unavailable for each).
-- Events are stored in the order given, so each socket's keep the order they were sent in.
--
-- A visit starts with the first event after visit_gap_ms of silence. Every way an event comes
-- in (the visitor's socket, the HTTP beacon) ends here, so this is where consent is checked and
-- where an unknown (erased) visitor is refused rather than created again.
--
-- profile_rev is the revision of the profile the caller keeps ("" when it keeps none: the
-- beacon; "?" when its profile has none). While it is the visitor's, this event changed only
-- the page (url, title, now), last_event and the visit (the numbers answered; visit_pages -1:
-- none stored; a visit that starts now also takes this event's referrer and utm): then
-- profile_json is "" and the node applies the change to its copy (profile.h,
-- bk_profile_tracked_new). Otherwise it is the whole profile (prelude.lua, profile). A visit
-- that starts is a change the visitor's other sockets must see: it moves profile_rev.
--
-- visitor_update_head is the agents' visitor_update frame up to what only Redis knows, built
-- on the node (JSON encoding in a script is Redis CPU, which all nodes share):
-- {"type":"visitor_update","visitor":{"id":…,"page_url":…,"page_title":…,"page_since":…
-- The script adds visit_pages, visit_started and name, and closes it.
--
-- Each event reads the visitor once (HMGET) and writes it once (HSET): each redis.call costs
-- the script more than the command itself does.
--! uses: prelude visitor_promises

local gap, retention, max_events = tonumber(ARGV[2]), ARGV[3], ARGV[4]
local consent_flags = {}  -- site -> whether it asks consent, read once a call
local active = {}         -- the live list's scores and members, for one ZADD

local function track_event(vid, now, kind, url, title, referrer, utm_source, utm_medium, utm_campaign, utm_term,
                           utm_content, event_name, props, update_head, caller_rev)
  local vkey = p .. 'visitor:' .. vid
  local v = redis.call('HMGET', vkey, 'profile_rev', 'site', 'consent', 'last_event', 'visit_pages', 'visit_started',
                       'visits', 'name')
  -- hello always sets profile_rev: EXISTS only for a visitor from before it did
  if not v[1] and redis.call('EXISTS', vkey) == 0 then
    return redis.error_reply('invalid_token this visitor is not known here (erased, or never said hello): say hello without a token')
  end
  if not tracking_allowed_for(v[2], v[3], consent_flags) then
    return redis.error_reply('consent_required this site stores browsing only with consent: send consent {granted: true} first')
  end
  -- Numbers stay the text they are stored as where they are only passed on: a Lua number turned
  -- into text costs a printf in Redis.
  local rev, pages, started, visits = v[1], v[5], v[6], v[7]
  local current = rev and caller_rev == rev
  local set, n = {vkey, 'last_event', now, 'last_seen', now}, 5
  local visit_starts = not v[4] or tonumber(now) - tonumber(v[4]) > gap
  if visit_starts then
    pages, started, visits = '0', now, (tonumber(visits) or 0) + 1
    set[n + 1], set[n + 2], set[n + 3], set[n + 4] = 'visits', visits, 'visit_started', now
    set[n + 5], set[n + 6], set[n + 7], set[n + 8] = 'visit_referrer', referrer, 'utm_source', utm_source
    set[n + 9], set[n + 10], set[n + 11], set[n + 12] = 'utm_medium', utm_medium, 'utm_campaign', utm_campaign
    set[n + 13], set[n + 14], set[n + 15], set[n + 16] = 'utm_term', utm_term, 'utm_content', utm_content
    n = n + 16
    if kind ~= 'page' then set[n + 1], set[n + 2], n = 'visit_pages', '0', n + 2 end
  end
  if visit_starts or not rev then
    rev = (tonumber(rev) or 0) + 1
    set[n + 1], set[n + 2], n = 'profile_rev', rev, n + 2
  end
  -- The event stream's expiry is set when the stream is made and renewed when a visit starts,
  -- not on every event (an EXPIRE per page view cost Redis as much as the ZADD). NOMKSTREAM
  -- tells a stream that is not there (the first event, or consent withdrawn meanwhile).
  local ekey = p .. 'events:' .. vid
  local made
  if kind == 'page' then
    pages = (tonumber(pages) or 0) + 1
    set[n + 1], set[n + 2], set[n + 3], set[n + 4] = 'visit_pages', pages, 'page_url', url
    set[n + 5], set[n + 6] = 'page_title', title
    set[n + 7], set[n + 8] = 'page_started', now
    made = not redis.call('XADD', ekey, 'NOMKSTREAM', 'MAXLEN', '~', max_events, '*', 'type', 'page_view', 'url', url,
                          'title', title, 'referrer', referrer)
    if made then
      redis.call('XADD', ekey, 'MAXLEN', '~', max_events, '*', 'type', 'page_view', 'url', url, 'title', title,
                 'referrer', referrer)
    end
  else
    made = not redis.call('XADD', ekey, 'NOMKSTREAM', 'MAXLEN', '~', max_events, '*', 'type', 'event', 'name', event_name,
                          'props', props)
    if made then
      redis.call('XADD', ekey, 'MAXLEN', '~', max_events, '*', 'type', 'event', 'name', event_name, 'props', props)
    end
  end
  if made or visit_starts then redis.call('EXPIRE', ekey, retention) end
  redis.call('HSET', unpack(set))
  active[#active + 1] = now
  active[#active + 1] = vid
  if kind == 'page' then
    bus('-', '-', 1, update_head .. ',"visit_pages":' .. pages .. (started and ',"visit_started":' .. started or '') ..
        (v[8] and ',"name":' .. cjson.encode(v[8]) or '') .. '}}')
  end
  -- visit_pages -1: not stored (consent was withdrawn mid-visit, and this is no page view)
  return {(current or caller_rev == '') and '' or profile(vid), tonumber(rev), tonumber(visits) or 0,
          tonumber(started) or 0, tonumber(pages) or -1}
end

local results = {}
for i = 5, #ARGV - 14, 15 do
  results[#results + 1] = track_event(unpack(ARGV, i, i + 14))
end
-- a visitor twice in the call: its later event's time is the one that stays
if #active > 0 then redis.call('ZADD', p .. 'visitors:active', unpack(active)) end
return results
