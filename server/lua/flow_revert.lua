-- ARGV: prefix (global), site, version, who, now -> {new_version, flow_json}
--! uses: prelude flow_version

local site, wanted = ARGV[2], tonumber(ARGV[3])
for _, entry in ipairs(redis.call('LRANGE', p .. 'flows:history:' .. site, 0, -1)) do
  local e = cjson.decode(entry)
  if e.version == wanted then
    if not e.flow then return redis.error_reply('wrong_state that version is a deletion') end
    local body = cjson.encode(e.flow)
    redis.call('HSET', p .. 'flows', site, body)
    return {flow_version(site, ARGV[4], ARGV[5], '"flow":' .. body), body}
  end
end
return redis.error_reply('not_found no such version of this flow')
