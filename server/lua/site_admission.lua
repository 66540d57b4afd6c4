-- site_admission.lua - whether a visitor's hello may use a site from its page's origin. With no
-- site configured anywhere (configured is '0', the node's reading of the global list, and the
-- slot has none) any origin may connect (development). Once sites exist, the hello must name one
-- of this slot's sites (p .. 'sites': the sites of its tag) and the handshake's Origin must be in
-- its list, exactly. Returns the site's settings as the node reads them (JSON), or nil and the
-- refusal. With fields, the settings carry `fields` too: what a visitor's scripts read of the
-- site (below), for a visitor whose keys are in another slot (visitor_site.lua).
--! uses: prelude

-- The fields of p .. 'site:' .. id that scripts about a visitor read where the visitor's keys
-- are (visitor_promises.lua, conversation_close.lua, queue_sweep.lua, abandoned_close.lua).
local site_visitor_fields = {'consent_required', 'enforce_identity', 'retention_days', 'auto_ack_seconds',
                             'offer_email_seconds', 'abandoned_queued_minutes', 'idle_active_minutes'}
local function site_admit(site, origin, configured, fields)
  if configured ~= '1' and redis.call('SCARD', p .. 'sites') == 0 then return '{}' end
  if site == '' or redis.call('SISMEMBER', p .. 'sites', site) == 0 then
    return nil, 'forbidden this server does not serve that site'
  end
  local skey = p .. 'site:' .. site
  local allowed = false
  for _, o in ipairs(cjson.decode(redis.call('HGET', skey, 'origins') or '[]')) do
    if o == origin then allowed = true end
  end
  if not allowed then return nil, 'forbidden this page\'s origin may not use the site ' .. site end
  local h = redis.call('HMGET', skey, 'identity_secret', 'enforce_identity', 'consent_required', 'retention_days', 'hours', 'tz')
  local settings = {identity_secret = h[1] or '', enforce_identity = h[2] == '1', consent_required = h[3] == '1',
                    retention_days = tonumber(h[4] or '0'), hours = h[5], tz = h[6], id = site}
  if fields then
    settings.fields = {}
    local values = redis.call('HMGET', skey, unpack(site_visitor_fields))
    for i, name in ipairs(site_visitor_fields) do
      if values[i] then settings.fields[name] = values[i] end
    end
  end
  return cjson.encode(settings)
end
