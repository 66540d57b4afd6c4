-- Shared by the rule scripts: record a version, publish the change to every node.
--! uses: prelude

local function rule_version(id, who, at, body)
  local version = redis.call('INCR', p .. 'rules:version')
  local head = '{"version":' .. version .. ',"by":' .. cjson.encode(who) .. ',"at":' .. at
  redis.call('HSET', p .. 'rules:meta', id, head .. '}')
  redis.call('RPUSH', p .. 'rules:history:' .. id, head .. ',' .. body .. '}')
  bus_nodes('!rules')
  return version
end
