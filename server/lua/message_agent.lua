-- An agent's message, one of a batch (messages.lua). The first agent message sets the meta's
-- first_response (ms, its stream id's): notes, system messages and an invitation's opening
-- text are not answers. The meta's one HMGET reads it too, so later messages write nothing
-- there.
-- (batch, agent, conversation, cmid, text, preview_bytes, sender, file) -> {conversation, id,
-- duplicate, 0}, or the message's refusal (file: as in message_visitor.lua)
--! uses: prelude webhook

local function message_agent(batch, agent, cid, cmid, text, preview_bytes, sender, file)
  local ckey = p .. 'conv:' .. cid
  local meta = redis.call('HMGET', ckey .. ':meta', 'state', 'agent', 'visitor', 'first_response')
  if not meta[1] then return redis.error_reply('not_found no such conversation') end
  if meta[1] == 'closed' then return redis.error_reply('wrong_state the conversation is closed') end
  -- batch.any_agent: an admin's file (file_message.lua) may go into any open conversation
  if not batch.any_agent and (meta[1] ~= 'active' or meta[2] ~= agent) then return redis.error_reply('forbidden accept the conversation first') end
  local seen = redis.call('HGET', ckey .. ':cmids', cmid)
  if seen then return {cid, seen, 1, 0} end
  local id, frame = append(cid, 'agent', agent, cmid, text, file)
  redis.call('HSET', ckey .. ':cmids', cmid, id)
  if not meta[4] then redis.call('HSET', ckey .. ':meta', 'first_response', string.match(id, '^(%d+)')) end
  bus_except(sender, meta[3], agent, frame)
  if batch.any_agent and meta[2] and meta[2] ~= agent then bus('-', meta[2], 0, frame) end
  if batch.hooks then
    webhook(meta[3], 'message', {conversation = cid, message = {id = id, from = 'agent', author = agent, text = text, ts = stamp(id),
      file = file and file.hook or nil}})
  end
  return {cid, id, 0, 0}
end
