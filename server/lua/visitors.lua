-- ARGV: prefix, now, window_ms -> visitors_json (most recent first)
--! uses: prelude

local now, window = tonumber(ARGV[2]), tonumber(ARGV[3])
local akey = p .. 'visitors:active'
redis.call('ZREMRANGEBYSCORE', akey, '-inf', '(' .. (now - 24 * 3600 * 1000))
local out = {}
for _, vid in ipairs(redis.call('ZREVRANGEBYSCORE', akey, '+inf', now - window, 'LIMIT', 0, 200)) do
  local h = redis.call('HMGET', p .. 'visitor:' .. vid, 'name', 'page_url', 'page_title', 'page_started',
                       'visit_started', 'visit_pages', 'visits', 'conv')
  out[#out + 1] = {id = vid, name = h[1] or nil, page_url = h[2] or nil, page_title = h[3] or nil,
    page_since = tonumber(h[4]), visit_started = tonumber(h[5]), visit_pages = tonumber(h[6]),
    visits = tonumber(h[7]), conversation = h[8] or nil}
end
return #out > 0 and cjson.encode(out) or '[]'
