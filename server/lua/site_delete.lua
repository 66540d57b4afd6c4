-- ARGV: prefix, id -> 1
--! uses: prelude

if redis.call('SREM', p .. 'sites', ARGV[2]) == 0 then return redis.error_reply('not_found no such site') end
redis.call('DEL', p .. 'site:' .. ARGV[2])
redis.call('SREM', p .. 'hooks:sites', ARGV[2])
local hkey = p .. 'hooks:' .. ARGV[2]
redis.call('DEL', hkey, hkey .. ':cursor', hkey .. ':lease', hkey .. ':failures', hkey .. ':last', hkey .. ':retry')
return 1
