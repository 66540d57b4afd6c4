-- ARGV: prefix (the site's slot), visitor, now, site, lang, device, origin, from_token (1|0),
--       fresh visitor id, agents online, sites configured (1|0: the node's reading of the global
--       list) -> {conversation, state, agent, last_id, agents_online, profile_json, site_json, visitor}
-- A token names a visitor of one site: on another site it is refused. A token whose visitor
-- is no longer stored (erased) starts a new, unrelated visitor under the fresh id, so that
-- nothing naming the old id is written again; `visitor` says which id the hello ended with.
-- With no site configured anywhere, any origin may connect (development). Once sites exist,
-- the hello must name one, and the handshake's Origin must be in its list, exactly. The visitor
-- is seen now (visitors:seen, which the nodes' heartbeats keep fresh: queue_sweep.lua).
-- The slot holds its own sites (p .. 'sites': the sites of its tag; p .. 'site:' .. id, their
-- settings); only whether any site exists elsewhere comes from the node.
--! uses: prelude

local vid, now, site, origin = ARGV[2], tonumber(ARGV[3]), ARGV[4], ARGV[7]
local settings = '{}'
if ARGV[11] == '1' or redis.call('SCARD', p .. 'sites') > 0 then
  if site == '' or redis.call('SISMEMBER', p .. 'sites', site) == 0 then
    return redis.error_reply('forbidden this server does not serve that site')
  end
  local allowed = false
  for _, o in ipairs(cjson.decode(redis.call('HGET', p .. 'site:' .. site, 'origins') or '[]')) do
    if o == origin then allowed = true end
  end
  if not allowed then return redis.error_reply('forbidden this page\'s origin may not use the site ' .. site) end
  local h = redis.call('HMGET', p .. 'site:' .. site, 'identity_secret', 'enforce_identity', 'consent_required', 'retention_days',
                       'hours', 'tz')
  settings = cjson.encode({identity_secret = h[1] or '', enforce_identity = h[2] == '1',
                          consent_required = h[3] == '1', retention_days = tonumber(h[4] or '0'),
                          hours = h[5], tz = h[6], id = site})
end
local vkey = p .. 'visitor:' .. vid
if ARGV[8] == '1' then
  if redis.call('EXISTS', vkey) == 0 then
    vid = ARGV[9]
    vkey = p .. 'visitor:' .. vid
  else
    local known = redis.call('HGET', vkey, 'site')
    if known and known ~= '' and known ~= site then
      return redis.error_reply('invalid_token this visitor token belongs to another site; say hello without a token')
    end
  end
end
if not redis.call('HGET', vkey, 'created') then redis.call('HSET', vkey, 'created', now) end
redis.call('HSET', vkey, 'last_seen', now)
redis.call('ZADD', p .. 'visitors:seen', 'GT', now, vid)
if site ~= '' then redis.call('HSET', vkey, 'site', site) end
if ARGV[5] ~= '' then redis.call('HSET', vkey, 'lang', ARGV[5]) end
if ARGV[6] ~= '' then redis.call('HSET', vkey, 'device', ARGV[6]) end
profile_changed(vkey)
local online = tonumber(ARGV[10]) or 0
local cid = redis.call('HGET', vkey, 'conv')
if not cid then return {'', '', '', '', online, profile(vid), settings, vid} end
local meta = redis.call('HMGET', p .. 'conv:' .. cid .. ':meta', 'state', 'agent')
local last_msg = redis.call('XREVRANGE', p .. 'conv:' .. cid, '+', '-', 'COUNT', 1)
return {cid, meta[1] or '', meta[2] or '', last_msg[1] and last_msg[1][1] or '', online, profile(vid), settings, vid}
