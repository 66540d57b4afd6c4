-- ARGV: prefix, site -> {origins_json, id, article_json, id, article_json, ...}: what a node
-- indexes of a site (its published articles), and the site's origins (its images' checks).
--! uses: prelude
--! flags: no-writes

local site = ARGV[2]
local out = {redis.call('HGET', p .. 'site:' .. site, 'origins') or '[]'}
local flat = redis.call('HGETALL', p .. 'help:' .. site .. ':published')
for i = 1, #flat do out[#out + 1] = flat[i] end
return out
