-- ARGV: prefix, name, ip, max_per_name, max_per_ip -> {password_hash|false, role|false, blocked}
--! uses: prelude
--! flags: no-writes

local fails = tonumber(redis.call('GET', p .. 'login:fail:' .. ARGV[2]) or '0')
local ip_fails = tonumber(redis.call('GET', p .. 'login:fail:ip:' .. ARGV[3]) or '0')
local blocked = (fails >= tonumber(ARGV[4]) or ip_fails >= tonumber(ARGV[5])) and 1 or 0
local a = redis.call('HMGET', p .. 'agent:' .. ARGV[2], 'password', 'role')
return {a[1], a[2], blocked}
