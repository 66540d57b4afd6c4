-- ARGV: prefix (the visitor's slot), action (start | choose | email), visitor, now, (unused),
--       open (1: the site is within its hours or keeps none, 0: closed), agents
--       online, flow (the site's flow JSON, validated by flows/flow.c; "" = none), site, then
--       start: a fresh conversation id; choose: the flow message's id, the button's id;
--       email: the flow message's id, the address (checked by the node)
--       -> {conversation, duplicate (1|0)}
-- start: the visitor's open conversation is answered as it is (duplicate 1); else, with a
-- flow, a conversation in the state 'flow' opens and the start step is said.
-- choose: only a button of the conversation's last flow message; the same choice again (a
-- resend, another tab) answers duplicate 1 and changes nothing (the choice is stored as the
-- visitor's message with the cmid "flow:MESSAGE", and a visitor's cmids are kept 7 days).
-- The label is stored as the visitor's message, then the next step is said: its buttons, an
-- answer (end: completed), or a hand-off (queued; outside hours, with the flow's closed text
-- asking for an email instead when it says collect_email).
-- email: the address is left like leave_message.lua leaves one (the `left` stream, every
-- agent's left_message, the webhook), with the path as its text.
--! uses: prelude webhook visitor_promises routing flow_run

local action, vid, now, open = ARGV[2], ARGV[3], tonumber(ARGV[4]), ARGV[6] == '1'
agents_online = tonumber(ARGV[7]) or 0
local site = ARGV[9]
local vkey = p .. 'visitor:' .. vid
local v = redis.call('HMGET', vkey, 'conv', 'created', 'flow')
if not v[2] and visitor_erased(vkey) then return redis.error_reply(erased_refusal) end
local flow = ARGV[8] ~= '' and cjson.decode(ARGV[8]) or nil

local function say_step(cid, name)
  local mkey = p .. 'conv:' .. cid .. ':meta'
  local step = flow and flow.steps[name]
  if not step then  -- the flow changed under the visitor: a person takes over
    flow_handoff(cid, vid, now, '')
    return
  end
  redis.call('HSET', mkey, 'flow_step', name)
  if step.handoff and not open and flow.closed and flow.closed.collect_email ~= false then
    flow_say(cid, vid, step.text, {article = step.article, link = step.link})
    flow_say(cid, vid, flow.closed.text, {email = true})
    return
  end
  flow_say(cid, vid, step.text, {buttons = step.buttons, article = step.article, link = step.link})
  if step['end'] then flow_count(site, now, 'completed')
  elseif step.handoff then
    -- a hand-off step's team, if the site has it, takes the chat (routing.lua, route_enter)
    if step.team and redis.call('HEXISTS', p .. 'teams:' .. site, step.team) == 1 then
      redis.call('HSET', vkey, 'team', step.team)
    end
    flow_handoff(cid, vid, now, '')
  end
end

if action == 'start' then
  if v[1] then return {v[1], 1} end
  if not flow or flow.enabled == false then return redis.error_reply('not_found this site has no flow') end
  local cid = ARGV[10]
  redis.call('HSET', p .. 'conv:' .. cid .. ':meta', 'state', 'flow', 'visitor', vid, 'created', now, 'flow_site', site,
             'flow_path', '[]', 'flow_msg', '')
  redis.call('HSET', vkey, 'conv', cid, 'flow', cid)
  profile_changed(vkey)
  redis.call('RPUSH', vkey .. ':convs', cid)
  flow_count(site, now, 'started')
  bus(vid, '-', 0, conversation_frame(cid, 'flow'))
  say_step(cid, flow.start)
  return {cid, 0}
end

local msg = ARGV[10]
local cid = v[1]
local ckey = vkey .. ':cmids'
local seen = redis.call('HGET', ckey, action .. ':' .. msg)
if seen then return {string.match(seen, '^(%S+)'), 1} end
if not cid or v[3] ~= cid then return redis.error_reply('wrong_state no flow is running in this conversation') end
local mkey = p .. 'conv:' .. cid .. ':meta'
local meta = redis.call('HMGET', mkey, 'flow_msg', 'flow_buttons', 'flow_path', 'flow_email')

local function visitor_says(text, cmid)
  local id, frame = append(cid, 'visitor', vid, cmid, text)
  redis.call('HSET', ckey, cmid, cid .. ' ' .. id)
  redis.call('EXPIRE', ckey, 691200)
  bus(vid, '-', 0, frame)
end

if action == 'choose' then
  if msg ~= meta[1] then
    return redis.error_reply('bad_request flow_choose.message: only a button of the last flow message can be chosen')
  end
  local button = (cjson.decode(meta[2] or '{}'))[ARGV[11]]
  if not button then return redis.error_reply('bad_request flow_choose.button: no such button on that message') end
  local path = cjson.decode(meta[3] or '[]')
  path[#path + 1] = button.label
  redis.call('HSET', mkey, 'flow_path', cjson.encode(path), 'flow_msg', '')
  visitor_says(button.label, 'choose:' .. msg)
  say_step(cid, button.next)
  return {cid, 0}
end

if action == 'email' then
  if msg ~= meta[4] then return redis.error_reply('bad_request flow_email.message: that message asks for no email') end
  local email, path = ARGV[11], cjson.decode(meta[3] or '[]')
  redis.call('HDEL', mkey, 'flow_email')
  visitor_says(email, 'email:' .. msg)
  local unverified = nil
  if contact_writable(vkey) then redis.call('HSET', vkey, 'email', email) else unverified = true end
  local text = #path > 0 and table.concat(path, ' › ') or '(flow)'
  local id = redis.call('XADD', p .. 'left', 'MAXLEN', '~', 10000, '*', 'visitor', vid, 'name', '', 'email', email, 'text', text,
                       'unverified', unverified and '1' or '0')
  bus('-', '-', 1, cjson.encode({type = 'left_message', message = {id = id, visitor = vid, name = '', email = email, text = text,
                                unverified = unverified, ts = stamp(id)}}))
  webhook(vid, 'message.left', {id = id, name = '', email = email, text = text, unverified = unverified, ts = stamp(id)})
  flow_count(site, now, 'emails')
  flow_say(cid, vid, flow and flow.closed and flow.closed.thanks or 'Thank you. We will write to you.', {})
  return {cid, 0}
end
return redis.error_reply('bad_request no such flow action')
