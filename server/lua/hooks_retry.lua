-- ARGV: prefix, site, id, event, attempts, status (0: none), error, now, next_at -> 1
-- An attempt failed and another will follow: shown in GET /api/sites/{id}/webhook.
--! uses: prelude

local status = tonumber(ARGV[6])
redis.call('SET', p .. 'hooks:' .. ARGV[2] .. ':retry', cjson.encode({id = ARGV[3], event = ARGV[4],
  attempts = tonumber(ARGV[5]), status = status ~= 0 and status or cjson.null, error = ARGV[7],
  at = tonumber(ARGV[8]), next_at = tonumber(ARGV[9])}), 'PX', 3600000)
return 1
