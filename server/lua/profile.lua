-- ARGV: prefix, visitor -> profile_json, or an error when the visitor is unknown
--! uses: prelude
--! flags: no-writes

if redis.call('EXISTS', p .. 'visitor:' .. ARGV[2]) == 0 then return redis.error_reply('not_found no such visitor') end
return profile(ARGV[2])
