-- ARGV: prefix, site, id, version, who, now -> {new_version, article_json}
--! uses: prelude help_version

local site, id, wanted = ARGV[2], ARGV[3], tonumber(ARGV[4])
for _, entry in ipairs(redis.call('LRANGE', help_key(site, 'history:' .. id), 0, -1)) do
  local e = cjson.decode(entry)
  if e.version == wanted then
    if not e.article then return redis.error_reply('wrong_state that version is a deletion') end
    local body = cjson.encode(e.article)
    local version = help_version(site, id, ARGV[5], ARGV[6], '"article":' .. body, body, e.article.state == 'published')
    bus_nodes('!help ' .. site)
    return {version, body}
  end
end
return redis.error_reply('not_found no such version of this article (the last 50 are kept)')
