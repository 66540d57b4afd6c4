-- ARGV: prefix, site, id, who, now -> version
--! uses: prelude help_version

local site, id = ARGV[2], ARGV[3]
if redis.call('HEXISTS', help_key(site, 'articles'), id) == 0 then
  return redis.error_reply('not_found no such article')
end
local version = help_version(site, id, ARGV[4], ARGV[5], '"deleted":true', nil, false)
bus_nodes('!help ' .. site)
return version
