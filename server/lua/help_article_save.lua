-- ARGV: prefix, site, who, now, then (id, article_json (validated), published "1"/"0") triples
--   -> {origins_json, the new version of each, in order}
-- One article (PUT) or many (an import), one atomic step, one announcement to the nodes.
--! uses: prelude help_version

local site, who, now = ARGV[2], ARGV[3], ARGV[4]
local versions = {redis.call('HGET', p .. 'site:' .. site, 'origins') or '[]'}
for i = 5, #ARGV, 3 do
  local id, article = ARGV[i], ARGV[i + 1]
  versions[#versions + 1] = help_version(site, id, who, now, '"article":' .. article, article, ARGV[i + 2] == '1')
end
bus_nodes('!help ' .. site)
return versions
