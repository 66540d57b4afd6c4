-- An agent's note, one of a batch (messages.lua): for agents, stored in the conversation, never
-- sent to the visitor.
-- (batch, agent, conversation, cmid, text, preview_bytes, sender) -> {conversation, id, duplicate, 0}, or
-- the message's refusal
--! uses: prelude

local function message_note(batch, agent, cid, cmid, text, preview_bytes, sender)
  local ckey = p .. 'conv:' .. cid
  local owner = redis.call('HMGET', ckey .. ':meta', 'state', 'agent')
  if not owner[1] then return redis.error_reply('not_found no such conversation') end
  local seen = redis.call('HGET', ckey .. ':cmids', cmid)
  if seen then return {cid, seen, 1, 0} end
  local id, frame = append(cid, 'note', agent, cmid, text)
  redis.call('HSET', ckey .. ':cmids', cmid, id)
  bus_except(sender, '-', agent, frame)
  if owner[2] and owner[2] ~= agent then bus('-', owner[2], 0, frame) end
  return {cid, id, 0, 0}
end
