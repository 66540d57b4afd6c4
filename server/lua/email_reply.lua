-- ARGV: prefix, conversation, agent, cmid, text, id_random, id_domain (the mail's Message-ID is
--       <bk.CONVERSATION.RANDOM@DOMAIN>, mail/mail_thread.h), now, history_max, sender
--       (node:connection), left, visitor (a left message answered: its id and visitor; else "")
-- -> {conversation, id, duplicate, mail_sent, email, lang, site, subject, message_id,
--     in_reply_to, history_json}, or not_found / forbidden / wrong_state
--
-- An agent's answer by email (chat/email_reply.c): stored as the agent's message of channel
-- `email` (once per cmid, as every message), the Message-ID of its mail stored for threading,
-- then mailed by the node. A queued conversation is taken by the agent who answers it (as
-- accept does); a closed one stays closed until the visitor writes back. A resend with the same
-- cmid answers duplicate and, unless the mail went out, hands back what to mail again with the
-- same Message-ID. The visitor's address is the one they gave (identify, the message form).
-- A message left while nobody was online becomes a conversation when it is first answered
-- (conversation is the id to give it): active with the agent, the left text as its first
-- visitor message, mailed to the address typed with it; left:answered keeps which, so later
-- answers go on in it. A conversation still in a quick-reply flow (no agent sees it yet) is
-- handed off as the flow's hand-off does (flow_run.lua: queued, with its path) and then taken
-- like a queued one: the agent who answers by email has accepted it.
--! uses: prelude webhook routing flow_run

local cid, agent, cmid, text, id_random, id_domain = ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6], ARGV[7]
local now, history_max, sender, left, left_visitor = tonumber(ARGV[8]), tonumber(ARGV[9]), ARGV[10], ARGV[11], ARGV[12]
if left ~= '' then
  local answered = redis.call('HGET', p .. 'left:answered', left)
  if answered then
    cid = answered
  else
    local e = redis.call('XRANGE', p .. 'left', left, left)[1]
    local m = {}
    for j = 1, e and #e[2] or 0, 2 do m[e[2][j]] = e[2][j + 1] end
    if not e or m.visitor ~= left_visitor then return redis.error_reply('not_found no such left message') end
    local vkey = p .. 'visitor:' .. m.visitor
    if redis.call('EXISTS', vkey) == 0 then return redis.error_reply('not_found no such left message (erased)') end
    local mkey = p .. 'conv:' .. cid .. ':meta'
    redis.call('HSET', mkey, 'state', 'active', 'visitor', m.visitor, 'agent', agent, 'created', stamp(left),
               'accepted', now, 'email', m.email, 'left', left, 'preview', string.sub(m.text, 1, 140))
    redis.call('RPUSH', vkey .. ':convs', cid)
    redis.call('SADD', p .. 'agent:' .. agent .. ':convs', cid)
    redis.call('XADD', p .. 'conv:' .. cid, '*', 'from', 'visitor', 'author', m.visitor, 'cmid', '', 'text', m.text,
               'left', left)
    redis.call('HSET', p .. 'left:answered', left, cid)
    bus('-', agent, 0, conversation_frame(cid, 'active', agent))
  end
end
local message_id = '<bk.' .. cid .. '.' .. id_random .. '@' .. id_domain .. '>'
local ckey = p .. 'conv:' .. cid
local mkey = ckey .. ':meta'
local meta = redis.call('HMGET', mkey, 'state', 'agent', 'visitor', 'first_response', 'mail_subject', 'mail_last_in',
                        'email')
if not meta[1] then return redis.error_reply('not_found no such conversation') end
if meta[1] == 'active' and meta[2] ~= agent then return redis.error_reply('forbidden another agent has this conversation') end
local vid = meta[3]
local v = redis.call('HMGET', p .. 'visitor:' .. vid, 'email', 'lang', 'site', 'created')
if not v[4] then return redis.error_reply('not_found no such conversation (erased)') end
if meta[7] then v[1] = meta[7] end  -- a left message's own address
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
  if meta[1] == 'flow' then
    flow_handoff(cid, vid, now, '')
    meta[1] = 'queued'
  end
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
