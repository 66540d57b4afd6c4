-- ARGV: prefix, session digest, now, presence_ttl_ms, node -> {agent, welcome_json}
-- Presence has one entry per agent and node ("alice@n_3f…"): an agent with tabs on two nodes
-- stays online when one of them closes. Counting is by distinct name (online_agents).
--! uses: prelude

local now = tonumber(ARGV[3])
local agent = redis.call('GET', p .. 'session:' .. ARGV[2])
if not agent or redis.call('EXISTS', p .. 'agent:' .. agent) == 0 then
  return redis.error_reply('unauthorized unknown or expired session token')
end
local status = redis.call('HGET', p .. 'agent:' .. agent, 'status') or 'online'
if status ~= 'away' then redis.call('ZADD', p .. 'presence', now + tonumber(ARGV[4]), agent .. '@' .. ARGV[5]) end
local queue = {}
local waiting = redis.call('ZRANGE', p .. 'queue', 0, 199)
for _, cid in ipairs(waiting) do
  local m = redis.call('HMGET', p .. 'conv:' .. cid .. ':meta', 'visitor', 'created', 'preview', 'rule')
  queue[#queue + 1] = {id = cid, visitor = m[1], created = tonumber(m[2]), preview = m[3], rule = m[4] or nil}
end
local mine = {}
for _, cid in ipairs(redis.call('SMEMBERS', p .. 'agent:' .. agent .. ':convs')) do
  local m = redis.call('HMGET', p .. 'conv:' .. cid .. ':meta', 'visitor', 'state', 'created')
  mine[#mine + 1] = {id = cid, visitor = m[1], state = m[2], created = tonumber(m[3])}
end
return {agent, '{"status":' .. cjson.encode(status) .. ',"queue":' .. (#queue > 0 and cjson.encode(queue) or '[]') ..
               ',"conversations":' .. (#mine > 0 and cjson.encode(mine) or '[]') .. '}'}
