-- Shared by the help articles' scripts (global slot): record a version of an article, keep the
-- published ones where the nodes load them from. The caller announces the change (bus_nodes).
--! uses: prelude

local HELP_HISTORY_MAX = 50  -- versions kept per article (a body is up to 64 KiB)

local function help_key(site, what) return p .. 'help:' .. site .. ':' .. what end

-- body: '"article":{...}' or '"deleted":true'; article_json: the article, or nil when deleted.
local function help_version(site, id, who, at, body, article_json, published)
  local version = redis.call('INCR', p .. 'help:version')
  local head = '{"version":' .. version .. ',"by":' .. cjson.encode(who) .. ',"at":' .. at
  local history = help_key(site, 'history:' .. id)
  redis.call('RPUSH', history, head .. ',' .. body .. '}')
  redis.call('LTRIM', history, -HELP_HISTORY_MAX, -1)
  if article_json then
    redis.call('HSET', help_key(site, 'articles'), id, article_json)
    redis.call('HSET', help_key(site, 'meta'), id, head .. '}')
  else
    redis.call('HDEL', help_key(site, 'articles'), id)
    redis.call('HDEL', help_key(site, 'meta'), id)
  end
  if published then
    redis.call('HSET', help_key(site, 'published'), id, article_json)
  else
    redis.call('HDEL', help_key(site, 'published'), id)
  end
  redis.call('SADD', p .. 'help:sites', site)
  return version
end
