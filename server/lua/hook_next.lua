-- The next event of a site for this node to send, after the site's cursor, taking or renewing
-- the site's lease (one node sends a site's events, one at a time, so they arrive in order):
-- {site, id, event, body, url, secret}, or nil when there is nothing to send (the lease is let
-- go) or another node holds the lease. The body is built here, once; ts is the event's time.
--! uses: prelude

local function hook_next(site, node, lease)
  local key = p .. 'hooks:' .. site
  local holder = redis.call('GET', key .. ':lease')
  if holder and holder ~= node then return nil end
  local h = redis.call('HMGET', p .. 'site:' .. site, 'webhook_url', 'webhook_secret')
  local cursor = redis.call('GET', key .. ':cursor')
  local e = redis.call('XRANGE', key, cursor and ('(' .. cursor) or '-', '+', 'COUNT', 1)[1]
  if not e or not h[1] then
    if holder then redis.call('DEL', key .. ':lease') end
    return nil
  end
  redis.call('SET', key .. ':lease', node, 'PX', lease)
  local f = {}
  for i = 1, #e[2], 2 do f[e[2][i]] = e[2][i + 1] end
  local body = '{"id":"' .. e[1] .. '","event":"' .. f.event .. '","site":"' .. site .. '","ts":' ..
    string.match(e[1], '^(%d+)') .. ',"data":' .. f.data .. '}'
  return {site, e[1], f.event, body, h[1], h[2] or ''}
end
