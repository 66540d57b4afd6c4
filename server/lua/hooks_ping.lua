-- ARGV: prefix, site -> id of the new ping event (it queues behind undelivered events)
--! uses: prelude

if redis.call('SISMEMBER', p .. 'hooks:sites', ARGV[2]) == 0 then
  return redis.error_reply('not_found no such site, or it has no webhook_url')
end
local id = redis.call('XADD', p .. 'hooks:' .. ARGV[2], 'MAXLEN', '~', 10000, '*', 'event', 'ping', 'visitor', '', 'data', '{}')
bus_nodes('!hooks ' .. ARGV[2])
return id
