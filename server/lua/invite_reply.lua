-- ARGV: prefix, visitor, invitation, kind (shown|accepted|dismissed), now, day, new_conversation,
--       agents online -> {conversation ("" unless accepted), profile_json}
-- Accepting opens a queued conversation whose first message is the invitation.
--! uses: prelude webhook routing

local vid, kind, now, day = ARGV[2], ARGV[4], tonumber(ARGV[5]), ARGV[6]
agents_online = tonumber(ARGV[8]) or 0
local ikey = p .. 'invitation:' .. ARGV[3]
local inv = redis.call('HMGET', ikey, 'rule', 'visitor', 'text', 'agent', 'state')
if inv[2] ~= vid then return redis.error_reply('not_found no such invitation') end
local rule, skey, vkey = inv[1], p .. 'stats:rules:' .. day, p .. 'visitor:' .. vid
if kind == 'shown' then
  if not inv[5] then
    redis.call('HSET', ikey, 'state', 'shown')
    redis.call('HINCRBY', skey, rule .. ':shown', 1)
  end
  return {'', profile(vid)}
end
if inv[5] == 'accepted' or inv[5] == 'dismissed' then return redis.error_reply('wrong_state the invitation was answered already') end
redis.call('HSET', ikey, 'state', kind)
redis.call('HINCRBY', skey, rule .. ':' .. kind, 1)
if kind == 'dismissed' then
  redis.call('HSET', vkey, 'last_dismissed', now)
  profile_changed(vkey)
  return {'', profile(vid)}
end
local cid = redis.call('HGET', vkey, 'conv')
local accepted = {invitation = ARGV[3], rule = rule, text = inv[3]}
if cid then
  accepted.conversation = cid
  webhook(vid, 'invitation.accepted', accepted)
  return {cid, profile(vid)}
end
cid = ARGV[7]
redis.call('HSET', p .. 'conv:' .. cid .. ':meta', 'state', 'queued', 'visitor', vid, 'created', now,
           'preview', inv[3], 'rule', rule, 'invitation', ARGV[3])
redis.call('HSET', vkey, 'conv', cid, 'last_chat', now)
redis.call('HINCRBY', vkey, 'chats', 1)
profile_changed(vkey)
redis.call('RPUSH', vkey .. ':convs', cid)
queue_enter(cid, now)
local team = route_enter(cid, vid, now)
redis.call('HINCRBY', skey, rule .. ':chats', 1)
local mid, frame = append(cid, 'agent', inv[4] or '', '', inv[3])
bus(vid, '-', 0, conversation_frame(cid, 'queued'))
bus('-', '-', 1, cjson.encode({type = 'queue_add', conversation = {id = cid, visitor = vid, created = now, preview = inv[3], rule = rule, team = team}}))
bus(vid, '-', 0, frame)
queue_changed()
queue_tell(vid, cid, now)
accepted.conversation = cid
webhook(vid, 'invitation.accepted', accepted)
webhook(vid, 'conversation.started', {conversation = cid, created = now, rule = rule, invitation = ARGV[3]})
webhook(vid, 'message', {conversation = cid, message = {id = mid, from = 'agent', author = inv[4] or '', text = inv[3], ts = stamp(mid)}})
return {cid, profile(vid)}
