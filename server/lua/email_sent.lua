-- ARGV: prefix, conversation, id, status (sent, not_sent, unsure) -> 1
-- What became of an email reply's mail (chat/email_reply.c): a resend of its cmid mails it
-- again unless it was sent.
--! uses: prelude

local key = p .. 'conv:' .. ARGV[2] .. ':mail_out'
local out = redis.call('HGET', key, ARGV[3])
if out then redis.call('HSET', key, ARGV[3], string.match(out, '^(%S+)') .. ' ' .. ARGV[4]) end
return 1
