-- ARGV: prefix (global), site, who, now -> version (the deletion is a version too)
--! uses: prelude flow_version

if redis.call('HDEL', p .. 'flows', ARGV[2]) == 0 then return redis.error_reply('not_found this site has no flow') end
local version = flow_version(ARGV[2], ARGV[3], ARGV[4], '"deleted":true')
redis.call('HDEL', p .. 'flows:meta', ARGV[2])
return version
