-- ARGV: prefix, visitor, conversation, day -> 1: a transcript that was not sent does not count
--! uses: prelude

local vkey, mkey = p .. 'visitor:' .. ARGV[2], p .. 'conv:' .. ARGV[3] .. ':meta'
if tonumber(redis.call('HGET', mkey, 'transcripts') or '0') > 0 then redis.call('HINCRBY', mkey, 'transcripts', -1) end
if redis.call('HGET', vkey, 'mail_day') == ARGV[4] and tonumber(redis.call('HGET', vkey, 'mail_today') or '0') > 0 then
  redis.call('HINCRBY', vkey, 'mail_today', -1)
end
return 1
