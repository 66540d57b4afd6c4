-- ARGV: prefix, file -> {name, type, size, thumb (1|0)} of a file that is still there (not
-- expired nor erased with its conversation), or not_found: what GET /files/ID serves by.
--! uses: prelude
--! flags: no-writes

local f = redis.call('HMGET', p .. 'file:' .. ARGV[2], 'name', 'type', 'size', 'thumb')
if not f[1] then return redis.error_reply('not_found this file is no longer here') end
return {f[1], f[2], tonumber(f[3]) or 0, tonumber(f[4]) or 0}
