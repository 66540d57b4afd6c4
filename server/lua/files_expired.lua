-- ARGV: prefix, now, limit -> the ids of files whose bytes may go (expired with their
-- conversation, or erased), at most limit, taken off `files:expiring` (files.lua): the node's
-- sweep removes them from the dir file store (the redis one's keys expire by themselves).
--! uses: prelude

local ids = redis.call('ZRANGEBYSCORE', p .. 'files:expiring', '-inf', ARGV[2], 'LIMIT', 0, tonumber(ARGV[3]))
if #ids > 0 then redis.call('ZREM', p .. 'files:expiring', unpack(ids)) end
return ids
