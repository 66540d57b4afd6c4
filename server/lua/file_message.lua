-- ARGV: prefix, now, agents online, by (visitor, agent or admin), who (the visitor's id or the
-- agent's name), conversation (an agent's: the one it names; a visitor's: a fresh id, should the
-- file open one), cmid, name, file_json (what the stream keeps: {id, name, type, size, width?,
-- height?, thumb?}), hook_json (what webhooks get: the same with signed links), preview_bytes,
-- per_conversation, sha256 (of the upload as it was sent: kept with the file, e.g. to answer
-- "is this the file I sent?")
-- -> {conversation, id, duplicate, opened, file_json}: the message of a file, stored like any
-- message (message_visitor.lua, message_agent.lua: the cmid, a conversation opened, the push, the
-- webhook), and the file recorded in the conversation (files.lua). A duplicate (the cmid seen)
-- answers the first message and its file: the node then drops the bytes it stored for the retry.
-- Refusals as a message's, and rate_limited when the conversation has per_conversation files.
--! uses: prelude webhook visitor_promises routing flow_run message_visitor message_agent files

local now, by, who, cid, cmid, name = tonumber(ARGV[2]), ARGV[4], ARGV[5], ARGV[6], ARGV[7], ARGV[8]
local file_json, preview_bytes, per_conversation = ARGV[9], tonumber(ARGV[11]), tonumber(ARGV[12])
agents_online = tonumber(ARGV[3]) or 0
local f = cjson.decode(file_json)
local file = file_of_message(f, file_json, cjson.decode(ARGV[10]))
local batch = {now = now, day = tostring(math.floor(now / 86400000)), hooks = redis.call('SCARD', p .. 'hooks:sites') > 0,
               any_agent = by == 'admin'}
local target = cid
if by == 'visitor' then target = redis.call('HGET', p .. 'visitor:' .. who, 'conv') end
if target and redis.call('SCARD', p .. 'conv:' .. target .. ':files') >= per_conversation then
  -- a retry of a file already stored is its answer, not a refusal
  local seen = by == 'visitor' and redis.call('HGET', p .. 'visitor:' .. who .. ':cmids', cmid)
               or redis.call('HGET', p .. 'conv:' .. target .. ':cmids', cmid)
  if not seen then
    return redis.error_reply('rate_limited this conversation has ' .. per_conversation .. ' files already, the most it takes')
  end
end
local r
if by == 'visitor' then
  r = message_visitor(batch, who, cid, cmid, name, preview_bytes, '-', file)
else
  r = message_agent(batch, who, cid, cmid, name, preview_bytes, '-', file)
end
if r.err then return r end
if r[3] == 1 then
  local entry = redis.call('XRANGE', p .. 'conv:' .. r[1], r[2], r[2])[1]
  local stored = ''
  for i = 1, entry and #entry[2] or 0, 2 do
    if entry[2][i] == 'file' then stored = entry[2][i + 1] end
  end
  return {r[1], r[2], 1, 0, stored}
end
file_record(r[1], f, file, now, ARGV[13])
return {r[1], r[2], 0, r[4], file_json}
