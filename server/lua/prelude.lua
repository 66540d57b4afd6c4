-- prelude.lua - what every script starts with: p, the key prefix (every script takes it as
-- ARGV[1]), and the helpers most of them need.
--
-- Why scripts: "check the cmid, then append", "check the state, then accept" and "store,
-- then notify" must each be atomic, across connections and across nodes. A script runs
-- alone in Redis, so two agents accepting at once, or one message resent on two sockets,
-- cannot interleave.
--
-- The bus: Redis 7's sharded pub/sub (SPUBLISH), one channel per recipient, named by
-- bus_channel alone (its twin on the nodes' side: chat_bus_channel, server/chat/bus.c):
-- p .. "to:v:VISITOR", "to:a:AGENT", "to:agents" (every agent), "to:nodes" (every node),
-- "to:node:NODE" (one node). A node subscribes only to the channels of the sockets it holds,
-- and to the nodes' two, so with N nodes none of them reads what is for the others.
-- A message is "SENDER FRAME": FRAME is the exact JSON text clients receive (nodes forward it
-- without parsing), or a message's compact record (append()), which each node makes into that
-- JSON frame once (server/chat/frames.c): building it is work that scales out with the nodes,
-- not with Redis. SENDER is "-", or "NODE:CONNECTION" when that connection sent the message
-- and has its ack already (bus_except: its node skips it, the sender's other sockets get it).
-- bus(visitor, agent, all, frame) publishes to the visitor's channel and to the agent's, or to
-- every agent's when all is 1 ("-": nobody); a node holding both gets it twice, once for each
-- socket. A message for the nodes themselves is "!what ARGUMENT" (bus_nodes, bus_node):
-- "!rules" (reload the rules), "!queue ORDER", "!hooks SITE" on to:nodes; "!ping" on a node's
-- own channel; "!forget" on a visitor's (an erased visitor) and "!logout" on an agent's.
--
-- Errors are returned as "code message", code being a protocol error code.
--
-- Slots (docs/architecture.md, "Redis keys"): p is the prefix of ONE slot, "bk:{TAG}:" (a site's
-- keys) or "bk:{g}:" (the global keys), and a script touches keys under p only: Redis Cluster
-- refuses any other. What a site's script needs from the global slot the node passes in:
-- agents_online (presence), set by the scripts that tell the queue's wait.

local p = ARGV[1]
local agents_online = 0
local function bus_channel(kind, id)
  return p .. 'to:' .. kind .. (id and (':' .. id) or '')
end
local function bus_send(sender, visitor, agent, all, frame)
  local message = sender .. ' ' .. frame
  if visitor ~= '-' then redis.call('SPUBLISH', bus_channel('v', visitor), message) end
  if all == 1 then redis.call('SPUBLISH', bus_channel('agents'), message)
  elseif agent ~= '-' then redis.call('SPUBLISH', bus_channel('a', agent), message) end
end
local function bus(visitor, agent, all, frame) bus_send('-', visitor, agent, all, frame) end
local function bus_except(sender, visitor, agent, frame) bus_send(sender, visitor, agent, 0, frame) end
local function bus_nodes(what) redis.call('SPUBLISH', bus_channel('nodes'), what) end
local function bus_node(kind, id, what) redis.call('SPUBLISH', bus_channel(kind, id), what) end
local function stamp(id) return tonumber(string.match(id, '^(%d+)')) end
-- Appends a message to its conversation: its stream id, and its push for the bus as a compact
-- record (the fields, the two that may hold anything with their length, the text last and raw).
-- A file's message (file: {id, type, size, width, height, thumb, json}, files.lua) keeps the
-- file's metadata in the entry's `file` (JSON) and goes as "~file", the file's fields before
-- the text (its name): the node adds the signed links (server/chat/frames.c).
local function append(cid, from, author, cmid, text, file)
  local head = cid .. ' '
  local id
  if file then
    id = redis.call('XADD', p .. 'conv:' .. cid, '*', 'from', from, 'author', author, 'cmid', cmid, 'text', text, 'file', file.json)
    head = '~file ' .. cid .. ' ' .. id .. ' ' .. from .. ' ' .. #author .. ' ' .. author .. ' ' .. #cmid .. ' ' .. cmid .. ' ' ..
           file.id .. ' ' .. file.type .. ' ' .. file.size .. ' ' .. file.width .. ' ' .. file.height .. ' ' .. file.thumb .. ' '
    return id, head .. text
  end
  id = redis.call('XADD', p .. 'conv:' .. cid, '*', 'from', from, 'author', author, 'cmid', cmid, 'text', text)
  return id, '~message ' .. cid .. ' ' .. id .. ' ' .. from .. ' ' .. #author .. ' ' .. author .. ' ' .. #cmid .. ' ' ..
             cmid .. ' ' .. text
end
local function profile(vid)
  local t, caps = {}, {}
  local flat = redis.call('HGETALL', p .. 'visitor:' .. vid)
  for i = 1, #flat, 2 do t[flat[i]] = flat[i + 1] end
  flat = redis.call('HGETALL', p .. 'visitor:' .. vid .. ':caps')
  for i = 1, #flat, 2 do caps[flat[i]] = flat[i + 1] end
  t.caps = caps
  return cjson.encode(t)
end
-- A node keeps each visitor socket's profile between events, and track.lua answers a page view
-- with what it changed only while the visitor's profile_rev is the one the node has. So every
-- script that changes what the rules read of a visitor, besides the page and the visit that
-- track.lua itself writes (site, lang, device, attrs, conv, chats, last_chat, consent,
-- inv_day, inv_today, last_dismissed, the caps), calls this in the same step.
local function profile_changed(vkey) redis.call('HINCRBY', vkey, 'profile_rev', 1) end
-- The agent of a visitor's open conversation is kept on the visitor's hash too, as `conv_agent`
-- ("CONVERSATION AGENT"), beside the meta's `agent`: a visitor's message reads it with the
-- visitor's conversation, one call instead of two (message_visitor.lua). Written wherever the
-- meta's agent is (accept.lua, transfer.lua), only while that conversation is the visitor's open
-- one; ended with `conv` (conversation_close.lua). A reader checks its conversation and reads
-- the meta when it is missing (a chat accepted before it existed) or of another conversation.
local function conv_agent_set(vid, cid, agent)
  local vkey = p .. 'visitor:' .. vid
  if redis.call('HGET', vkey, 'conv') == cid then redis.call('HSET', vkey, 'conv_agent', cid .. ' ' .. agent) end
end
local function online_agents(now)
  local seen, names = {}, {}
  for _, m in ipairs(redis.call('ZRANGEBYSCORE', p .. 'presence', now, '+inf')) do
    local name = string.match(m, '^(.-)@') or m
    if not seen[name] then seen[name] = true; names[#names + 1] = name end
  end
  return names
end
local function presence_drop(name)
  for _, m in ipairs(redis.call('ZRANGE', p .. 'presence', 0, -1)) do
    if m == name or string.sub(m, 1, #name + 1) == name .. '@' then redis.call('ZREM', p .. 'presence', m) end
  end
end
local function queue_wait_estimate(now)
  local waits, total = redis.call('LRANGE', p .. 'waits', 0, -1), 0
  for _, w in ipairs(waits) do total = total + tonumber(w) end
  return #waits > 0 and total / #waits or nil, agents_online
end
local function queue_changed() redis.call('INCR', p .. 'queue:version') end
local function queue_enter(cid, now)
  redis.call('ZADD', p .. 'queue', now, cid)
  redis.call('ZADD', p .. 'queue:to_ack', now, cid)
  redis.call('ZADD', p .. 'queue:to_offer', now, cid)
end
-- A conversation routed to a team (routing.lua) is also in its team's queue, and may be
-- offered to one agent: leaving the queue ends both (the meta's team_queue and offer).
local function queue_leave(cid)
  redis.call('ZREM', p .. 'queue:to_ack', cid)
  redis.call('ZREM', p .. 'queue:to_offer', cid)
  local mkey = p .. 'conv:' .. cid .. ':meta'
  local routed = redis.call('HMGET', mkey, 'team_queue', 'offer')
  if routed[1] then redis.call('ZREM', p .. routed[1], cid) end
  if routed[2] then
    redis.call('SREM', p .. 'agent:' .. routed[2] .. ':offered', cid)
    redis.call('ZREM', p .. 'offers:due', cid)
    redis.call('HDEL', mkey, 'offer', 'offer_deadline')
  end
  return redis.call('ZREM', p .. 'queue', cid)
end
-- A conversation of a team is told its place in its team's queue, and the team's agents
-- online (the slot's roster: routing.lua); any other its place in the slot's queue.
local function queue_tell(vid, cid, now)
  local meta = redis.call('HMGET', p .. 'conv:' .. cid .. ':meta', 'team_queue', 'team_online')
  local qkey = meta[1] and p .. meta[1] or p .. 'queue'
  local rank = redis.call('ZRANK', qkey, cid)
  if not rank then return end
  local avg, online = queue_wait_estimate(now)
  if meta[1] then online = tonumber(redis.call('HGET', p .. 'teams:online', meta[1]) or meta[2]) or 0 end
  local expected = cjson.null
  if avg and online > 0 then expected = math.floor(avg * (rank + 1) / online / 1000 + 0.5) end
  bus(vid, '-', 0, cjson.encode({type = 'queue_position', conversation = cid, position = rank + 1,
    waiting = redis.call('ZCARD', qkey), agents_online = online, expected_wait_seconds = expected}))
end
local function conversation_frame(cid, state, agent, closed_by)
  return cjson.encode({type = 'conversation', id = cid, state = state, agent = agent or cjson.null, closed_by = closed_by})
end
