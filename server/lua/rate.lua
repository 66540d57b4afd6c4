-- ARGV: prefix, visitor, conversation ("" = the last closed one), score, comment, now, day -> 1
-- The rating also goes into the conversation's fact row (a re-rating replaces it).
--! uses: prelude webhook

local vid, cid = ARGV[2], ARGV[3]
if cid == '' then cid = redis.call('HGET', p .. 'visitor:' .. vid, 'last_conv') end
if not cid then return redis.error_reply('not_found no closed conversation to rate') end
local mkey = p .. 'conv:' .. cid .. ':meta'
local meta = redis.call('HMGET', mkey, 'state', 'visitor', 'agent', 'rule', 'rating')
if meta[2] ~= vid then return redis.error_reply('not_found no such conversation') end
if meta[1] ~= 'closed' then return redis.error_reply('wrong_state only a closed conversation can be rated') end
redis.call('HSET', mkey, 'rating', ARGV[4], 'rating_comment', ARGV[5], 'rated', ARGV[6])
local sday, seq = string.match(redis.call('HGET', mkey, 'svc_row') or '', '^(%d+):(%d+)$')
local row = sday and redis.call('HGET', p .. 'svc:' .. sday, seq)
if row then
  redis.call('HSET', p .. 'svc:' .. sday, seq, (string.gsub(row, '"rating":[%dnul]+', '"rating":' .. string.match(ARGV[4], '^%d+$'))))
end
if meta[4] and not meta[5] then
  redis.call('HINCRBY', p .. 'stats:rules:' .. ARGV[7], meta[4] .. ':ratings', 1)
  redis.call('HINCRBY', p .. 'stats:rules:' .. ARGV[7], meta[4] .. ':rating_sum', ARGV[4])
end
webhook(vid, 'conversation.rated', {conversation = cid, agent = meta[3] or nil, rating = tonumber(ARGV[4]), comment = ARGV[5]})
if meta[3] then bus('-', meta[3], 0, cjson.encode({type = 'rating', conversation = cid, score = tonumber(ARGV[4]), comment = ARGV[5]})) end
return 1
