-- ARGV: prefix, conversation, thread_id (our Message-ID it answered; "" when its reply token
--       named the conversation), message_key (its Message-ID, or a digest), sender, sender_name,
--       subject, text, original ("" = the text), attachments_json ("" = none), now, per_hour,
--       hour, preview_bytes, files_json ([{file, hook, sha256}]: its attachments checked and
--       stored already, mail/mail_files.h; "" = none), per_conversation (files a conversation takes)
-- -> {conversation, id, duplicate, reopened, unkept_json (the ids of the files it did not keep: the
-- node removes their bytes)}, or not_found / rate_limited (the node removes every file's bytes)
--
-- A visitor's reply by email (mail/mail_inbound.h judged it first): stored once per Message-ID
-- as a visitor message of channel `email`, pushed to the visitor's sockets and to the agent
-- (every agent, while it waits in the queue). A closed conversation is reopened into the queue
-- as a new round (state queued, created now, the last round's agent, times and fact row
-- cleared; its keys no longer expire): whoever is on duty answers, with the whole history in
-- front of them. The visitor's open chat, if another one is open, stays theirs. A conversation
-- still in a quick-reply flow is handed off by the mail as by a typed message (flow_run.lua):
-- a person writes, so a person answers.
-- Its files follow the text as the visitor's file messages, as an upload's (file_message.lua),
-- while the conversation has room for them (per_conversation; the rest are listed refused, with
-- why, in the text's `attachments` beside those the node refused). A mail whose files are all it
-- has, every one kept, is its file messages alone; the Message-ID then names the first.
--! uses: prelude webhook routing flow_run files

local cid, thread_id, key, sender, sender_name = ARGV[2], ARGV[3], ARGV[4], string.lower(ARGV[5]), ARGV[6]
local subject, text, original, attachments = ARGV[7], ARGV[8], ARGV[9], ARGV[10]
local now, per_hour, hour, preview_bytes = tonumber(ARGV[11]), tonumber(ARGV[12]), ARGV[13], tonumber(ARGV[14])
local files, per_conversation = ARGV[15] ~= '' and cjson.decode(ARGV[15]) or {}, tonumber(ARGV[16]) or 0
local function ids_json(list)
  local ids = {}
  for _, x in ipairs(list) do ids[#ids + 1] = x.file.id end
  return #ids > 0 and cjson.encode(ids) or '[]'
end
local ckey = p .. 'conv:' .. cid
local mkey = ckey .. ':meta'
local meta = redis.call('HMGET', mkey, 'state', 'visitor', 'agent')
if not meta[1] then return redis.error_reply('not_found no such conversation') end
-- threaded by its headers: only by a Message-ID this conversation gave out
if thread_id ~= '' and redis.call('SISMEMBER', ckey .. ':mail_ids', thread_id) == 0 then
  return redis.error_reply('not_found no conversation: the mail answers no mail of ours')
end
local vid = meta[2]
local vkey = p .. 'visitor:' .. vid
if redis.call('EXISTS', vkey) == 0 then return redis.error_reply('not_found no such conversation (erased)') end
local seen = redis.call('HGET', ckey .. ':mail_in', key)
if seen then return {cid, seen, 1, 0, ids_json(files)} end
local rate_key = p .. 'mail:rate:' .. redis.sha1hex(sender) .. ':' .. hour  -- no address in a key name
local count = redis.call('INCR', rate_key)
if count == 1 then redis.call('EXPIRE', rate_key, 3600) end
if count > per_hour then
  return redis.error_reply('rate_limited too many mails from this sender in an hour; try again later')
end
local reopened = 0
if meta[1] == 'closed' then
  reopened = 1
  redis.call('HDEL', mkey, 'agent', 'accepted', 'first_response', 'first_response_channel', 'closed', 'closed_by',
             'svc_row', 'rating', 'rating_comment', 'rated')
  redis.call('HSET', mkey, 'state', 'queued', 'created', now, 'reopened', now,
             'preview', string.sub(text, 1, preview_bytes))
  for _, k in ipairs({ckey, mkey, ckey .. ':cmids', ckey .. ':mail_in', ckey .. ':mail_out', ckey .. ':mail_ids',
                      ckey .. ':files'}) do
    redis.call('PERSIST', k)
  end
  if not redis.call('HGET', vkey, 'conv') then
    redis.call('HSET', vkey, 'conv', cid, 'last_chat', now)
    profile_changed(vkey)
  end
  queue_enter(cid, now)
  route_enter(cid, vid, now)
  -- nobody is told "we'll be right with you": the auto-acknowledgement is for the widget
  redis.call('ZREM', p .. 'queue:to_ack', cid)
  redis.call('ZREM', p .. 'queue:to_offer', cid)
end
if meta[1] == 'flow' then flow_handoff(cid, vid, now, string.sub(text, 1, preview_bytes)) end
local kept, unkept = {}, {}
if #files > 0 then
  local list = attachments ~= '' and cjson.decode(attachments) or {}
  local have = redis.call('SCARD', ckey .. ':files')
  for _, x in ipairs(files) do
    if have >= per_conversation then
      unkept[#unkept + 1] = x
      list[#list + 1] = {name = x.file.name, type = x.file.type, size = x.file.size,
                         refused = 'this conversation has ' .. per_conversation .. ' files already, the most it takes'}
    else
      have = have + 1
      kept[#kept + 1] = x
    end
  end
  attachments = #list > 0 and cjson.encode(list) or ''
end
-- who is told: the agent of the conversation (of the last round, when it came back), else every
-- agent while it waits in the queue (queue_add told them of a reopened one)
local agent = reopened == 1 and meta[3] or redis.call('HGET', mkey, 'agent')
local function push(frame)
  bus(vid, agent or '-', 0, frame)
  if not agent and reopened == 0 then bus('-', '-', 1, frame) end
end
if reopened == 1 then
  bus(vid, '-', 0, conversation_frame(cid, 'queued'))
  bus('-', '-', 1, cjson.encode({type = 'queue_add', conversation = {id = cid, visitor = vid, created = now,
      preview = string.sub(text, 1, preview_bytes), channel = 'email'}}))
  queue_changed()
end
local first
if text ~= '' or attachments ~= '' or #kept == 0 then
  local fields = {'from', 'visitor', 'author', vid, 'cmid', '', 'text', text, 'channel', 'email', 'email_from', sender,
                  'subject', subject}
  if sender_name ~= '' then fields[#fields + 1] = 'email_name'; fields[#fields + 1] = sender_name end
  if original ~= '' then fields[#fields + 1] = 'original'; fields[#fields + 1] = original end
  if attachments ~= '' then fields[#fields + 1] = 'attachments'; fields[#fields + 1] = attachments end
  first = redis.call('XADD', ckey, '*', unpack(fields))
  push(cjson.encode({type = 'message', conversation = cid, id = first, from = 'visitor', author = vid, text = text,
       ts = stamp(first), channel = 'email', email_from = sender, email_name = sender_name ~= '' and sender_name or nil,
       subject = subject, original = original ~= '' and original or nil,
       attachments = attachments ~= '' and cjson.decode(attachments) or nil}))
  webhook(vid, 'message', {conversation = cid, message = {id = first, from = 'visitor', author = vid, text = text,
          ts = stamp(first), channel = 'email'}})
end
for _, x in ipairs(kept) do
  local file = file_of_message(x.file, cjson.encode(x.file), x.hook)
  local id, frame = append(cid, 'visitor', vid, '', x.file.name, file)
  file_record(cid, x.file, file, now, x.sha256)
  first = first or id
  push(frame)
  webhook(vid, 'message', {conversation = cid, message = {id = id, from = 'visitor', author = vid, text = x.file.name,
          ts = stamp(id), channel = 'email', file = x.hook}})
end
redis.call('HSET', ckey .. ':mail_in', key, first)
redis.call('HSET', mkey, 'last_channel', 'email', 'mail_subject', subject)
-- the agent's answer says In-Reply-To this one (a digest is no Message-ID)
if string.sub(key, 1, 7) ~= 'sha256:' then redis.call('HSET', mkey, 'mail_last_in', key) end
return {cid, first, 0, reopened, ids_json(unkept)}
