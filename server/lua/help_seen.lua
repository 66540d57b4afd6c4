-- ARGV: prefix, visitor, entry_json ({"id","title","how","ts"}), now, helped_suggestion ("1": the
-- visitor said a suggested article helped) -> 1
-- What the visitor saw of the help (the last 10), for the agent beside the chat (visitor_details),
-- and a suggestion that helped, for the chats avoided (help_avoided.lua).
--! uses: prelude

local SEEN_KEPT = 10
local vkey = p .. 'visitor:' .. ARGV[2]
if redis.call('EXISTS', vkey) == 0 then return 0 end
local seen = cjson.decode(redis.call('HGET', vkey, 'help_seen') or '[]')
local entry = cjson.decode(ARGV[3])
for i = #seen, 1, -1 do
  if seen[i].id == entry.id and seen[i].how == entry.how then table.remove(seen, i) end
end
seen[#seen + 1] = entry
while #seen > SEEN_KEPT do table.remove(seen, 1) end
redis.call('HSET', vkey, 'help_seen', cjson.encode(seen))
if ARGV[5] == '1' then redis.call('ZADD', p .. 'help:avoid', 'NX', ARGV[4], ARGV[2]) end
return 1
