-- ARGV: prefix, id, who, now -> version
--! uses: prelude rule_version

local id = ARGV[2]
if redis.call('HDEL', p .. 'rules', id) == 0 then return redis.error_reply('not_found no such rule') end
local version = rule_version(id, ARGV[3], ARGV[4], '"deleted":true')
redis.call('HDEL', p .. 'rules:meta', id)
return version
