-- ARGV: prefix, site -> status_json {url, events, secret_hint, pending, delivering, retry,
--       last_delivery, failures}
--! uses: prelude hook_events
--! flags: no-writes

local site = ARGV[2]
if redis.call('SISMEMBER', p .. 'sites', site) == 0 then return redis.error_reply('not_found no such site') end
local key = p .. 'hooks:' .. site
local h = redis.call('HMGET', p .. 'site:' .. site, 'webhook_url', 'webhook_events', 'webhook_secret')
local function json_or_null(x) return x and cjson.encode(x) or 'null' end
local lease = redis.call('GET', key .. ':lease')
return '{"url":' .. json_or_null(h[1]) .. ',"events":' .. cjson.encode(hook_events(h[2])) ..
  ',"secret_hint":' .. json_or_null(h[3] and ('****' .. string.sub(h[3], -4))) ..
  ',"pending":' .. redis.call('XLEN', key) .. ',"delivering":' .. json_or_null(lease) ..
  ',"retry":' .. (redis.call('GET', key .. ':retry') or 'null') ..
  ',"last_delivery":' .. (redis.call('GET', key .. ':last') or 'null') ..
  ',"failures":[' .. table.concat(redis.call('LRANGE', key .. ':failures', 0, 49), ',') .. ']}'
