-- ARGV: prefix, visitor -> visitor_json (the sidebar)
--! uses: prelude
--! flags: no-writes

local vid = ARGV[2]
local vkey = p .. 'visitor:' .. vid
if redis.call('EXISTS', vkey) == 0 then return redis.error_reply('not_found no such visitor') end
local h = {}
local flat = redis.call('HGETALL', vkey)
for i = 1, #flat, 2 do h[flat[i]] = flat[i + 1] end
local function num(x) return x and tonumber(x) or nil end
local function str(x) return (x and x ~= '') and x or nil end
local v = {id = vid, name = str(h.name), email = str(h.email), lang = str(h.lang), device = str(h.device),
  site = str(h.site), visits = num(h.visits), chats = num(h.chats), first_seen = num(h.created),
  last_seen = num(h.last_seen), visit_started = num(h.visit_started), visit_pages = num(h.visit_pages),
  referrer = str(h.visit_referrer), conversation = str(h.conv), user_id = str(h.user_id),
  verified = h.verified == '1', consent = h.consent and h.consent == '1' or nil}
if h.attrs then v.attrs = cjson.decode(h.attrs) end
local utm = {}
for _, k in ipairs({'source', 'medium', 'campaign', 'term', 'content'}) do utm[k] = str(h['utm_' .. k]) end
if next(utm) then v.utm = utm end
if h.page_url then v.page = {url = h.page_url, title = h.page_title or '', since = num(h.page_started)} end
local pages = {}
local started = num(h.visit_started) or 0
for _, e in ipairs(redis.call('XREVRANGE', p .. 'events:' .. vid, '+', '-', 'COUNT', 500)) do
  local ts = stamp(e[1])
  if ts < started or #pages >= 50 then break end
  local f = {}
  for j = 1, #e[2], 2 do f[e[2][j]] = e[2][j + 1] end
  if f.type == 'page_view' then table.insert(pages, 1, {url = f.url, title = f.title, ts = ts}) end
end
local convs = {}
local ids = redis.call('LRANGE', vkey .. ':convs', -20, -1)
for i = #ids, 1, -1 do
  local m = redis.call('HMGET', p .. 'conv:' .. ids[i] .. ':meta', 'state', 'created', 'closed', 'agent', 'rule', 'rating',
                      'last_channel')
  if m[1] then convs[#convs + 1] = {id = ids[i], state = m[1], created = num(m[2]), closed = num(m[3]),
    agent = m[4] or nil, rule = m[5] or nil, rating = num(m[6]), channel = m[7] or nil} end
end
return '{"visitor":' .. cjson.encode(v) .. ',"pages":' .. (#pages > 0 and cjson.encode(pages) or '[]') ..
       ',"conversations":' .. (#convs > 0 and cjson.encode(convs) or '[]') .. '}'
