-- ARGV: prefix (the global slot), session digest, now, presence_ttl_ms, node
-- -> {agent, '{"status":…,"agents_online":N}'}
-- The global half of an agent's hello: who the session is, and the agent counted online. Its
-- conversations and the queue are in the sites' slots: agent_lists.lua, once per slot.
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
return {agent, '{"status":' .. cjson.encode(status) .. ',"agents_online":' .. #online_agents(now) .. '}'}
