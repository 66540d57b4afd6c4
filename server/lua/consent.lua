-- ARGV: prefix, visitor, granted (0|1) -> profile_json
-- Withdrawing consent deletes the browsing events held and stops tracking.
--! uses: prelude visitor_promises

local vkey = p .. 'visitor:' .. ARGV[2]
if visitor_erased(vkey) then return redis.error_reply(erased_refusal) end
redis.call('HSET', vkey, 'consent', ARGV[3])
profile_changed(vkey)
if ARGV[3] == '0' then
  redis.call('DEL', p .. 'events:' .. ARGV[2])
  redis.call('HDEL', vkey, 'page_url', 'page_title', 'page_started', 'visit_pages', 'visit_referrer',
             'utm_source', 'utm_medium', 'utm_campaign', 'utm_term', 'utm_content')
end
return profile(ARGV[2])
