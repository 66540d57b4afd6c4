-- ARGV: prefix (the visitor's slot), visitor, now, site, lang, device, origin, from_token (1|0),
--       fresh visitor id, agents online, sites configured (1|0: the node's reading of the global
--       list), [settings admitted in the site's slot]
--       -> {conversation, state, agent, last_id, agents_online, profile_json, site_json, visitor}
-- A token names a visitor of one site: on another site it is refused. A token whose visitor
-- is no longer stored (erased) starts a new, unrelated visitor under the fresh id, so that
-- nothing naming the old id is written again; `visitor` says which id the hello ended with.
-- The site and the origin are checked here (site_admission.lua) in the slot's own sites. The
-- visitor is seen now (visitors:seen, which the nodes' heartbeats keep fresh: queue_sweep.lua).
-- A visitor of before the key layout (an id of no tag) is in the slot of site "", not in its
-- site's: the node checked the site there first (visitor_site.lua) and passes its settings as
-- the twelfth argument. Its fields that a visitor's scripts read are copied here (so its promises,
-- consent and signed identities, hold for this visitor's scripts too, as the site's slot had them
-- at this hello), and a visitor of no tag that is not stored here answers with visitor '': the
-- node then starts a new visitor in the site's own slot (the fresh id is of that slot's tag).
--! uses: prelude site_admission

local vid, now, site = ARGV[2], tonumber(ARGV[3]), ARGV[4]
local settings, admitted = ARGV[12], ARGV[12] and ARGV[12] ~= ''
if not admitted then
  local refusal
  settings, refusal = site_admit(site, ARGV[7], ARGV[11], false)
  if not settings then return redis.error_reply(refusal) end
end
local vkey = p .. 'visitor:' .. vid
local online = tonumber(ARGV[10]) or 0
if ARGV[8] == '1' then
  if admitted and redis.call('EXISTS', vkey) == 0 then return {'', '', '', '', online, '{}', settings, ''} end
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
if admitted then
  local skey, flat = p .. 'site:' .. site, {}
  for name, value in pairs(cjson.decode(settings).fields or {}) do
    flat[#flat + 1] = name
    flat[#flat + 1] = value
  end
  redis.call('DEL', skey)
  if #flat > 0 then redis.call('HSET', skey, unpack(flat)) end
end
if not redis.call('HGET', vkey, 'created') then redis.call('HSET', vkey, 'created', now) end
redis.call('HSET', vkey, 'last_seen', now)
redis.call('ZADD', p .. 'visitors:seen', 'GT', now, vid)
if site ~= '' then redis.call('HSET', vkey, 'site', site) end
if ARGV[5] ~= '' then redis.call('HSET', vkey, 'lang', ARGV[5]) end
if ARGV[6] ~= '' then redis.call('HSET', vkey, 'device', ARGV[6]) end
profile_changed(vkey)
local cid = redis.call('HGET', vkey, 'conv')
if not cid then return {'', '', '', '', online, profile(vid), settings, vid} end
local meta = redis.call('HMGET', p .. 'conv:' .. cid .. ':meta', 'state', 'agent')
local last_msg = redis.call('XREVRANGE', p .. 'conv:' .. cid, '+', '-', 'COUNT', 1)
return {cid, meta[1] or '', meta[2] or '', last_msg[1] and last_msg[1][1] or '', online, profile(vid), settings, vid}
