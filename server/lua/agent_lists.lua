-- ARGV: prefix (a site's slot), agent -> '{"queue":[…],"conversations":[…]}'
-- The slot's half of an agent's hello (agent_hello.lua is the global one): the first 200 waiting
-- conversations and the agent's own; the node merges the slots' lists (chat/hello.c).
--! uses: prelude
--! flags: no-writes

local agent = ARGV[2]
local queue = {}
local waiting = redis.call('ZRANGE', p .. 'queue', 0, 199)
for _, cid in ipairs(waiting) do
  local m = redis.call('HMGET', p .. 'conv:' .. cid .. ':meta', 'visitor', 'created', 'preview', 'rule', 'flow_path')
  -- the path a quick-reply flow took before it handed the chat off, as queue_add carried it
  local path = m[5] and m[5] ~= '[]' and cjson.decode(m[5]) or nil
  queue[#queue + 1] = {id = cid, visitor = m[1], created = tonumber(m[2]), preview = m[3], rule = m[4] or nil, flow = path}
end
local mine = {}
for _, cid in ipairs(redis.call('SMEMBERS', p .. 'agent:' .. agent .. ':convs')) do
  local m = redis.call('HMGET', p .. 'conv:' .. cid .. ':meta', 'visitor', 'state', 'created')
  mine[#mine + 1] = {id = cid, visitor = m[1], state = m[2], created = tonumber(m[3])}
end
return '{"queue":' .. (#queue > 0 and cjson.encode(queue) or '[]') ..
       ',"conversations":' .. (#mine > 0 and cjson.encode(mine) or '[]') .. '}'
