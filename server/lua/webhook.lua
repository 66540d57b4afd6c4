-- Webhooks (server/workers/webhooks.h): when the visitor's site has a webhook that wants this event,
-- the event goes into the site's stream hooks:{site} in the same atomic step as the change it
-- tells of, so it is stored exactly when the change is, in the order Redis made the changes.
-- One SCARD when no site has a webhook (a batch of messages asks once, for all: messages.lua).
--! uses: prelude

local function webhook(vid, event, data)
  if redis.call('SCARD', p .. 'hooks:sites') == 0 then return end
  local site = redis.call('HGET', p .. 'visitor:' .. vid, 'site')
  if not site or redis.call('SISMEMBER', p .. 'hooks:sites', site) == 0 then return end
  local events = redis.call('HGET', p .. 'site:' .. site, 'webhook_events') or ''
  if events ~= '' and not string.find(',' .. events .. ',', ',' .. event .. ',', 1, true) then return end
  data.visitor = vid
  redis.call('XADD', p .. 'hooks:' .. site, 'MAXLEN', '~', 10000, '*', 'event', event, 'visitor', vid,
             'data', cjson.encode(data))
  bus_nodes('!hooks ' .. site)
end
