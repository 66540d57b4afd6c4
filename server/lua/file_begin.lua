-- ARGV: prefix, now, by (visitor, agent, admin, or email: a mail's attachments, mail/mail_files.h), who (the visitor's id or the agent's name),
-- conversation (an agent's: the one it names; a visitor's: ""), cmid, per_minute,
-- per_minute_address, address (the client's, as the node sees it), origin (a visitor's request's,
-- normalised: checked against the site's origins exactly like the socket's, visitor_hello.lua),
-- sites configured (1|0: the node's reading of the global slot; with none, any origin goes)
-- -> a JSON document: {"duplicate": {conversation, id, file}} when this cmid was stored before (a
-- retry: the node answers it without reading the body); else what the upload is checked against:
-- {conversation (the visitor's open one, or the agent's; null), site, visitors (may
-- visitors send files), types (null: the defaults), max_bytes, per_conversation (null: the
-- defaults), files (the conversation's so far)}. Refusals: invalid_token (an erased visitor),
-- not_found, wrong_state (closed), forbidden (not the agent's conversation), rate_limited.
-- Runs while the body is still arriving (the node streams it to a file meanwhile), so that an
-- upload to a conversation that is not the sender's, or one too many, is refused early.
-- Counting uploads per minute here counts attempts: a flood is refused whatever its files are.
-- By email: the conversation the mail threads to (who: the sender, cmid ""), its rules and
-- count only: no Origin, no per-minute count (the sender's hourly limit of mail applies, and
-- mail_inbound.lua checks the conversation itself).
--! uses: prelude visitor_promises files

local now, by, who, cid, cmid = tonumber(ARGV[2]), ARGV[3], ARGV[4], ARGV[5], ARGV[6]
local per_minute, per_address, address, origin = tonumber(ARGV[7]), tonumber(ARGV[8]), ARGV[9], ARGV[10]
local site
local function file_of(conversation, id)
  local entry = redis.call('XRANGE', p .. 'conv:' .. conversation, id, id)[1]
  for i = 1, entry and #entry[2] or 0, 2 do
    if entry[2][i] == 'file' then return cjson.decode(entry[2][i + 1]) end
  end
  return cjson.null
end
if by == 'email' then
  local vid = redis.call('HGET', p .. 'conv:' .. cid .. ':meta', 'visitor')
  if not vid then return redis.error_reply('not_found no such conversation') end
  site = redis.call('HGET', p .. 'visitor:' .. vid, 'site') or ''
elseif by == 'visitor' then
  local vkey = p .. 'visitor:' .. who
  local v = redis.call('HMGET', vkey, 'conv', 'created', 'site')
  if not v[2] and visitor_erased(vkey) then return redis.error_reply(erased_refusal) end
  local seen = redis.call('HGET', vkey .. ':cmids', cmid)
  if seen then
    local c, id = string.match(seen, '^(%S+) (%S+)$')
    return cjson.encode({duplicate = {conversation = c, id = id, file = file_of(c, id)}})
  end
  cid, site = v[1], v[3] or ''
else
  local meta = redis.call('HMGET', p .. 'conv:' .. cid .. ':meta', 'state', 'agent', 'visitor')
  if not meta[1] then return redis.error_reply('not_found no such conversation') end
  local seen = redis.call('HGET', p .. 'conv:' .. cid .. ':cmids', cmid)
  if seen then return cjson.encode({duplicate = {conversation = cid, id = seen, file = file_of(cid, seen)}}) end
  if meta[1] == 'closed' then return redis.error_reply('wrong_state the conversation is closed') end
  if by ~= 'admin' and (meta[1] ~= 'active' or meta[2] ~= who) then
    return redis.error_reply('forbidden accept the conversation first')
  end
  site = redis.call('HGET', p .. 'visitor:' .. meta[3], 'site') or ''
end
local minute = math.floor(now / 60000)
local function counted(key, limit)
  local n = redis.call('INCR', key)
  if n == 1 then redis.call('EXPIRE', key, 120) end
  return n > limit
end
if by ~= 'email' and counted(p .. 'files:rate:' .. by .. ':' .. who .. ':' .. minute, per_minute) then
  return redis.error_reply('rate_limited too many files this minute: wait a little')
end
if by == 'visitor' and counted(p .. 'files:rate:ip:' .. address .. ':' .. minute, per_address) then
  return redis.error_reply('rate_limited too many files from your address this minute: wait a little')
end
local s = redis.call('HMGET', p .. 'site:' .. site, 'origins', 'files_visitors', 'files_types', 'files_max_bytes',
                     'files_per_conversation')
if by == 'visitor' and (ARGV[11] == '1' or redis.call('SCARD', p .. 'sites') > 0) then
  local allowed = false
  for _, o in ipairs(cjson.decode(s[1] or '[]')) do
    if o == origin then allowed = true end
  end
  if not allowed then return redis.error_reply('forbidden this page\'s origin may not use the site ' .. site) end
end
return cjson.encode({conversation = cid or cjson.null, site = site,
  visitors = s[2] ~= '0', types = s[3] and cjson.decode(s[3]) or cjson.null,
  max_bytes = tonumber(s[4] or '') or cjson.null, per_conversation = tonumber(s[5] or '') or cjson.null,
  files = cid and redis.call('SCARD', p .. 'conv:' .. cid .. ':files') or 0})
