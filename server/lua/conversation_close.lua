-- Closing a conversation, for the close request and for the sweep that closes abandoned ones
-- (queue_sweep.lua), so that both leave the same traces. meta = {state, visitor, agent, rule}
-- of the open conversation; by = visitor, agent or timeout; who = the visitor or agent; now (ms)
-- and day (UTC YYYYMMDD) as strings. A closed conversation expires after its site's retention
-- days (else retention_days). Its fact row goes into svc:{day} (kept 400 days) under a sequence
-- number, not the conversation id: once the meta (svc_row = "day:number") is gone, nothing links
-- the row to anyone.
--! uses: prelude webhook service_row files

local function conversation_close(cid, meta, by, who, now, day, retention_days)
  local mkey = p .. 'conv:' .. cid .. ':meta'
  redis.call('HSET', mkey, 'state', 'closed', 'closed', now, 'closed_by', by)
  local site = redis.call('HGET', p .. 'visitor:' .. meta[2], 'site')
  local days = tonumber(site and redis.call('HGET', p .. 'site:' .. site, 'retention_days') or '0')
  if not days or days <= 0 then days = tonumber(retention_days) end
  for _, k in ipairs({p .. 'conv:' .. cid, mkey, p .. 'conv:' .. cid .. ':cmids', p .. 'conv:' .. cid .. ':mail_in',
                      p .. 'conv:' .. cid .. ':mail_out', p .. 'conv:' .. cid .. ':mail_ids'}) do
    redis.call('EXPIRE', k, days * 86400)
  end
  files_expire(cid, days * 86400, tonumber(now))
  -- a conversation that ended in its flow never asked for a person: no chat, nor a missed one
  if meta[1] ~= 'flow' then
    local f = redis.call('HMGET', mkey, 'created', 'accepted', 'first_response', 'rating', 'first_response_channel',
                         'team', 'team_site')
    -- a team's chat: its KPIs count it against the team's targets as they are at its close
    local team
    if f[6] then
      local raw = redis.call('HGET', p .. 'teams:' .. (f[7] or ''), f[6])
      local doc = raw and cjson.decode(raw) or {}
      team = {name = f[6], wait = doc.wait_seconds and doc.wait_seconds * 1000,
              first = doc.first_response_seconds and doc.first_response_seconds * 1000}
    end
    local seq = redis.call('INCR', p .. 'svc:seq')
    redis.call('HSET', p .. 'svc:' .. day, seq, service_row(f[1], f[2], f[3], now, meta[3], site, meta[4], f[4], f[5], team))
    redis.call('EXPIRE', p .. 'svc:' .. day, 400 * 86400)
    redis.call('HSET', mkey, 'svc_row', day .. ':' .. seq)
  end
  if meta[4] then redis.call('HINCRBY', p .. 'stats:rules:' .. day, meta[4] .. ':closed', 1) end
  if meta[1] == 'queued' then
    queue_leave(cid)
    bus('-', '-', 1, cjson.encode({type = 'queue_remove', conversation = cid, reason = 'closed'}))
    queue_changed()
  end
  if meta[3] then redis.call('SREM', p .. 'agent:' .. meta[3] .. ':convs', cid) end
  local vkey = p .. 'visitor:' .. meta[2]
  if redis.call('HGET', vkey, 'conv') == cid then
    redis.call('HDEL', vkey, 'conv', 'conv_agent', 'flow')
    profile_changed(vkey)
  end
  redis.call('HSET', vkey, 'last_conv', cid)
  webhook(meta[2], 'conversation.closed', {conversation = cid, agent = meta[3] or nil, closed_by = by,
    by_agent = by == 'agent' and who or nil})
  local lines = {visitor = 'The visitor closed the chat', timeout = 'The chat was closed after the visitor left'}
  local _, frame = append(cid, 'system', '', '', lines[by] or (who .. ' closed the chat'))
  bus(meta[2], meta[3] or '-', 0, frame)
  bus(meta[2], meta[3] or '-', 0, conversation_frame(cid, 'closed', meta[3], by))
end
