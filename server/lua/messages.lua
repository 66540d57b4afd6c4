-- ARGV: prefix (of the slot every message's conversation is in), now, agents online (the node's
-- count from the global slot: the expected wait told when a message opens a chat), then 7
-- values per message: kind (visitor, agent or note), author (the
-- visitor's id or the agent's name), conversation (for a visitor a fresh id, used should the
-- message open one), cmid, text, preview_bytes (a visitor's: how much of text the queue shows),
-- sender (node:connection)
-- -> one element per message, in their order: {conversation, id, duplicate, opened}, or that
-- message's refusal as an error reply ("code message")
--
-- The messages that reach a node together come in one call (chat/message_batch.c):
-- what a script call costs Redis by itself (the call, its arguments, its effects wrapped in
-- MULTI/EXEC for the AOF) is paid once for all of them. A refusal is a value, that message's
-- answer alone. An error Redis raises (READONLY after a failover, OOM) ends the call: it is
-- storage trouble, which the node answers unavailable to every message of the batch (store.c
-- sees it and remakes its link), and the clients resend with their cmids. Messages are stored
-- in the order given, so each socket's messages keep the order they were sent in.
--! uses: prelude webhook visitor_promises routing flow_run message_visitor message_agent message_note

-- What every message of the batch shares: the time, its day (the cmid tables' expiry, in
-- message_visitor.lua), and whether any site has a webhook (one SCARD for the batch).
local now = tonumber(ARGV[2])
agents_online = tonumber(ARGV[3]) or 0
local batch = {now = now, day = tostring(math.floor(now / 86400000)), hooks = redis.call('SCARD', p .. 'hooks:sites') > 0}
local kinds = {visitor = message_visitor, agent = message_agent, note = message_note}
local results = {}
for i = 4, #ARGV - 6, 7 do
  local store = kinds[ARGV[i]]
  if store then
    results[#results + 1] = store(batch, ARGV[i + 1], ARGV[i + 2], ARGV[i + 3], ARGV[i + 4], tonumber(ARGV[i + 5]),
                                  ARGV[i + 6])
  else
    results[#results + 1] = redis.error_reply('bad_request no such kind of message')
  end
end
return results
