-- ARGV: prefix -> sites_json (secrets are not shown: only whether one is set)
--! uses: prelude hook_events
--! flags: no-writes

local out = {}
local ids = redis.call('SMEMBERS', p .. 'sites')
table.sort(ids)
for _, id in ipairs(ids) do
  local h = redis.call('HMGET', p .. 'site:' .. id, 'origins', 'identity_secret', 'enforce_identity', 'consent_required',
    'retention_days', 'hours', 'tz', 'auto_ack_seconds', 'offer_email_seconds', 'webhook_url', 'webhook_events', 'webhook_secret',
    'abandoned_queued_minutes', 'idle_active_minutes', 'files_visitors', 'files_types', 'files_max_bytes',
    'files_per_conversation')
  out[#out + 1] = {id = id, origins = cjson.decode(h[1] or '[]'), identity_secret_set = (h[2] or '') ~= '',
    enforce_identity = h[3] == '1', consent_required = h[4] == '1', retention_days = tonumber(h[5] or '0'),
    hours = h[6] or cjson.null, tz = h[7] or cjson.null, auto_ack_seconds = tonumber(h[8] or '') or cjson.null,
    offer_email_seconds = tonumber(h[9] or '') or cjson.null,
    abandoned_queued_minutes = tonumber(h[13] or '') or cjson.null, idle_active_minutes = tonumber(h[14] or '') or cjson.null,
    files_visitors = h[15] ~= '0', files_types = h[16] and cjson.decode(h[16]) or cjson.null,
    files_max_bytes = tonumber(h[17] or '') or cjson.null, files_per_conversation = tonumber(h[18] or '') or cjson.null,
    webhook = h[10] and {url = h[10], events = hook_events(h[11]), secret_hint = '****' .. string.sub(h[12] or '', -4)} or cjson.null}
end
return #out > 0 and cjson.encode(out) or '[]'
