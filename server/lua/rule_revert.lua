-- ARGV: prefix, id, version, who, now -> {new_version, rule_json}
--! uses: prelude rule_version

local id, wanted = ARGV[2], tonumber(ARGV[3])
for _, entry in ipairs(redis.call('LRANGE', p .. 'rules:history:' .. id, 0, -1)) do
  local e = cjson.decode(entry)
  if e.version == wanted then
    if not e.rule then return redis.error_reply('wrong_state that version is a deletion') end
    local body = cjson.encode(e.rule)
    redis.call('HSET', p .. 'rules', id, body)
    return {rule_version(id, ARGV[4], ARGV[5], '"rule":' .. body), body}
  end
end
return redis.error_reply('not_found no such version of this rule')
