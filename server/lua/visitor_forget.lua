-- ARGV: prefix, visitor -> keys deleted
-- Erases the visitor: profile, events, conversations (messages, notes, ratings),
-- invitations, messages left, and every index that names them. Daily stats are counts
-- per rule and name nobody. Their sockets are closed on every node.
--! uses: prelude visitor_data files

local vid = ARGV[2]
local vkey = p .. 'visitor:' .. vid
if redis.call('EXISTS', vkey) == 0 and redis.call('EXISTS', p .. 'events:' .. vid) == 0 then
  return redis.error_reply('not_found no such visitor')
end
local deleted = 0
for _, cid in ipairs(redis.call('LRANGE', vkey .. ':convs', 0, -1)) do
  local agent = redis.call('HGET', p .. 'conv:' .. cid .. ':meta', 'agent')
  if agent then redis.call('SREM', p .. 'agent:' .. agent .. ':convs', cid) end
  if queue_leave(cid) == 1 then
    bus('-', '-', 1, cjson.encode({type = 'queue_remove', conversation = cid, reason = 'erased'}))
    queue_changed()
  end
  deleted = deleted + redis.call('DEL', p .. 'conv:' .. cid, p .. 'conv:' .. cid .. ':meta', p .. 'conv:' .. cid .. ':cmids',
                                  p .. 'conv:' .. cid .. ':mail_in', p .. 'conv:' .. cid .. ':mail_out',
                                  p .. 'conv:' .. cid .. ':mail_ids')
  deleted = deleted + files_erase(cid)
end
for _, iid in ipairs(redis.call('SMEMBERS', vkey .. ':invitations')) do
  deleted = deleted + redis.call('DEL', p .. 'invitation:' .. iid)
end
for _, m in ipairs(left_by(vid)) do
  deleted = deleted + redis.call('XDEL', p .. 'left', m.id)
  redis.call('HDEL', p .. 'left:answered', m.id)
end
redis.call('ZREM', p .. 'visitors:active', vid)
redis.call('ZREM', p .. 'visitors:seen', vid)
deleted = deleted + redis.call('DEL', vkey, vkey .. ':caps', vkey .. ':convs', vkey .. ':cmids',
                                vkey .. ':invitations', p .. 'events:' .. vid)
for _, site in ipairs(redis.call('SMEMBERS', p .. 'hooks:sites')) do
  for _, e in ipairs(redis.call('XRANGE', p .. 'hooks:' .. site, '-', '+')) do
    if e[2][3] == 'visitor' and e[2][4] == vid then deleted = deleted + redis.call('XDEL', p .. 'hooks:' .. site, e[1]) end
  end
end
bus_node('v', vid, '!forget')
return deleted
