-- ARGV: prefix, site, id ("" = all) -> {origins_json, then (id, article_json, meta_json) triples by id}
-- The site's origins: what its articles' images may come from (help/help_markdown.h).
--! uses: prelude
--! flags: no-writes

local site = ARGV[2]
local articles, meta = p .. 'help:' .. site .. ':articles', p .. 'help:' .. site .. ':meta'
local out = {redis.call('HGET', p .. 'site:' .. site, 'origins') or '[]'}
local ids = ARGV[3] ~= '' and {ARGV[3]} or redis.call('HKEYS', articles)
table.sort(ids)
for _, id in ipairs(ids) do
  local article = redis.call('HGET', articles, id)
  if article then
    out[#out + 1] = id
    out[#out + 1] = article
    out[#out + 1] = redis.call('HGET', meta, id) or '{}'
  end
end
return out
