-- ARGV: prefix, conversation, agent, cmid, text, message_id ("<...>", for the mail), now,
--       history_max, sender (node:connection)
-- -> {conversation, id, duplicate, mail_sent, email, lang, site, subject, message_id,
--     in_reply_to, history_json}, or not_found / forbidden / wrong_state
--
-- An agent's answer by email (chat/email_reply.c): stored as the agent's message of channel
-- `email` (once per cmid, as every message), the Message-ID of its mail stored for threading,
-- then mailed by the node. A queued conversation is taken by the agent who answers it (as
-- accept does); a closed one stays closed until the visitor writes back. A resend with the same
-- cmid answers duplicate and, unless the mail went out, hands back what to mail again with the
-- same Message-ID. The visitor's address is the one they gave (identify, the message form).
--! uses: prelude webhook

local cid, agent, cmid, text, message_id, now = ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6], tonumber(ARGV[7])
local history_max, sender = tonumber(ARGV[8]), ARGV[9]
local ckey = p .. 'conv:' .. cid
local mkey = ckey .. ':meta'
local meta = redis.call('HMGET', mkey, 'state', 'agent', 'visitor', 'first_response', 'mail_subject', 'mail_last_in')
if not meta[1] then return redis.error_reply('not_found no such conversation') end
if meta[1] == 'active' and meta[2] ~= agent then return redis.error_reply('forbidden another agent has this conversation') end
local vid = meta[3]
local v = redis.call('HMGET', p .. 'visitor:' .. vid, 'email', 'lang', 'site', 'created')
if not v[4] then return redis.error_reply('not_found no such conversation (erased)') end
if not v[1] or v[1] == '' then return redis.error_reply('wrong_state the visitor gave no email address') end
local id, duplicate, sent = redis.call('HGET', ckey .. ':cmids', cmid), 0, 0
if id then
  duplicate = 1
  local out = redis.call('HGET', ckey .. ':mail_out', id)
  if not out then return redis.error_reply('wrong_state that cmid was a chat message, not an email') end
  local stored, status = string.match(out, '^(%S+) (%S+)$')
  message_id = '<' .. stored .. '>'
  if status == 'sent' then sent = 1 end
else
  if meta[1] == 'queued' then
    redis.call('HSET', mkey, 'state', 'active', 'agent', agent, 'accepted', now)
    queue_leave(cid)
    redis.call('SADD', p .. 'agent:' .. agent .. ':convs', cid)
    bus(vid, agent, 0, conversation_frame(cid, 'active', agent))
    bus('-', '-', 1, cjson.encode({type = 'queue_remove', conversation = cid, reason = 'accepted', agent = agent}))
    queue_changed()
  end
  local bare = string.match(message_id, '^<(.+)>$')
  id = redis.call('XADD', ckey, '*', 'from', 'agent', 'author', agent, 'cmid', cmid, 'text', text, 'channel', 'email',
                  'mail_to', v[1])
  redis.call('HSET', ckey .. ':cmids', cmid, id)
  redis.call('HSET', ckey .. ':mail_out', id, bare .. ' pending')
  redis.call('SADD', ckey .. ':mail_ids', bare)
  if not meta[4] then
    redis.call('HSET', mkey, 'first_response', string.match(id, '^(%d+)'), 'first_response_channel', 'email')
  end
  redis.call('HSET', mkey, 'last_channel', 'email')
  bus_except(sender, vid, agent, cjson.encode({type = 'message', conversation = cid, id = id, cmid = cmid, from = 'agent',
    author = agent, text = text, ts = stamp(id), channel = 'email', mail_to = v[1]}))
  webhook(vid, 'message', {conversation = cid, message = {id = id, from = 'agent', author = agent, text = text,
          ts = stamp(id), channel = 'email'}})
end
-- what the mail quotes: the last messages before this one that the visitor saw said
local history = {}
for _, e in ipairs(redis.call('XREVRANGE', ckey, '(' .. id, '-', 'COUNT', history_max * 4)) do
  local m = {}
  for j = 1, #e[2], 2 do m[e[2][j]] = e[2][j + 1] end
  if m.from == 'visitor' or m.from == 'agent' then
    table.insert(history, 1, {from = m.from, author = m.author, text = m.text, ts = stamp(e[1])})
    if #history >= history_max then break end
  end
end
return {cid, id, duplicate, sent, v[1], v[2] or '', v[3] or '', meta[5] or '', message_id, meta[6] or '',
        #history > 0 and cjson.encode(history) or '[]'}
