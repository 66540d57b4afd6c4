-- ARGV: prefix, visitor, conversation ("" = the last closed one), day, per_conversation,
--       per_day, max_messages, max_bytes
-- -> {conversation, site, lang, messages_json, cut}
-- Only the visitor's own closed conversation that an agent took part in; what the visitor saw
-- (no notes), oldest first, cut after max_messages or max_bytes of text. Each request counts
-- against both limits here, atomically; transcript_refund.lua gives it back when nothing was sent.
--! uses: prelude visitor_promises

local vid, cid, day = ARGV[2], ARGV[3], ARGV[4]
local per_conv, per_day, max_count, max_bytes = tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7]), tonumber(ARGV[8])
local vkey = p .. 'visitor:' .. vid
if visitor_erased(vkey) then return redis.error_reply(erased_refusal) end
if cid == '' then cid = redis.call('HGET', vkey, 'last_conv') end
if not cid then return redis.error_reply('not_found no closed conversation to send') end
local mkey = p .. 'conv:' .. cid .. ':meta'
local meta = redis.call('HMGET', mkey, 'state', 'visitor', 'accepted', 'transcripts')
if meta[2] ~= vid then return redis.error_reply('not_found no such conversation') end
if meta[1] ~= 'closed' then return redis.error_reply('wrong_state only a closed conversation can be sent') end
if not meta[3] then return redis.error_reply('wrong_state no agent took part in this conversation') end
if tonumber(meta[4] or '0') >= per_conv then
  return redis.error_reply('rate_limited this conversation was sent ' .. per_conv .. ' times already')
end
local h = redis.call('HMGET', vkey, 'mail_day', 'mail_today', 'site', 'lang')
local today = h[1] == day and tonumber(h[2] or '0') or 0
if today >= per_day then return redis.error_reply('rate_limited at most ' .. per_day .. ' transcripts a day') end
local out, bytes, cut = {}, 0, 0
local entries = redis.call('XRANGE', p .. 'conv:' .. cid, '-', '+', 'COUNT', max_count + 1)
-- more entries than were read (notes among them or not): the transcript says it stops early
if #entries > max_count then cut = 1 end
for _, e in ipairs(entries) do
  local m = {}
  for j = 1, #e[2], 2 do m[e[2][j]] = e[2][j + 1] end
  if m.from ~= 'note' then
    bytes = bytes + #(m.text or '') + #(m.author or '')
    if #out >= max_count or bytes > max_bytes then cut = 1; break end
    out[#out + 1] = {from = m.from, author = m.author or '', text = m.text or '', ts = stamp(e[1]),
                     file = m.file and cjson.decode(m.file) or nil}
  end
end
redis.call('HINCRBY', mkey, 'transcripts', 1)
redis.call('HSET', vkey, 'mail_day', day, 'mail_today', today + 1)
return {cid, h[3] or '', h[4] or '', #out > 0 and cjson.encode(out) or '[]', cut}
