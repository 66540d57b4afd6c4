-- Shared by the flow scripts (global slot): record a version of a site's flow, like rules
-- (rule_version.lua): one counter orders every change, each version keeps who and when.
--! uses: prelude

local function flow_version(site, who, at, body)
  local version = redis.call('INCR', p .. 'flows:version')
  local head = '{"version":' .. version .. ',"by":' .. cjson.encode(who) .. ',"at":' .. at
  redis.call('HSET', p .. 'flows:meta', site, head .. '}')
  redis.call('RPUSH', p .. 'flows:history:' .. site, head .. ',' .. body .. '}')
  return version
end
