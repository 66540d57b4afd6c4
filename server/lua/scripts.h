/* scripts.h - the Lua scripts that change conversations, one atomic step each.
 *
 * Why scripts: "check the cmid, then append", "check the state, then accept" and "store,
 * then notify" must each be atomic, across connections and across nodes. A script runs
 * alone in Redis, so two agents accepting at once, or one message resent on two sockets,
 * cannot interleave. Every script takes the key prefix as ARGV[1].
 *
 * The bus: every change is PUBLISHed on PREFIX.."bus" as "VISITOR AGENT ALL FRAME":
 * VISITOR and AGENT name who gets FRAME ("-" for nobody), ALL is 1 when every agent gets
 * it, or "0>NODE:CONNECTION" when that connection sent the message and has its ack already
 * (bus_except). FRAME is the exact JSON text clients receive, so nodes forward it without parsing.
 * A VISITOR of "!what" is a message to the nodes themselves ("!rules": reload the rules).
 *
 * Errors are returned as "code message", code being a protocol error code.
 *
 * Each BK_LUA_* name expands to a list of string literals, shared preludes first: ISO C caps
 * one literal at 4095 bytes, so the pieces are joined when a script is registered
 * (bk_store_script_add, BK_LUA). */
#ifndef BK_SCRIPTS_H
#define BK_SCRIPTS_H

/* A script's pieces as a NULL-terminated array, for bk_store_script_add and bk_cli_script. */
#define BK_LUA(name) ((const char *const[]){ name, NULL })

/* Shared helpers, prepended to every script. */
#define BK_LUA_PRELUDE \
"local p = ARGV[1]\n" \
"local function bus(visitor, agent, all, frame)\n" \
"  redis.call('PUBLISH', p .. 'bus', visitor .. ' ' .. agent .. ' ' .. all .. ' ' .. frame)\n" \
"end\n" \
"local function bus_except(sender, visitor, agent, frame)\n" \
"  redis.call('PUBLISH', p .. 'bus', visitor .. ' ' .. agent .. ' 0>' .. sender .. ' ' .. frame)\n" \
"end\n" \
"local function stamp(id) return tonumber(string.match(id, '^(%d+)')) end\n" \
"local function append(cid, from, author, cmid, text)\n" \
"  local id = redis.call('XADD', p .. 'conv:' .. cid, '*', 'from', from, 'author', author, 'cmid', cmid, 'text', text)\n" \
"  return id, cjson.encode({type = 'message', conversation = cid, id = id, cmid = cmid ~= '' and cmid or nil,\n" \
"                           from = from, author = author, text = text, ts = stamp(id)})\n" \
"end\n" \
"local function profile(vid)\n" \
"  local t, caps = {}, {}\n" \
"  local flat = redis.call('HGETALL', p .. 'visitor:' .. vid)\n" \
"  for i = 1, #flat, 2 do t[flat[i]] = flat[i + 1] end\n" \
"  flat = redis.call('HGETALL', p .. 'visitor:' .. vid .. ':caps')\n" \
"  for i = 1, #flat, 2 do caps[flat[i]] = flat[i + 1] end\n" \
"  t.caps = caps\n" \
"  return cjson.encode(t)\n" \
"end\n" \
"local function online_agents(now)\n" \
"  local seen, names = {}, {}\n" \
"  for _, m in ipairs(redis.call('ZRANGEBYSCORE', p .. 'presence', now, '+inf')) do\n" \
"    local name = string.match(m, '^(.-)@') or m\n" \
"    if not seen[name] then seen[name] = true; names[#names + 1] = name end\n" \
"  end\n" \
"  return names\n" \
"end\n" \
"local function presence_drop(name)\n" \
"  for _, m in ipairs(redis.call('ZRANGE', p .. 'presence', 0, -1)) do\n" \
"    if m == name or string.sub(m, 1, #name + 1) == name .. '@' then redis.call('ZREM', p .. 'presence', m) end\n" \
"  end\n" \
"end\n" \
"local function queue_wait_estimate(now)\n" \
"  local waits, total = redis.call('LRANGE', p .. 'waits', 0, -1), 0\n" \
"  for _, w in ipairs(waits) do total = total + tonumber(w) end\n" \
"  return #waits > 0 and total / #waits or nil, #online_agents(now)\n" \
"end\n" \
"local function queue_changed() redis.call('INCR', p .. 'queue:version') end\n" \
"local function queue_enter(cid, now)\n" \
"  redis.call('ZADD', p .. 'queue', now, cid)\n" \
"  redis.call('ZADD', p .. 'queue:to_ack', now, cid)\n" \
"  redis.call('ZADD', p .. 'queue:to_offer', now, cid)\n" \
"end\n" \
"local function queue_leave(cid)\n" \
"  redis.call('ZREM', p .. 'queue:to_ack', cid)\n" \
"  redis.call('ZREM', p .. 'queue:to_offer', cid)\n" \
"  return redis.call('ZREM', p .. 'queue', cid)\n" \
"end\n" \
"local function queue_tell(vid, cid, now)\n" \
"  local rank = redis.call('ZRANK', p .. 'queue', cid)\n" \
"  if not rank then return end\n" \
"  local avg, online = queue_wait_estimate(now)\n" \
"  local expected = cjson.null\n" \
"  if avg and online > 0 then expected = math.floor(avg * (rank + 1) / online / 1000 + 0.5) end\n" \
"  bus(vid, '-', 0, cjson.encode({type = 'queue_position', conversation = cid, position = rank + 1,\n" \
"    waiting = redis.call('ZCARD', p .. 'queue'), agents_online = online, expected_wait_seconds = expected}))\n" \
"end\n" \
"local function conversation_frame(cid, state, agent, closed_by)\n" \
"  return cjson.encode({type = 'conversation', id = cid, state = state, agent = agent or cjson.null, closed_by = closed_by})\n" \
"end\n"

/* Webhooks (server/workers/webhooks.h): when the visitor's site has a webhook that wants this event,
 * the event goes into the site's stream hooks:{site} in the same atomic step as the change it
 * tells of, so it is stored exactly when the change is, in the order Redis made the changes.
 * One SCARD when no site has a webhook: this runs on every message. */
#define BK_LUA_WEBHOOK \
"local function webhook(vid, event, data)\n" \
"  if redis.call('SCARD', p .. 'hooks:sites') == 0 then return end\n" \
"  local site = redis.call('HGET', p .. 'visitor:' .. vid, 'site')\n" \
"  if not site or redis.call('SISMEMBER', p .. 'hooks:sites', site) == 0 then return end\n" \
"  local events = redis.call('HGET', p .. 'site:' .. site, 'webhook_events') or ''\n" \
"  if events ~= '' and not string.find(',' .. events .. ',', ',' .. event .. ',', 1, true) then return end\n" \
"  data.visitor = vid\n" \
"  redis.call('XADD', p .. 'hooks:' .. site, 'MAXLEN', '~', 10000, '*', 'event', event, 'visitor', vid,\n" \
"             'data', cjson.encode(data))\n" \
"  redis.call('PUBLISH', p .. 'bus', '!hooks ' .. site .. ' 0 -')\n" \
"end\n"

/* What a site promises its visitors, read where a script stores something about one: browsing
 * data only with consent when the site asks for it, and contact details that a visitor cannot
 * change once the site's backend has signed them (or at all, unsigned, when the site enforces
 * signed identities). Every path that stores such data runs through these two checks. */
#define BK_LUA_VISITOR_PROMISES \
"local function site_flag(vkey, field)\n" \
"  local site = redis.call('HGET', vkey, 'site')\n" \
"  return site ~= false and site ~= '' and redis.call('HGET', p .. 'site:' .. site, field) == '1'\n" \
"end\n" \
"local function tracking_allowed(vkey)\n" \
"  return not site_flag(vkey, 'consent_required') or redis.call('HGET', vkey, 'consent') == '1'\n" \
"end\n" \
"local function contact_writable(vkey)\n" \
"  return redis.call('HGET', vkey, 'verified') ~= '1' and not site_flag(vkey, 'enforce_identity')\n" \
"end\n"

/* ARGV: prefix, visitor, now, site, lang, device, origin, from_token (1|0), fresh visitor id
 * -> {conversation, state, agent, last_id, agents_online, profile_json, site_json, visitor}
 * A token names a visitor of one site: on another site it is refused. A token whose visitor
 * is no longer stored (erased) starts a new, unrelated visitor under the fresh id, so that
 * nothing naming the old id is written again; `visitor` says which id the hello ended with.
 * With no site configured anywhere, any origin may connect (development). Once sites exist,
 * the hello must name one, and the handshake's Origin must be in its list, exactly. The visitor
 * is seen now (visitors:seen, which the nodes' heartbeats keep fresh: BK_LUA_QUEUE_SWEEP). */
#define BK_LUA_VISITOR_HELLO BK_LUA_PRELUDE, \
"local vid, now, site, origin = ARGV[2], tonumber(ARGV[3]), ARGV[4], ARGV[7]\n" \
"local settings = '{}'\n" \
"if redis.call('SCARD', p .. 'sites') > 0 then\n" \
"  if site == '' or redis.call('SISMEMBER', p .. 'sites', site) == 0 then\n" \
"    return redis.error_reply('forbidden this server does not serve that site')\n" \
"  end\n" \
"  local allowed = false\n" \
"  for _, o in ipairs(cjson.decode(redis.call('HGET', p .. 'site:' .. site, 'origins') or '[]')) do\n" \
"    if o == origin then allowed = true end\n" \
"  end\n" \
"  if not allowed then return redis.error_reply('forbidden this page\\'s origin may not use the site ' .. site) end\n" \
"  local h = redis.call('HMGET', p .. 'site:' .. site, 'identity_secret', 'enforce_identity', 'consent_required', 'retention_days',\n" \
"                       'hours', 'tz')\n" \
"  settings = cjson.encode({identity_secret = h[1] or '', enforce_identity = h[2] == '1',\n" \
"                          consent_required = h[3] == '1', retention_days = tonumber(h[4] or '0'),\n" \
"                          hours = h[5], tz = h[6], id = site})\n" \
"end\n" \
"local vkey = p .. 'visitor:' .. vid\n" \
"if ARGV[8] == '1' then\n" \
"  if redis.call('EXISTS', vkey) == 0 then\n" \
"    vid = ARGV[9]\n" \
"    vkey = p .. 'visitor:' .. vid\n" \
"  else\n" \
"    local known = redis.call('HGET', vkey, 'site')\n" \
"    if known and known ~= '' and known ~= site then\n" \
"      return redis.error_reply('invalid_token this visitor token belongs to another site; say hello without a token')\n" \
"    end\n" \
"  end\n" \
"end\n" \
"if not redis.call('HGET', vkey, 'created') then redis.call('HSET', vkey, 'created', now) end\n" \
"redis.call('HSET', vkey, 'last_seen', now)\n" \
"redis.call('ZADD', p .. 'visitors:seen', 'GT', now, vid)\n" \
"if site ~= '' then redis.call('HSET', vkey, 'site', site) end\n" \
"if ARGV[5] ~= '' then redis.call('HSET', vkey, 'lang', ARGV[5]) end\n" \
"if ARGV[6] ~= '' then redis.call('HSET', vkey, 'device', ARGV[6]) end\n" \
"local online = #online_agents(now)\n" \
"local cid = redis.call('HGET', vkey, 'conv')\n" \
"if not cid then return {'', '', '', '', online, profile(vid), settings, vid} end\n" \
"local meta = redis.call('HMGET', p .. 'conv:' .. cid .. ':meta', 'state', 'agent')\n" \
"local last_msg = redis.call('XREVRANGE', p .. 'conv:' .. cid, '+', '-', 'COUNT', 1)\n" \
"return {cid, meta[1] or '', meta[2] or '', last_msg[1] and last_msg[1][1] or '', online, profile(vid), settings, vid}\n"

/* ARGV: prefix, visitor, new_conversation, cmid, text, now, preview, sender (node:connection)
 * -> {conversation, id, duplicate, opened} */
#define BK_LUA_VISITOR_MESSAGE BK_LUA_PRELUDE, BK_LUA_WEBHOOK, \
"local vid, cmid, text, now = ARGV[2], ARGV[4], ARGV[5], tonumber(ARGV[6])\n" \
"local vkey = p .. 'visitor:' .. vid\n" \
"local seen = redis.call('HGET', vkey .. ':cmids', cmid)\n" \
"if seen then\n" \
"  local cid, id = string.match(seen, '^(%S+) (%S+)$')\n" \
"  return {cid, id, 1, 0}\n" \
"end\n" \
"local cid = redis.call('HGET', vkey, 'conv')\n" \
"local opened = 0\n" \
"if not cid then\n" \
"  cid, opened = ARGV[3], 1\n" \
"  redis.call('HSET', p .. 'conv:' .. cid .. ':meta', 'state', 'queued', 'visitor', vid, 'created', now, 'preview', ARGV[7])\n" \
"  redis.call('HSET', vkey, 'conv', cid, 'last_chat', now)\n" \
"  redis.call('HINCRBY', vkey, 'chats', 1)\n" \
"  redis.call('RPUSH', vkey .. ':convs', cid)\n" \
"  queue_enter(cid, now)\n" \
"end\n" \
"local id, frame = append(cid, 'visitor', vid, cmid, text)\n" \
"redis.call('HSET', vkey .. ':cmids', cmid, cid .. ' ' .. id)\n" \
"redis.call('EXPIRE', vkey .. ':cmids', 604800)\n" \
"local agent = redis.call('HGET', p .. 'conv:' .. cid .. ':meta', 'agent')\n" \
"if opened == 1 then\n" \
"  bus(vid, '-', 0, conversation_frame(cid, 'queued'))\n" \
"  bus('-', '-', 1, cjson.encode({type = 'queue_add', conversation = {id = cid, visitor = vid, created = now, preview = ARGV[7]}}))\n" \
"end\n" \
"bus_except(ARGV[8], vid, agent or '-', frame)\n" \
"if opened == 1 then queue_changed(); queue_tell(vid, cid, now) end\n" \
"if opened == 1 then webhook(vid, 'conversation.started', {conversation = cid, created = now}) end\n" \
"webhook(vid, 'message', {conversation = cid, message = {id = id, from = 'visitor', author = vid, text = text, ts = stamp(id)}})\n" \
"return {cid, id, 0, opened}\n"

/* ARGV: prefix, conversation, agent, cmid, text, sender -> {conversation, id, duplicate}
 * The first agent message sets the meta's first_response (ms, its stream id's): notes,
 * system messages and an invitation's opening text are not answers. */
#define BK_LUA_AGENT_MESSAGE BK_LUA_PRELUDE, BK_LUA_WEBHOOK, \
"local cid, agent, cmid = ARGV[2], ARGV[3], ARGV[4]\n" \
"local ckey = p .. 'conv:' .. cid\n" \
"local meta = redis.call('HMGET', ckey .. ':meta', 'state', 'agent', 'visitor')\n" \
"if not meta[1] then return redis.error_reply('not_found no such conversation') end\n" \
"if meta[1] == 'closed' then return redis.error_reply('wrong_state the conversation is closed') end\n" \
"if meta[1] ~= 'active' or meta[2] ~= agent then return redis.error_reply('forbidden accept the conversation first') end\n" \
"local seen = redis.call('HGET', ckey .. ':cmids', cmid)\n" \
"if seen then return {cid, seen, 1} end\n" \
"local id, frame = append(cid, 'agent', agent, cmid, ARGV[5])\n" \
"redis.call('HSET', ckey .. ':cmids', cmid, id)\n" \
"redis.call('HSETNX', ckey .. ':meta', 'first_response', string.match(id, '^(%d+)'))\n" \
"bus_except(ARGV[6], meta[3], agent, frame)\n" \
"webhook(meta[3], 'message', {conversation = cid, message = {id = id, from = 'agent', author = agent, text = ARGV[5], ts = stamp(id)}})\n" \
"return {cid, id, 0}\n"

/* ARGV: prefix, conversation, agent, now -> 1 */
#define BK_LUA_ACCEPT BK_LUA_PRELUDE, \
"local cid, agent, now = ARGV[2], ARGV[3], ARGV[4]\n" \
"local mkey = p .. 'conv:' .. cid .. ':meta'\n" \
"local meta = redis.call('HMGET', mkey, 'state', 'visitor')\n" \
"if not meta[1] then return redis.error_reply('not_found no such conversation') end\n" \
"if meta[1] == 'active' then return redis.error_reply('already_taken another agent accepted it first') end\n" \
"if meta[1] ~= 'queued' then return redis.error_reply('wrong_state the conversation is ' .. meta[1]) end\n" \
"redis.call('HSET', mkey, 'state', 'active', 'agent', agent, 'accepted', now)\n" \
"queue_leave(cid)\n" \
"redis.call('LPUSH', p .. 'waits', tonumber(now) - tonumber(redis.call('HGET', mkey, 'created') or now))\n" \
"redis.call('LTRIM', p .. 'waits', 0, 49)\n" \
"redis.call('SADD', p .. 'agent:' .. agent .. ':convs', cid)\n" \
"local _, frame = append(cid, 'system', '', '', agent .. ' joined the chat')\n" \
"bus(meta[2], agent, 0, frame)\n" \
"bus(meta[2], agent, 0, conversation_frame(cid, 'active', agent))\n" \
"bus('-', '-', 1, cjson.encode({type = 'queue_remove', conversation = cid, reason = 'accepted', agent = agent}))\n" \
"queue_changed()\n" \
"return 1\n"

/* The anonymous fact row a closed conversation leaves for the service KPIs (server/stats/service_stats.h),
 * times in ms, absent = null. No visitor and no text: it outlives the conversation. */
#define BK_LUA_SERVICE_ROW \
"local function service_row(created, accepted, first_response, closed, agent, site, rule, rating)\n" \
"  local function num(x) local v = tonumber(x); return v and string.format('%d', v) or 'null' end\n" \
"  local function str(x) return x and cjson.encode(x) or 'null' end\n" \
"  return '{\"created\":' .. num(created) .. ',\"accepted\":' .. num(accepted) .. ',\"first_response\":' ..\n" \
"    num(first_response) .. ',\"closed\":' .. num(closed) .. ',\"agent\":' .. str(agent) .. ',\"site\":' .. str(site) ..\n" \
"    ',\"rule\":' .. str(rule) .. ',\"rating\":' .. num(rating) .. '}'\n" \
"end\n"

/* Closing a conversation, for the close request and for the sweep that closes abandoned ones
 * (BK_LUA_QUEUE_SWEEP), so that both leave the same traces. meta = {state, visitor, agent, rule}
 * of the open conversation; by = visitor, agent or timeout; who = the visitor or agent; now (ms)
 * and day (UTC YYYYMMDD) as strings. A closed conversation expires after its site's retention
 * days (else retention_days). Its fact row goes into svc:{day} (kept 400 days) under a sequence
 * number, not the conversation id: once the meta (svc_row = "day:number") is gone, nothing links
 * the row to anyone. */
#define BK_LUA_CLOSE_PRELUDE BK_LUA_WEBHOOK, BK_LUA_SERVICE_ROW, \
"local function conversation_close(cid, meta, by, who, now, day, retention_days)\n" \
"  local mkey = p .. 'conv:' .. cid .. ':meta'\n" \
"  redis.call('HSET', mkey, 'state', 'closed', 'closed', now, 'closed_by', by)\n" \
"  local site = redis.call('HGET', p .. 'visitor:' .. meta[2], 'site')\n" \
"  local days = tonumber(site and redis.call('HGET', p .. 'site:' .. site, 'retention_days') or '0')\n" \
"  if not days or days <= 0 then days = tonumber(retention_days) end\n" \
"  for _, k in ipairs({p .. 'conv:' .. cid, mkey, p .. 'conv:' .. cid .. ':cmids'}) do redis.call('EXPIRE', k, days * 86400) end\n" \
"  local f = redis.call('HMGET', mkey, 'created', 'accepted', 'first_response', 'rating')\n" \
"  local seq = redis.call('INCR', p .. 'svc:seq')\n" \
"  redis.call('HSET', p .. 'svc:' .. day, seq, service_row(f[1], f[2], f[3], now, meta[3], site, meta[4], f[4]))\n" \
"  redis.call('EXPIRE', p .. 'svc:' .. day, 400 * 86400)\n" \
"  redis.call('HSET', mkey, 'svc_row', day .. ':' .. seq)\n" \
"  if meta[4] then redis.call('HINCRBY', p .. 'stats:rules:' .. day, meta[4] .. ':closed', 1) end\n" \
"  if meta[1] == 'queued' then\n" \
"    queue_leave(cid)\n" \
"    bus('-', '-', 1, cjson.encode({type = 'queue_remove', conversation = cid, reason = 'closed'}))\n" \
"    queue_changed()\n" \
"  end\n" \
"  if meta[3] then redis.call('SREM', p .. 'agent:' .. meta[3] .. ':convs', cid) end\n" \
"  local vkey = p .. 'visitor:' .. meta[2]\n" \
"  if redis.call('HGET', vkey, 'conv') == cid then redis.call('HDEL', vkey, 'conv') end\n" \
"  redis.call('HSET', vkey, 'last_conv', cid)\n" \
"  webhook(meta[2], 'conversation.closed', {conversation = cid, agent = meta[3] or nil, closed_by = by,\n" \
"    by_agent = by == 'agent' and who or nil})\n" \
"  local lines = {visitor = 'The visitor closed the chat', timeout = 'The chat was closed after the visitor left'}\n" \
"  local _, frame = append(cid, 'system', '', '', lines[by] or (who .. ' closed the chat'))\n" \
"  bus(meta[2], meta[3] or '-', 0, frame)\n" \
"  bus(meta[2], meta[3] or '-', 0, conversation_frame(cid, 'closed', meta[3], by))\n" \
"end\n"

/* ARGV: prefix, conversation ("" = the visitor's open one), by (visitor|agent), who, now, day,
 *       retention_days -> 1 (BK_LUA_CLOSE_PRELUDE) */
#define BK_LUA_CLOSE BK_LUA_PRELUDE, BK_LUA_CLOSE_PRELUDE, \
"local cid, by, who = ARGV[2], ARGV[3], ARGV[4]\n" \
"if cid == '' then cid = redis.call('HGET', p .. 'visitor:' .. who, 'conv') end\n" \
"if not cid then return redis.error_reply('not_found no open conversation') end\n" \
"local meta = redis.call('HMGET', p .. 'conv:' .. cid .. ':meta', 'state', 'visitor', 'agent', 'rule')\n" \
"if not meta[1] or (by == 'visitor' and meta[2] ~= who) then return redis.error_reply('not_found no such conversation') end\n" \
"if by == 'agent' and meta[1] == 'active' and meta[3] ~= who then return redis.error_reply('forbidden another agent has this conversation') end\n" \
"if meta[1] == 'closed' then return redis.error_reply('wrong_state the conversation is already closed') end\n" \
"conversation_close(cid, meta, by, who, ARGV[5], ARGV[6], ARGV[7])\n" \
"return 1\n"

/* ARGV: prefix, visitor, conversation ("" = the last closed one), score, comment, now, day -> 1
 * The rating also goes into the conversation's fact row (a re-rating replaces it). */
#define BK_LUA_RATE BK_LUA_PRELUDE, BK_LUA_WEBHOOK, \
"local vid, cid = ARGV[2], ARGV[3]\n" \
"if cid == '' then cid = redis.call('HGET', p .. 'visitor:' .. vid, 'last_conv') end\n" \
"if not cid then return redis.error_reply('not_found no closed conversation to rate') end\n" \
"local mkey = p .. 'conv:' .. cid .. ':meta'\n" \
"local meta = redis.call('HMGET', mkey, 'state', 'visitor', 'agent', 'rule', 'rating')\n" \
"if meta[2] ~= vid then return redis.error_reply('not_found no such conversation') end\n" \
"if meta[1] ~= 'closed' then return redis.error_reply('wrong_state only a closed conversation can be rated') end\n" \
"redis.call('HSET', mkey, 'rating', ARGV[4], 'rating_comment', ARGV[5], 'rated', ARGV[6])\n" \
"local sday, seq = string.match(redis.call('HGET', mkey, 'svc_row') or '', '^(%d+):(%d+)$')\n" \
"local row = sday and redis.call('HGET', p .. 'svc:' .. sday, seq)\n" \
"if row then\n" \
"  redis.call('HSET', p .. 'svc:' .. sday, seq, (string.gsub(row, '\"rating\":[%dnul]+', '\"rating\":' .. string.match(ARGV[4], '^%d+$'))))\n" \
"end\n" \
"if meta[4] and not meta[5] then\n" \
"  redis.call('HINCRBY', p .. 'stats:rules:' .. ARGV[7], meta[4] .. ':ratings', 1)\n" \
"  redis.call('HINCRBY', p .. 'stats:rules:' .. ARGV[7], meta[4] .. ':rating_sum', ARGV[4])\n" \
"end\n" \
"webhook(vid, 'conversation.rated', {conversation = cid, agent = meta[3] or nil, rating = tonumber(ARGV[4]), comment = ARGV[5]})\n" \
"if meta[3] then bus('-', meta[3], 0, cjson.encode({type = 'rating', conversation = cid, score = tonumber(ARGV[4]), comment = ARGV[5]})) end\n" \
"return 1\n"

/* ARGV: prefix, conversation ("" = the visitor's open one), by, who, kind (typing|read), value
 * Relays typing or read to the other side; read is also stored. -> 1 */
#define BK_LUA_SIGNAL BK_LUA_PRELUDE, \
"local cid, by, who, kind, value = ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6]\n" \
"if cid == '' then cid = redis.call('HGET', p .. 'visitor:' .. who, 'conv') end\n" \
"if not cid then return redis.error_reply('not_found no open conversation') end\n" \
"local mkey = p .. 'conv:' .. cid .. ':meta'\n" \
"local meta = redis.call('HMGET', mkey, 'state', 'visitor', 'agent')\n" \
"if not meta[1] or (by == 'visitor' and meta[2] ~= who) then return redis.error_reply('not_found no such conversation') end\n" \
"if by == 'agent' and meta[3] ~= who then return redis.error_reply('forbidden accept the conversation first') end\n" \
"local frame\n" \
"if kind == 'read' then\n" \
"  redis.call('HSET', mkey, by .. '_read', value)\n" \
"  frame = cjson.encode({type = 'read', conversation = cid, from = by, up_to = value})\n" \
"else\n" \
"  frame = cjson.encode({type = 'typing', conversation = cid, from = by, on = value == '1'})\n" \
"end\n" \
"if by == 'visitor' then bus('-', meta[3] or '-', 0, frame) else bus(meta[2], '-', 0, frame) end\n" \
"return 1\n"

/* ARGV: prefix, conversation, since ("0" = all), limit, by, who, max_bytes
 * -> {state, gap, complete, messages_json, next, visitor_read, agent_read, accepted (1|0)}
 * Visitors never see notes. A page holds at most `limit` messages and about max_bytes of
 * them (always at least one), so that a reply fits a socket's send queue however long the
 * messages are. `next` is the last id looked at: page on from there (notes skipped for a
 * visitor still move it forward).
 * `since` must be an id this conversation gave out, or "0". One ahead of its last message or
 * never in it is the client's mistake (bad_request), not a gap. `gap` is 1 when messages the
 * client has not seen were removed, whatever removed them (XDEL, XTRIM, a deleted stream):
 * entries-added counts every entry ever added, so any removal shows against the length. */
#define BK_LUA_HISTORY BK_LUA_PRELUDE, \
"local cid, since, limit, by, who, max_bytes = ARGV[2], ARGV[3], tonumber(ARGV[4]), ARGV[5], ARGV[6], tonumber(ARGV[7])\n" \
"local key = p .. 'conv:' .. cid\n" \
"local meta = redis.call('HMGET', key .. ':meta', 'state', 'visitor', 'visitor_read', 'agent_read', 'accepted')\n" \
"if not meta[1] or (by == 'visitor' and meta[2] ~= who) then return redis.error_reply('not_found no such conversation') end\n" \
"-- stream ids compared as the 64-bit numbers they are (Lua numbers are doubles)\n" \
"local function number_compare(a, b)\n" \
"  a, b = string.match(a, '^0*(%d-%d)$'), string.match(b, '^0*(%d-%d)$')\n" \
"  if #a ~= #b then return #a < #b and -1 or 1 end\n" \
"  return a == b and 0 or (a < b and -1 or 1)\n" \
"end\n" \
"local function id_compare(a, b)\n" \
"  local am, as = string.match(a, '^(%d+)-(%d+)$')\n" \
"  local bm, bs = string.match(b, '^(%d+)-(%d+)$')\n" \
"  local c = number_compare(am, bm)\n" \
"  if c ~= 0 then return c end\n" \
"  return number_compare(as, bs)\n" \
"end\n" \
"local gap = 0\n" \
"if redis.call('EXISTS', key) == 1 then\n" \
"  local info, s = redis.call('XINFO', 'STREAM', key), {}\n" \
"  for i = 1, #info, 2 do s[info[i]] = info[i + 1] end\n" \
"  local removed = tonumber(s['entries-added']) > tonumber(s['length'])\n" \
"  local deleted = s['max-deleted-entry-id']\n" \
"  if since == '0' then\n" \
"    if removed then gap = 1 end\n" \
"  elseif id_compare(since, s['last-generated-id']) > 0 then\n" \
"    return redis.error_reply('bad_request resume.since is after the last message of this conversation: resume from an id it gave you, or from \"0\"')\n" \
"  elseif #redis.call('XRANGE', key, since, since) == 0 then\n" \
"    local first = s['first-entry'] and s['first-entry'][1]\n" \
"    if removed and (not first or id_compare(since, first) < 0 or id_compare(since, deleted) <= 0) then gap = 1\n" \
"    else return redis.error_reply('bad_request resume.since is not a message of this conversation: resume from an id it gave you, or from \"0\"') end\n" \
"  elseif removed and id_compare(since, deleted) < 0 then\n" \
"    gap = 1\n" \
"  end\n" \
"elseif since ~= '0' then\n" \
"  gap = 1\n" \
"end\n" \
"local entries = redis.call('XRANGE', key, since == '0' and '-' or ('(' .. since), '+', 'COUNT', limit + 1)\n" \
"local complete = #entries <= limit and 1 or 0\n" \
"local out, bytes, next = {}, 0, since\n" \
"for i = 1, math.min(#entries, limit) do\n" \
"  local id, f = entries[i][1], entries[i][2]\n" \
"  local m = {id = id, ts = stamp(id)}\n" \
"  for j = 1, #f, 2 do m[f[j]] = f[j + 1] end\n" \
"  if m.cmid == '' then m.cmid = nil end\n" \
"  if not (by == 'visitor' and m.from == 'note') then\n" \
"    local encoded = cjson.encode(m)\n" \
"    if #out > 0 and bytes + #encoded > max_bytes then complete = 0; break end\n" \
"    bytes = bytes + #encoded + 1\n" \
"    out[#out + 1] = encoded\n" \
"  end\n" \
"  next = id\n" \
"end\n" \
"return {meta[1], gap, complete, '[' .. table.concat(out, ',') .. ']', next, meta[3] or '', meta[4] or '', meta[5] and 1 or 0}\n"

/* ARGV: prefix, session digest, now, presence_ttl_ms, node -> {agent, welcome_json}
 * Presence has one entry per agent and node ("alice@n_3f…"): an agent with tabs on two nodes
 * stays online when one of them closes. Counting is by distinct name (online_agents). */
#define BK_LUA_AGENT_HELLO BK_LUA_PRELUDE, \
"local now = tonumber(ARGV[3])\n" \
"local agent = redis.call('GET', p .. 'session:' .. ARGV[2])\n" \
"if not agent or redis.call('EXISTS', p .. 'agent:' .. agent) == 0 then\n" \
"  return redis.error_reply('unauthorized unknown or expired session token')\n" \
"end\n" \
"local status = redis.call('HGET', p .. 'agent:' .. agent, 'status') or 'online'\n" \
"if status ~= 'away' then redis.call('ZADD', p .. 'presence', now + tonumber(ARGV[4]), agent .. '@' .. ARGV[5]) end\n" \
"local queue = {}\n" \
"local waiting = redis.call('ZRANGE', p .. 'queue', 0, 199)\n" \
"for _, cid in ipairs(waiting) do\n" \
"  local m = redis.call('HMGET', p .. 'conv:' .. cid .. ':meta', 'visitor', 'created', 'preview', 'rule')\n" \
"  queue[#queue + 1] = {id = cid, visitor = m[1], created = tonumber(m[2]), preview = m[3], rule = m[4] or nil}\n" \
"end\n" \
"local mine = {}\n" \
"for _, cid in ipairs(redis.call('SMEMBERS', p .. 'agent:' .. agent .. ':convs')) do\n" \
"  local m = redis.call('HMGET', p .. 'conv:' .. cid .. ':meta', 'visitor', 'state', 'created')\n" \
"  mine[#mine + 1] = {id = cid, visitor = m[1], state = m[2], created = tonumber(m[3])}\n" \
"end\n" \
"return {agent, '{\"status\":' .. cjson.encode(status) .. ',\"queue\":' .. (#queue > 0 and cjson.encode(queue) or '[]') ..\n" \
"               ',\"conversations\":' .. (#mine > 0 and cjson.encode(mine) or '[]') .. '}'}\n"

/* ---- triggers ----------------------------------------------------------------------- */

/* ARGV: prefix, visitor, now, visit_gap_ms, kind (page|event), url, title, referrer,
 *       utm_source, utm_medium, utm_campaign, utm_term, utm_content, event_name, props_json,
 *       retention_seconds, max_events -> profile_json
 * A visit starts with the first event after visit_gap_ms of silence. Every way an event comes
 * in (the visitor's socket, the HTTP beacon) ends here, so this is where consent is checked and
 * where an unknown (erased) visitor is refused rather than created again. */
#define BK_LUA_TRACK BK_LUA_PRELUDE, BK_LUA_VISITOR_PROMISES, \
"local vid, now, gap, kind = ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4]), ARGV[5]\n" \
"local vkey = p .. 'visitor:' .. vid\n" \
"if redis.call('EXISTS', vkey) == 0 then\n" \
"  return redis.error_reply('invalid_token this visitor is not known here (erased, or never said hello): say hello without a token')\n" \
"end\n" \
"if not tracking_allowed(vkey) then\n" \
"  return redis.error_reply('consent_required this site stores browsing only with consent: send consent {granted: true} first')\n" \
"end\n" \
"local last = tonumber(redis.call('HGET', vkey, 'last_event') or '0')\n" \
"if last == 0 or now - last > gap then\n" \
"  redis.call('HINCRBY', vkey, 'visits', 1)\n" \
"  redis.call('HSET', vkey, 'visit_started', now, 'visit_pages', 0, 'visit_referrer', ARGV[8],\n" \
"             'utm_source', ARGV[9], 'utm_medium', ARGV[10], 'utm_campaign', ARGV[11],\n" \
"             'utm_term', ARGV[12], 'utm_content', ARGV[13])\n" \
"end\n" \
"local ekey = p .. 'events:' .. vid\n" \
"if kind == 'page' then\n" \
"  redis.call('HINCRBY', vkey, 'visit_pages', 1)\n" \
"  redis.call('HSET', vkey, 'page_url', ARGV[6], 'page_title', ARGV[7], 'page_started', now)\n" \
"  redis.call('XADD', ekey, 'MAXLEN', '~', ARGV[17], '*', 'type', 'page_view', 'url', ARGV[6], 'title', ARGV[7], 'referrer', ARGV[8])\n" \
"else\n" \
"  redis.call('XADD', ekey, 'MAXLEN', '~', ARGV[17], '*', 'type', 'event', 'name', ARGV[14], 'props', ARGV[15])\n" \
"end\n" \
"redis.call('EXPIRE', ekey, ARGV[16])\n" \
"redis.call('HSET', vkey, 'last_event', now, 'last_seen', now)\n" \
"redis.call('ZADD', p .. 'visitors:active', now, vid)\n" \
"if kind == 'page' then\n" \
"  local v = redis.call('HMGET', vkey, 'visit_pages', 'visit_started', 'name')\n" \
"  bus('-', '-', 1, cjson.encode({type = 'visitor_update', visitor = {id = vid, page_url = ARGV[6], page_title = ARGV[7],\n" \
"      page_since = now, visit_pages = tonumber(v[1]), visit_started = tonumber(v[2]), name = v[3] or nil}}))\n" \
"end\n" \
"return profile(vid)\n"

/* ARGV: prefix, visitor, rule, text, agent, now, day, invitation -> profile_json
 * Records the invitation and the visitor's cap state in one step. */
#define BK_LUA_INVITE BK_LUA_PRELUDE, \
"local vid, rule, now, day = ARGV[2], ARGV[3], ARGV[6], ARGV[7]\n" \
"local vkey = p .. 'visitor:' .. vid\n" \
"if redis.call('HGET', vkey, 'conv') then return redis.error_reply('wrong_state the visitor is chatting already') end\n" \
"local ikey = p .. 'invitation:' .. ARGV[8]\n" \
"redis.call('HSET', ikey, 'rule', rule, 'visitor', vid, 'text', ARGV[4], 'agent', ARGV[5], 'created', now)\n" \
"redis.call('EXPIRE', ikey, 86400)\n" \
"redis.call('SADD', vkey .. ':invitations', ARGV[8])\n" \
"local visits = redis.call('HGET', vkey, 'visits') or '0'\n" \
"local ckey = vkey .. ':caps'\n" \
"local count, current = 1, redis.call('HGET', ckey, rule .. ':visit')\n" \
"if current then\n" \
"  local v, n = string.match(current, '^(%d+) (%d+)$')\n" \
"  if v == visits then count = tonumber(n) + 1 end\n" \
"end\n" \
"redis.call('HSET', ckey, rule .. ':visit', visits .. ' ' .. count, rule .. ':last', now)\n" \
"if redis.call('HGET', vkey, 'inv_day') ~= day then redis.call('HSET', vkey, 'inv_day', day, 'inv_today', 1)\n" \
"else redis.call('HINCRBY', vkey, 'inv_today', 1) end\n" \
"redis.call('HINCRBY', p .. 'stats:rules:' .. day, rule .. ':fired', 1)\n" \
"return profile(vid)\n"

/* ARGV: prefix, visitor, invitation, kind (shown|accepted|dismissed), now, day, new_conversation
 * -> {conversation ("" unless accepted), profile_json}
 * Accepting opens a queued conversation whose first message is the invitation. */
#define BK_LUA_INVITE_REPLY BK_LUA_PRELUDE, BK_LUA_WEBHOOK, \
"local vid, kind, now, day = ARGV[2], ARGV[4], tonumber(ARGV[5]), ARGV[6]\n" \
"local ikey = p .. 'invitation:' .. ARGV[3]\n" \
"local inv = redis.call('HMGET', ikey, 'rule', 'visitor', 'text', 'agent', 'state')\n" \
"if inv[2] ~= vid then return redis.error_reply('not_found no such invitation') end\n" \
"local rule, skey, vkey = inv[1], p .. 'stats:rules:' .. day, p .. 'visitor:' .. vid\n" \
"if kind == 'shown' then\n" \
"  if not inv[5] then\n" \
"    redis.call('HSET', ikey, 'state', 'shown')\n" \
"    redis.call('HINCRBY', skey, rule .. ':shown', 1)\n" \
"  end\n" \
"  return {'', profile(vid)}\n" \
"end\n" \
"if inv[5] == 'accepted' or inv[5] == 'dismissed' then return redis.error_reply('wrong_state the invitation was answered already') end\n" \
"redis.call('HSET', ikey, 'state', kind)\n" \
"redis.call('HINCRBY', skey, rule .. ':' .. kind, 1)\n" \
"if kind == 'dismissed' then\n" \
"  redis.call('HSET', vkey, 'last_dismissed', now)\n" \
"  return {'', profile(vid)}\n" \
"end\n" \
"local cid = redis.call('HGET', vkey, 'conv')\n" \
"local accepted = {invitation = ARGV[3], rule = rule, text = inv[3]}\n" \
"if cid then\n" \
"  accepted.conversation = cid\n" \
"  webhook(vid, 'invitation.accepted', accepted)\n" \
"  return {cid, profile(vid)}\n" \
"end\n" \
"cid = ARGV[7]\n" \
"redis.call('HSET', p .. 'conv:' .. cid .. ':meta', 'state', 'queued', 'visitor', vid, 'created', now,\n" \
"           'preview', inv[3], 'rule', rule, 'invitation', ARGV[3])\n" \
"redis.call('HSET', vkey, 'conv', cid, 'last_chat', now)\n" \
"redis.call('HINCRBY', vkey, 'chats', 1)\n" \
"redis.call('RPUSH', vkey .. ':convs', cid)\n" \
"queue_enter(cid, now)\n" \
"redis.call('HINCRBY', skey, rule .. ':chats', 1)\n" \
"local mid, frame = append(cid, 'agent', inv[4] or '', '', inv[3])\n" \
"bus(vid, '-', 0, conversation_frame(cid, 'queued'))\n" \
"bus('-', '-', 1, cjson.encode({type = 'queue_add', conversation = {id = cid, visitor = vid, created = now, preview = inv[3], rule = rule}}))\n" \
"bus(vid, '-', 0, frame)\n" \
"queue_changed()\n" \
"queue_tell(vid, cid, now)\n" \
"accepted.conversation = cid\n" \
"webhook(vid, 'invitation.accepted', accepted)\n" \
"webhook(vid, 'conversation.started', {conversation = cid, created = now, rule = rule, invitation = ARGV[3]})\n" \
"webhook(vid, 'message', {conversation = cid, message = {id = mid, from = 'agent', author = inv[4] or '', text = inv[3], ts = stamp(mid)}})\n" \
"return {cid, profile(vid)}\n"

/* ARGV: prefix, now, max_chats -> agents online with room for another chat */
#define BK_LUA_AGENTS_AVAILABLE BK_LUA_PRELUDE, \
"local available = 0\n" \
"for _, agent in ipairs(online_agents(ARGV[2])) do\n" \
"  if redis.call('SCARD', p .. 'agent:' .. agent .. ':convs') < tonumber(ARGV[3]) then available = available + 1 end\n" \
"end\n" \
"return available\n"

/* ---- rules, for marketers ------------------------------------------------------------ */

/* ARGV: prefix, session digest -> {agent, role} */
#define BK_LUA_AUTHORIZE BK_LUA_PRELUDE, \
"local agent = redis.call('GET', p .. 'session:' .. ARGV[2])\n" \
"if not agent then return redis.error_reply('unauthorized unknown or expired session token') end\n" \
"local role = redis.call('HGET', p .. 'agent:' .. agent, 'role')\n" \
"if redis.call('EXISTS', p .. 'agent:' .. agent) == 0 then return redis.error_reply('unauthorized no such agent') end\n" \
"return {agent, role or 'agent'}\n"

/* Shared by the rule scripts: record a version, publish the change to every node. */
#define BK_LUA_RULES_PRELUDE BK_LUA_PRELUDE, \
"local function rule_version(id, who, at, body)\n" \
"  local version = redis.call('INCR', p .. 'rules:version')\n" \
"  local head = '{\"version\":' .. version .. ',\"by\":' .. cjson.encode(who) .. ',\"at\":' .. at\n" \
"  redis.call('HSET', p .. 'rules:meta', id, head .. '}')\n" \
"  redis.call('RPUSH', p .. 'rules:history:' .. id, head .. ',' .. body .. '}')\n" \
"  redis.call('PUBLISH', p .. 'bus', '!rules - 0 {}')\n" \
"  return version\n" \
"end\n"

/* ARGV: prefix, id, rule_json (validated), who, now, only_if_absent -> version (0: kept) */
#define BK_LUA_RULE_SAVE BK_LUA_RULES_PRELUDE, \
"local id = ARGV[2]\n" \
"if ARGV[6] == '1' and redis.call('HEXISTS', p .. 'rules', id) == 1 then return 0 end\n" \
"redis.call('HSET', p .. 'rules', id, ARGV[3])\n" \
"return rule_version(id, ARGV[4], ARGV[5], '\"rule\":' .. ARGV[3])\n"

/* ARGV: prefix, id, who, now -> version */
#define BK_LUA_RULE_DELETE BK_LUA_RULES_PRELUDE, \
"local id = ARGV[2]\n" \
"if redis.call('HDEL', p .. 'rules', id) == 0 then return redis.error_reply('not_found no such rule') end\n" \
"local version = rule_version(id, ARGV[3], ARGV[4], '\"deleted\":true')\n" \
"redis.call('HDEL', p .. 'rules:meta', id)\n" \
"return version\n"

/* ARGV: prefix, id, version, who, now -> {new_version, rule_json} */
#define BK_LUA_RULE_REVERT BK_LUA_RULES_PRELUDE, \
"local id, wanted = ARGV[2], tonumber(ARGV[3])\n" \
"for _, entry in ipairs(redis.call('LRANGE', p .. 'rules:history:' .. id, 0, -1)) do\n" \
"  local e = cjson.decode(entry)\n" \
"  if e.version == wanted then\n" \
"    if not e.rule then return redis.error_reply('wrong_state that version is a deletion') end\n" \
"    local body = cjson.encode(e.rule)\n" \
"    redis.call('HSET', p .. 'rules', id, body)\n" \
"    return {rule_version(id, ARGV[4], ARGV[5], '\"rule\":' .. body), body}\n" \
"  end\n" \
"end\n" \
"return redis.error_reply('not_found no such version of this rule')\n"

/* ARGV: prefix, id ("" = all) -> {id, rule_json, meta_json, ...} */
#define BK_LUA_RULES_GET BK_LUA_PRELUDE, \
"local out = {}\n" \
"local ids = ARGV[2] ~= '' and {ARGV[2]} or redis.call('HKEYS', p .. 'rules')\n" \
"table.sort(ids)\n" \
"for _, id in ipairs(ids) do\n" \
"  local rule = redis.call('HGET', p .. 'rules', id)\n" \
"  if rule then\n" \
"    out[#out + 1] = id\n" \
"    out[#out + 1] = rule\n" \
"    out[#out + 1] = redis.call('HGET', p .. 'rules:meta', id) or '{}'\n" \
"  end\n" \
"end\n" \
"return out\n"

/* ARGV: prefix, day, day, ... -> {day, flat_json, ...} */
#define BK_LUA_STATS BK_LUA_PRELUDE, \
"local out = {}\n" \
"for i = 2, #ARGV do\n" \
"  local flat = redis.call('HGETALL', p .. 'stats:rules:' .. ARGV[i])\n" \
"  if #flat > 0 then\n" \
"    local t = {}\n" \
"    for j = 1, #flat, 2 do t[flat[j]] = tonumber(flat[j + 1]) end\n" \
"    out[#out + 1] = ARGV[i]\n" \
"    out[#out + 1] = cjson.encode(t)\n" \
"  end\n" \
"end\n" \
"return out\n"

/* ARGV: prefix, day, then (rule, evaluated, matched) triples -> 1 */
#define BK_LUA_STATS_ADD BK_LUA_PRELUDE, \
"local key = p .. 'stats:rules:' .. ARGV[2]\n" \
"for i = 3, #ARGV - 2, 3 do\n" \
"  if ARGV[i + 1] ~= '0' then redis.call('HINCRBY', key, ARGV[i] .. ':evaluated', ARGV[i + 1]) end\n" \
"  if ARGV[i + 2] ~= '0' then redis.call('HINCRBY', key, ARGV[i] .. ':matched', ARGV[i + 2]) end\n" \
"end\n" \
"return 1\n"

/* ARGV: prefix, visitor -> profile_json, or an error when the visitor is unknown */
#define BK_LUA_PROFILE BK_LUA_PRELUDE, \
"if redis.call('EXISTS', p .. 'visitor:' .. ARGV[2]) == 0 then return redis.error_reply('not_found no such visitor') end\n" \
"return profile(ARGV[2])\n"

/* ---- what agents see of visitors, and do for them ------------------------------------ */

/* ARGV: prefix, visitor, name, email, attrs_json ("" = unchanged), verified user id ("" = none)
 * -> profile_json. The user id arrives here only once its signature was checked; without one,
 * a name or email may not replace a verified identity, nor enter a profile on a site that
 * enforces signed identities. */
#define BK_LUA_IDENTIFY BK_LUA_PRELUDE, BK_LUA_VISITOR_PROMISES, \
"local vkey = p .. 'visitor:' .. ARGV[2]\n" \
"if ARGV[6] ~= '' then redis.call('HSET', vkey, 'user_id', ARGV[6], 'verified', 1)\n" \
"elseif (ARGV[3] ~= '' or ARGV[4] ~= '') and not contact_writable(vkey) then\n" \
"  return redis.error_reply('forbidden this site signs its visitors\\' identities: a name or email needs id and hash from the site\\'s backend')\n" \
"end\n" \
"if ARGV[3] ~= '' then redis.call('HSET', vkey, 'name', ARGV[3]) end\n" \
"if ARGV[4] ~= '' then redis.call('HSET', vkey, 'email', ARGV[4]) end\n" \
"if ARGV[5] ~= '' then redis.call('HSET', vkey, 'attrs', ARGV[5]) end\n" \
"return profile(ARGV[2])\n"

/* ARGV: prefix, visitor, name, email, text, now -> id
 * The name and email go into the visitor's profile only where unverified details may
 * (contact_writable); otherwise they stay with this message alone, marked unverified, and
 * the verified profile is untouched. */
#define BK_LUA_LEAVE_MESSAGE BK_LUA_PRELUDE, BK_LUA_WEBHOOK, BK_LUA_VISITOR_PROMISES, \
"local vid, name, email, text = ARGV[2], ARGV[3], ARGV[4], ARGV[5]\n" \
"local vkey = p .. 'visitor:' .. vid\n" \
"local unverified = nil\n" \
"if contact_writable(vkey) then\n" \
"  redis.call('HSET', vkey, 'email', email)\n" \
"  if name ~= '' then redis.call('HSET', vkey, 'name', name) end\n" \
"else\n" \
"  unverified = true\n" \
"end\n" \
"local id = redis.call('XADD', p .. 'left', 'MAXLEN', '~', 10000, '*', 'visitor', vid, 'name', name, 'email', email, 'text', text,\n" \
"                     'unverified', unverified and '1' or '0')\n" \
"bus('-', '-', 1, cjson.encode({type = 'left_message', message = {id = id, visitor = vid, name = name, email = email, text = text,\n" \
"                              unverified = unverified, ts = stamp(id)}}))\n" \
"webhook(vid, 'message.left', {id = id, name = name, email = email, text = text, unverified = unverified, ts = stamp(id)})\n" \
"return id\n"

/* ARGV: prefix -> messages_json (newest first) */
#define BK_LUA_LEFT_MESSAGES BK_LUA_PRELUDE, \
"local out = {}\n" \
"for _, e in ipairs(redis.call('XREVRANGE', p .. 'left', '+', '-', 'COUNT', 100)) do\n" \
"  local m = {id = e[1], ts = stamp(e[1])}\n" \
"  for j = 1, #e[2], 2 do m[e[2][j]] = e[2][j + 1] end\n" \
"  m.unverified = m.unverified == '1' or nil\n" \
"  out[#out + 1] = m\n" \
"end\n" \
"return #out > 0 and cjson.encode(out) or '[]'\n"

/* ARGV: prefix, conversation, agent, cmid, text, sender -> {conversation, id, duplicate}
 * A note is for agents: stored in the conversation, never sent to the visitor. */
#define BK_LUA_NOTE BK_LUA_PRELUDE, \
"local cid, agent, cmid = ARGV[2], ARGV[3], ARGV[4]\n" \
"local ckey = p .. 'conv:' .. cid\n" \
"local owner = redis.call('HMGET', ckey .. ':meta', 'state', 'agent')\n" \
"if not owner[1] then return redis.error_reply('not_found no such conversation') end\n" \
"local seen = redis.call('HGET', ckey .. ':cmids', cmid)\n" \
"if seen then return {cid, seen, 1} end\n" \
"local id, frame = append(cid, 'note', agent, cmid, ARGV[5])\n" \
"redis.call('HSET', ckey .. ':cmids', cmid, id)\n" \
"bus_except(ARGV[6], '-', agent, frame)\n" \
"if owner[2] and owner[2] ~= agent then bus('-', owner[2], 0, frame) end\n" \
"return {cid, id, 0}\n"

/* ARGV: prefix, conversation, from_agent, to_agent -> 1 */
#define BK_LUA_TRANSFER BK_LUA_PRELUDE, \
"local cid, from, to = ARGV[2], ARGV[3], ARGV[4]\n" \
"local mkey = p .. 'conv:' .. cid .. ':meta'\n" \
"local meta = redis.call('HMGET', mkey, 'state', 'agent', 'visitor')\n" \
"if not meta[1] then return redis.error_reply('not_found no such conversation') end\n" \
"if meta[1] ~= 'active' or meta[2] ~= from then return redis.error_reply('forbidden only the agent in the chat can transfer it') end\n" \
"if to == from then return redis.error_reply('wrong_state the chat is yours already') end\n" \
"if redis.call('EXISTS', p .. 'agent:' .. to) == 0 then return redis.error_reply('not_found no agent named ' .. to) end\n" \
"redis.call('HSET', mkey, 'agent', to)\n" \
"redis.call('SREM', p .. 'agent:' .. from .. ':convs', cid)\n" \
"redis.call('SADD', p .. 'agent:' .. to .. ':convs', cid)\n" \
"local _, frame = append(cid, 'system', '', '', from .. ' transferred the chat to ' .. to)\n" \
"local conv = conversation_frame(cid, 'active', to)\n" \
"bus(meta[3], from, 0, frame)\n" \
"bus('-', to, 0, frame)\n" \
"bus(meta[3], from, 0, conv)\n" \
"bus('-', to, 0, conv)\n" \
"return 1\n"

/* ARGV: prefix, agent, status (online|away), expiry_ms, node -> 1 */
#define BK_LUA_STATUS BK_LUA_PRELUDE, \
"redis.call('HSET', p .. 'agent:' .. ARGV[2], 'status', ARGV[3])\n" \
"if ARGV[3] == 'away' then presence_drop(ARGV[2])\n" \
"else redis.call('ZADD', p .. 'presence', ARGV[4], ARGV[2] .. '@' .. ARGV[5]) end\n" \
"return 1\n"

/* ARGV: prefix, expiry_ms, now, node, agent... -> 1: refreshes the agents this node holds,
 * unless away */
#define BK_LUA_HEARTBEAT BK_LUA_PRELUDE, \
"redis.call('ZREMRANGEBYSCORE', p .. 'presence', '-inf', '(' .. ARGV[3])\n" \
"for i = 5, #ARGV do\n" \
"  if redis.call('HGET', p .. 'agent:' .. ARGV[i], 'status') ~= 'away' then\n" \
"    redis.call('ZADD', p .. 'presence', ARGV[2], ARGV[i] .. '@' .. ARGV[4])\n" \
"  end\n" \
"end\n" \
"-- the node hears this back on its bus link: the proof the link still works\n" \
"redis.call('PUBLISH', p .. 'bus', '!ping ' .. ARGV[4] .. ' 0 -')\n" \
"return 1\n"

/* ARGV: prefix, visitor -> visitor_json (the sidebar) */
#define BK_LUA_VISITOR_DETAILS BK_LUA_PRELUDE, \
"local vid = ARGV[2]\n" \
"local vkey = p .. 'visitor:' .. vid\n" \
"if redis.call('EXISTS', vkey) == 0 then return redis.error_reply('not_found no such visitor') end\n" \
"local h = {}\n" \
"local flat = redis.call('HGETALL', vkey)\n" \
"for i = 1, #flat, 2 do h[flat[i]] = flat[i + 1] end\n" \
"local function num(x) return x and tonumber(x) or nil end\n" \
"local function str(x) return (x and x ~= '') and x or nil end\n" \
"local v = {id = vid, name = str(h.name), email = str(h.email), lang = str(h.lang), device = str(h.device),\n" \
"  site = str(h.site), visits = num(h.visits), chats = num(h.chats), first_seen = num(h.created),\n" \
"  last_seen = num(h.last_seen), visit_started = num(h.visit_started), visit_pages = num(h.visit_pages),\n" \
"  referrer = str(h.visit_referrer), conversation = str(h.conv), user_id = str(h.user_id),\n" \
"  verified = h.verified == '1', consent = h.consent and h.consent == '1' or nil}\n" \
"if h.attrs then v.attrs = cjson.decode(h.attrs) end\n" \
"local utm = {}\n" \
"for _, k in ipairs({'source', 'medium', 'campaign', 'term', 'content'}) do utm[k] = str(h['utm_' .. k]) end\n" \
"if next(utm) then v.utm = utm end\n" \
"if h.page_url then v.page = {url = h.page_url, title = h.page_title or '', since = num(h.page_started)} end\n" \
"local pages = {}\n" \
"local started = num(h.visit_started) or 0\n" \
"for _, e in ipairs(redis.call('XREVRANGE', p .. 'events:' .. vid, '+', '-', 'COUNT', 500)) do\n" \
"  local ts = stamp(e[1])\n" \
"  if ts < started or #pages >= 50 then break end\n" \
"  local f = {}\n" \
"  for j = 1, #e[2], 2 do f[e[2][j]] = e[2][j + 1] end\n" \
"  if f.type == 'page_view' then table.insert(pages, 1, {url = f.url, title = f.title, ts = ts}) end\n" \
"end\n" \
"local convs = {}\n" \
"local ids = redis.call('LRANGE', vkey .. ':convs', -20, -1)\n" \
"for i = #ids, 1, -1 do\n" \
"  local m = redis.call('HMGET', p .. 'conv:' .. ids[i] .. ':meta', 'state', 'created', 'closed', 'agent', 'rule', 'rating')\n" \
"  if m[1] then convs[#convs + 1] = {id = ids[i], state = m[1], created = num(m[2]), closed = num(m[3]),\n" \
"    agent = m[4] or nil, rule = m[5] or nil, rating = num(m[6])} end\n" \
"end\n" \
"return '{\"visitor\":' .. cjson.encode(v) .. ',\"pages\":' .. (#pages > 0 and cjson.encode(pages) or '[]') ..\n" \
"       ',\"conversations\":' .. (#convs > 0 and cjson.encode(convs) or '[]') .. '}'\n"

/* ARGV: prefix, now, window_ms -> visitors_json (most recent first) */
#define BK_LUA_VISITORS BK_LUA_PRELUDE, \
"local now, window = tonumber(ARGV[2]), tonumber(ARGV[3])\n" \
"local akey = p .. 'visitors:active'\n" \
"redis.call('ZREMRANGEBYSCORE', akey, '-inf', '(' .. (now - 24 * 3600 * 1000))\n" \
"local out = {}\n" \
"for _, vid in ipairs(redis.call('ZREVRANGEBYSCORE', akey, '+inf', now - window, 'LIMIT', 0, 200)) do\n" \
"  local h = redis.call('HMGET', p .. 'visitor:' .. vid, 'name', 'page_url', 'page_title', 'page_started',\n" \
"                       'visit_started', 'visit_pages', 'visits', 'conv')\n" \
"  out[#out + 1] = {id = vid, name = h[1] or nil, page_url = h[2] or nil, page_title = h[3] or nil,\n" \
"    page_since = tonumber(h[4]), visit_started = tonumber(h[5]), visit_pages = tonumber(h[6]),\n" \
"    visits = tonumber(h[7]), conversation = h[8] or nil}\n" \
"end\n" \
"return #out > 0 and cjson.encode(out) or '[]'\n"

/* ARGV: prefix, visitor, agent, text, now, invitation, day -> 1
 * An agent invites a visitor by hand: recorded like a rule's invitation (rule "manual"). */
#define BK_LUA_MANUAL_INVITE BK_LUA_PRELUDE, \
"local vid, agent, text, iid = ARGV[2], ARGV[3], ARGV[4], ARGV[6]\n" \
"local vkey = p .. 'visitor:' .. vid\n" \
"if redis.call('EXISTS', vkey) == 0 then return redis.error_reply('not_found no such visitor') end\n" \
"if redis.call('HGET', vkey, 'conv') then return redis.error_reply('wrong_state the visitor is chatting already') end\n" \
"local ikey = p .. 'invitation:' .. iid\n" \
"redis.call('HSET', ikey, 'rule', 'manual', 'visitor', vid, 'text', text, 'agent', agent, 'created', ARGV[5])\n" \
"redis.call('EXPIRE', ikey, 86400)\n" \
"redis.call('SADD', vkey .. ':invitations', iid)\n" \
"redis.call('HINCRBY', p .. 'stats:rules:' .. ARGV[7], 'manual:fired', 1)\n" \
"bus(vid, '-', 0, cjson.encode({type = 'invite', invitation = iid, rule = 'manual', text = text, agent = agent}))\n" \
"return 1\n"

/* ---- accounts ------------------------------------------------------------------------- */

/* ARGV: prefix, name, ip, max_per_name, max_per_ip -> {password_hash|false, role|false, blocked} */
#define BK_LUA_LOGIN_BEGIN BK_LUA_PRELUDE, \
"local fails = tonumber(redis.call('GET', p .. 'login:fail:' .. ARGV[2]) or '0')\n" \
"local ip_fails = tonumber(redis.call('GET', p .. 'login:fail:ip:' .. ARGV[3]) or '0')\n" \
"local blocked = (fails >= tonumber(ARGV[4]) or ip_fails >= tonumber(ARGV[5])) and 1 or 0\n" \
"local a = redis.call('HMGET', p .. 'agent:' .. ARGV[2], 'password', 'role')\n" \
"return {a[1], a[2], blocked}\n"

/* ARGV: prefix, name, ip, window_seconds -> 1 */
#define BK_LUA_LOGIN_FAILED BK_LUA_PRELUDE, \
"for _, key in ipairs({p .. 'login:fail:' .. ARGV[2], p .. 'login:fail:ip:' .. ARGV[3]}) do\n" \
"  if redis.call('INCR', key) == 1 then redis.call('EXPIRE', key, ARGV[4]) end\n" \
"end\n" \
"return 1\n"

/* ARGV: prefix, session digest, name, seconds -> 1
 * The agent's set of sessions lets a password change end every one of them. */
#define BK_LUA_SESSION_OPEN BK_LUA_PRELUDE, \
"redis.call('SET', p .. 'session:' .. ARGV[2], ARGV[3], 'EX', ARGV[4])\n" \
"local skey = p .. 'agent:' .. ARGV[3] .. ':sessions'\n" \
"redis.call('SADD', skey, ARGV[2])\n" \
"redis.call('EXPIRE', skey, ARGV[4])\n" \
"redis.call('DEL', p .. 'login:fail:' .. ARGV[3])\n" \
"return 1\n"

/* Ends every session of an agent and closes their sockets on every node. */
#define BK_LUA_ACCOUNTS_PRELUDE BK_LUA_PRELUDE, \
"local function sessions_end(name)\n" \
"  local skey = p .. 'agent:' .. name .. ':sessions'\n" \
"  for _, digest in ipairs(redis.call('SMEMBERS', skey)) do redis.call('DEL', p .. 'session:' .. digest) end\n" \
"  redis.call('DEL', skey)\n" \
"  redis.call('PUBLISH', p .. 'bus', '!logout ' .. name .. ' 0 {}')\n" \
"end\n"

/* ARGV: prefix, name, password_hash ("" = keep), role ("" = keep), now, create (0|1) -> 1 */
#define BK_LUA_ACCOUNT_SAVE BK_LUA_ACCOUNTS_PRELUDE, \
"local name, hash, role = ARGV[2], ARGV[3], ARGV[4]\n" \
"local key = p .. 'agent:' .. name\n" \
"local exists = redis.call('EXISTS', key) == 1\n" \
"if ARGV[6] == '1' and exists then return redis.error_reply('wrong_state an account with this name exists') end\n" \
"if ARGV[6] == '0' and not exists then return redis.error_reply('not_found no such account') end\n" \
"if ARGV[6] == '1' then redis.call('HSET', key, 'name', name, 'created', ARGV[5]); redis.call('SADD', p .. 'agents', name) end\n" \
"if role ~= '' then redis.call('HSET', key, 'role', role) end\n" \
"if hash ~= '' then\n" \
"  redis.call('HSET', key, 'password', hash, 'updated', ARGV[5])\n" \
"  if ARGV[6] == '0' then sessions_end(name) end\n" \
"end\n" \
"return 1\n"

/* ARGV: prefix, name -> 1 */
#define BK_LUA_ACCOUNT_DELETE BK_LUA_ACCOUNTS_PRELUDE, \
"local name = ARGV[2]\n" \
"if redis.call('DEL', p .. 'agent:' .. name) == 0 then return redis.error_reply('not_found no such account') end\n" \
"redis.call('SREM', p .. 'agents', name)\n" \
"presence_drop(name)\n" \
"sessions_end(name)\n" \
"return 1\n"

/* ARGV: prefix, now -> accounts_json */
#define BK_LUA_ACCOUNTS_LIST BK_LUA_PRELUDE, \
"local out, live = {}, {}\n" \
"for _, name in ipairs(online_agents(ARGV[2])) do live[name] = true end\n" \
"local names = redis.call('SMEMBERS', p .. 'agents')\n" \
"table.sort(names)\n" \
"for _, name in ipairs(names) do\n" \
"  local a = redis.call('HMGET', p .. 'agent:' .. name, 'role', 'created', 'status')\n" \
"  local online = live[name] == true\n" \
"  out[#out + 1] = {name = name, role = a[1] or 'agent', created = tonumber(a[2]), status = a[3] or 'online', online = online}\n" \
"end\n" \
"return #out > 0 and cjson.encode(out) or '[]'\n"

/* ---- privacy ----------------------------------------------------------------------------- */

/* The keys that hold a visitor's data, shared by export and erasure. */
#define BK_LUA_PRIVACY_PRELUDE BK_LUA_PRELUDE, \
"local function hash_of(key)\n" \
"  local t, flat = {}, redis.call('HGETALL', key)\n" \
"  for i = 1, #flat, 2 do t[flat[i]] = flat[i + 1] end\n" \
"  return t\n" \
"end\n" \
"local function entries_of(key)\n" \
"  local out = {}\n" \
"  for _, e in ipairs(redis.call('XRANGE', key, '-', '+')) do\n" \
"    local m = {id = e[1]}\n" \
"    for j = 1, #e[2], 2 do m[e[2][j]] = e[2][j + 1] end\n" \
"    out[#out + 1] = m\n" \
"  end\n" \
"  return out\n" \
"end\n" \
"local function left_by(vid)\n" \
"  local out = {}\n" \
"  for _, m in ipairs(entries_of(p .. 'left')) do if m.visitor == vid then out[#out + 1] = m end end\n" \
"  return out\n" \
"end\n"

/* ARGV: prefix, visitor -> export_json: everything held about the visitor */
#define BK_LUA_VISITOR_EXPORT BK_LUA_PRIVACY_PRELUDE, \
"local vid = ARGV[2]\n" \
"local vkey = p .. 'visitor:' .. vid\n" \
"if redis.call('EXISTS', vkey) == 0 then return redis.error_reply('not_found no such visitor') end\n" \
"local convs = {}\n" \
"for _, cid in ipairs(redis.call('LRANGE', vkey .. ':convs', 0, -1)) do\n" \
"  convs[#convs + 1] = {id = cid, meta = hash_of(p .. 'conv:' .. cid .. ':meta'), messages = entries_of(p .. 'conv:' .. cid)}\n" \
"end\n" \
"local invitations = {}\n" \
"for _, iid in ipairs(redis.call('SMEMBERS', vkey .. ':invitations')) do\n" \
"  local inv = hash_of(p .. 'invitation:' .. iid)\n" \
"  if next(inv) then inv.id = iid; invitations[#invitations + 1] = inv end\n" \
"end\n" \
"local function list(t) return #t > 0 and cjson.encode(t) or '[]' end\n" \
"return '{\"visitor\":' .. cjson.encode(hash_of(vkey)) .. ',\"caps\":' .. cjson.encode(hash_of(vkey .. ':caps')) ..\n" \
"  ',\"events\":' .. list(entries_of(p .. 'events:' .. vid)) .. ',\"conversations\":' .. list(convs) ..\n" \
"  ',\"invitations\":' .. list(invitations) .. ',\"left_messages\":' .. list(left_by(vid)) .. '}'\n"

/* ARGV: prefix, visitor -> keys deleted
 * Erases the visitor: profile, events, conversations (messages, notes, ratings),
 * invitations, messages left, and every index that names them. Daily stats are counts
 * per rule and name nobody. Their sockets are closed on every node. */
#define BK_LUA_VISITOR_FORGET BK_LUA_PRIVACY_PRELUDE, \
"local vid = ARGV[2]\n" \
"local vkey = p .. 'visitor:' .. vid\n" \
"if redis.call('EXISTS', vkey) == 0 and redis.call('EXISTS', p .. 'events:' .. vid) == 0 then\n" \
"  return redis.error_reply('not_found no such visitor')\n" \
"end\n" \
"local deleted = 0\n" \
"for _, cid in ipairs(redis.call('LRANGE', vkey .. ':convs', 0, -1)) do\n" \
"  local agent = redis.call('HGET', p .. 'conv:' .. cid .. ':meta', 'agent')\n" \
"  if agent then redis.call('SREM', p .. 'agent:' .. agent .. ':convs', cid) end\n" \
"  if queue_leave(cid) == 1 then\n" \
"    bus('-', '-', 1, cjson.encode({type = 'queue_remove', conversation = cid, reason = 'erased'}))\n" \
"    queue_changed()\n" \
"  end\n" \
"  deleted = deleted + redis.call('DEL', p .. 'conv:' .. cid, p .. 'conv:' .. cid .. ':meta', p .. 'conv:' .. cid .. ':cmids')\n" \
"end\n" \
"for _, iid in ipairs(redis.call('SMEMBERS', vkey .. ':invitations')) do\n" \
"  deleted = deleted + redis.call('DEL', p .. 'invitation:' .. iid)\n" \
"end\n" \
"for _, m in ipairs(left_by(vid)) do deleted = deleted + redis.call('XDEL', p .. 'left', m.id) end\n" \
"redis.call('ZREM', p .. 'visitors:active', vid)\n" \
"redis.call('ZREM', p .. 'visitors:seen', vid)\n" \
"deleted = deleted + redis.call('DEL', vkey, vkey .. ':caps', vkey .. ':convs', vkey .. ':cmids',\n" \
"                                vkey .. ':invitations', p .. 'events:' .. vid)\n" \
"for _, site in ipairs(redis.call('SMEMBERS', p .. 'hooks:sites')) do\n" \
"  for _, e in ipairs(redis.call('XRANGE', p .. 'hooks:' .. site, '-', '+')) do\n" \
"    if e[2][3] == 'visitor' and e[2][4] == vid then deleted = deleted + redis.call('XDEL', p .. 'hooks:' .. site, e[1]) end\n" \
"  end\n" \
"end\n" \
"redis.call('PUBLISH', p .. 'bus', '!forget - 0 ' .. vid)\n" \
"return deleted\n"

/* ---- sites ----------------------------------------------------------------------------- */

/* ARGV: prefix, visitor, granted (0|1) -> profile_json
 * Withdrawing consent deletes the browsing events held and stops tracking. */
#define BK_LUA_CONSENT BK_LUA_PRELUDE, \
"local vkey = p .. 'visitor:' .. ARGV[2]\n" \
"redis.call('HSET', vkey, 'consent', ARGV[3])\n" \
"if ARGV[3] == '0' then\n" \
"  redis.call('DEL', p .. 'events:' .. ARGV[2])\n" \
"  redis.call('HDEL', vkey, 'page_url', 'page_title', 'page_started', 'visit_pages', 'visit_referrer',\n" \
"             'utm_source', 'utm_medium', 'utm_campaign', 'utm_term', 'utm_content')\n" \
"end\n" \
"return profile(ARGV[2])\n"

/* ARGV: prefix, id, then (field, value) pairs: the fields a request names, already checked
 * (server/http/sites.c); an empty value removes the field; a name ending in '?' sets that field
 * only when it has no value yet (a generated webhook secret) -> 1, plus 1 for each '?' field
 * that was set. A site with a webhook_url is in hooks:sites; without one its undelivered
 * webhook events are dropped. */
#define BK_LUA_SITE_SAVE BK_LUA_PRELUDE, \
"local key = p .. 'site:' .. ARGV[2]\n" \
"redis.call('SADD', p .. 'sites', ARGV[2])\n" \
"local filled = 0\n" \
"for i = 3, #ARGV - 1, 2 do\n" \
"  local unset_only = string.match(ARGV[i], '^(.+)%?$')\n" \
"  if unset_only then filled = filled + redis.call('HSETNX', key, unset_only, ARGV[i + 1])\n" \
"  elseif ARGV[i + 1] == '' then redis.call('HDEL', key, ARGV[i]) else redis.call('HSET', key, ARGV[i], ARGV[i + 1]) end\n" \
"end\n" \
"if not redis.call('HGET', key, 'origins') then redis.call('HSET', key, 'origins', '[]') end\n" \
"if redis.call('HGET', key, 'webhook_url') then redis.call('SADD', p .. 'hooks:sites', ARGV[2])\n" \
"elseif redis.call('SREM', p .. 'hooks:sites', ARGV[2]) == 1 then\n" \
"  redis.call('DEL', p .. 'hooks:' .. ARGV[2], p .. 'hooks:' .. ARGV[2] .. ':cursor', p .. 'hooks:' .. ARGV[2] .. ':retry')\n" \
"end\n" \
"return 1 + filled\n"

/* ARGV: prefix, id -> 1 */
#define BK_LUA_SITE_DELETE BK_LUA_PRELUDE, \
"if redis.call('SREM', p .. 'sites', ARGV[2]) == 0 then return redis.error_reply('not_found no such site') end\n" \
"redis.call('DEL', p .. 'site:' .. ARGV[2])\n" \
"redis.call('SREM', p .. 'hooks:sites', ARGV[2])\n" \
"local hkey = p .. 'hooks:' .. ARGV[2]\n" \
"redis.call('DEL', hkey, hkey .. ':cursor', hkey .. ':lease', hkey .. ':failures', hkey .. ':last', hkey .. ':retry')\n" \
"return 1\n"

/* ARGV: prefix, now, visitor... -> 1. A node confirms the visitors it holds sockets of; one
 * erased meanwhile (no profile any more) is not brought back. GT: nodes' clocks differ a
 * little, and a visitor must never move back in time. */
#define BK_LUA_VISITORS_SEEN BK_LUA_PRELUDE, \
"for i = 3, #ARGV do\n" \
"  if redis.call('EXISTS', p .. 'visitor:' .. ARGV[i]) == 1 then\n" \
"    redis.call('ZADD', p .. 'visitors:seen', 'GT', ARGV[2], ARGV[i])\n" \
"  end\n" \
"end\n" \
"return 1\n"

/* ARGV: prefix -> (site, hours, tz) triples, "" for none: what every node compiles, so the
 * queue sweep knows which sites are closed whatever node saw their visitors. */
#define BK_LUA_SITES_HOURS BK_LUA_PRELUDE, \
"local out = {}\n" \
"for _, id in ipairs(redis.call('SMEMBERS', p .. 'sites')) do\n" \
"  local h = redis.call('HMGET', p .. 'site:' .. id, 'hours', 'tz')\n" \
"  out[#out + 1] = id\n" \
"  out[#out + 1] = h[1] or ''\n" \
"  out[#out + 1] = h[2] or ''\n" \
"end\n" \
"return out\n"

/* ARGV: prefix -> sites_json (secrets are not shown: only whether one is set) */
#define BK_LUA_SITES_LIST BK_LUA_PRELUDE, BK_LUA_HOOK_EVENTS, \
"local out = {}\n" \
"local ids = redis.call('SMEMBERS', p .. 'sites')\n" \
"table.sort(ids)\n" \
"for _, id in ipairs(ids) do\n" \
"  local h = redis.call('HMGET', p .. 'site:' .. id, 'origins', 'identity_secret', 'enforce_identity', 'consent_required',\n" \
"    'retention_days', 'hours', 'tz', 'auto_ack_seconds', 'offer_email_seconds', 'webhook_url', 'webhook_events', 'webhook_secret',\n" \
"    'abandoned_queued_minutes', 'idle_active_minutes')\n" \
"  out[#out + 1] = {id = id, origins = cjson.decode(h[1] or '[]'), identity_secret_set = (h[2] or '') ~= '',\n" \
"    enforce_identity = h[3] == '1', consent_required = h[4] == '1', retention_days = tonumber(h[5] or '0'),\n" \
"    hours = h[6] or cjson.null, tz = h[7] or cjson.null, auto_ack_seconds = tonumber(h[8] or '') or cjson.null,\n" \
"    offer_email_seconds = tonumber(h[9] or '') or cjson.null,\n" \
"    abandoned_queued_minutes = tonumber(h[13] or '') or cjson.null, idle_active_minutes = tonumber(h[14] or '') or cjson.null,\n" \
"    webhook = h[10] and {url = h[10], events = hook_events(h[11]), secret_hint = '****' .. string.sub(h[12] or '', -4)} or cjson.null}\n" \
"end\n" \
"return #out > 0 and cjson.encode(out) or '[]'\n"

/* ---- waiting ---------------------------------------------------------------------------- */

/* Conversations their visitor abandoned, closed by 'timeout' (for BK_LUA_QUEUE_SWEEP).
 * visitors:seen holds, per visitor, the last time a node confirmed a socket of theirs: at hello,
 * then with every heartbeat (chat.c), newest time kept. A visitor not confirmed for ttl ms has no
 * socket open anywhere, counted from then: a node that dies stops confirming its visitors, who
 * reconnect and are confirmed by another. A queued conversation is closed once its visitor has
 * been gone queued_ms; an active one once its visitor has been gone and nothing was written to it
 * for idle_ms. A site may set either limit in minutes (abandoned_queued_minutes,
 * idle_active_minutes; 0 = never). Only visitors gone at least the smallest limit are looked
 * at, 1000 and 100 closes a sweep at most (visitors:seen:offset: where the next sweep goes on),
 * so that a crowd leaving at once, or a week of visitors when the limits are turned on, never
 * holds Redis long; those without an open conversation leave the set. When every limit this node
 * knows is 0, it only drops visitors gone longer than any limit can be (10080 minutes): another
 * node may be configured otherwise. now_text and day are strings (now is written into the meta as given). */
#define BK_LUA_ABANDONED \
"local function abandoned_close(now_text, day, retention_days, queued_ms, idle_ms, ttl)\n" \
"  local now, seen, least = tonumber(now_text), p .. 'visitors:seen', nil\n" \
"  local function limit(site, field, default)\n" \
"    local minutes = site and tonumber(redis.call('HGET', p .. 'site:' .. site, field) or '')\n" \
"    return minutes and minutes * 60000 or default\n" \
"  end\n" \
"  local function consider(ms) if ms and ms > 0 and (not least or ms < least) then least = ms end end\n" \
"  consider(queued_ms); consider(idle_ms)\n" \
"  for _, site in ipairs(redis.call('SMEMBERS', p .. 'sites')) do\n" \
"    local h = redis.call('HMGET', p .. 'site:' .. site, 'abandoned_queued_minutes', 'idle_active_minutes')\n" \
"    for j = 1, 2 do consider(tonumber(h[j] or '') and tonumber(h[j]) * 60000) end\n" \
"  end\n" \
"  if not least then redis.call('ZREMRANGEBYSCORE', seen, '-inf', '(' .. (now - ttl - 10080 * 60000)); return end\n" \
"  local offset, scanned, dropped, closes = tonumber(redis.call('GET', seen .. ':offset') or '0'), 0, 0, 0\n" \
"  local gone = redis.call('ZRANGEBYSCORE', seen, '-inf', now - ttl - least, 'WITHSCORES', 'LIMIT', offset, 1000)\n" \
"  for i = 1, #gone, 2 do\n" \
"    if closes == 100 then break end\n" \
"    scanned = scanned + 1\n" \
"    local vid, since = gone[i], tonumber(gone[i + 1]) + ttl\n" \
"    local v = redis.call('HMGET', p .. 'visitor:' .. vid, 'conv', 'site')\n" \
"    local meta = v[1] and redis.call('HMGET', p .. 'conv:' .. v[1] .. ':meta', 'state', 'visitor', 'agent', 'rule')\n" \
"    local due = false\n" \
"    if not meta or not meta[1] or meta[1] == 'closed' then\n" \
"      dropped = dropped + redis.call('ZREM', seen, vid)\n" \
"    elseif meta[1] == 'queued' then\n" \
"      local ms = limit(v[2], 'abandoned_queued_minutes', queued_ms)\n" \
"      due = ms > 0 and since + ms <= now\n" \
"    elseif meta[1] == 'active' then\n" \
"      local ms = limit(v[2], 'idle_active_minutes', idle_ms)\n" \
"      if ms > 0 and since + ms <= now then\n" \
"        local last = redis.call('XREVRANGE', p .. 'conv:' .. v[1], '+', '-', 'COUNT', 1)[1]\n" \
"        due = (last and stamp(last[1]) or 0) + ms <= now\n" \
"      end\n" \
"    end\n" \
"    if due then\n" \
"      conversation_close(v[1], meta, 'timeout', '', now_text, day, retention_days)\n" \
"      dropped, closes = dropped + redis.call('ZREM', seen, vid), closes + 1\n" \
"    end\n" \
"  end\n" \
"  local next_offset = (#gone < 2000 and scanned * 2 == #gone) and 0 or offset + scanned - dropped\n" \
"  if next_offset ~= offset then redis.call('SET', seen .. ':offset', next_offset) end\n" \
"end\n"

/* ARGV: prefix, now, acknowledge_after_ms, offer_email_after_ms, day, retention_days,
 *       abandoned_queued_ms, idle_active_ms, seen_ttl_ms, closed_sites (",a,b," or "") -> 1
 * A visitor of a site outside its business hours is told so in the acknowledgement, and is
 * offered the email form with it rather than minutes later.
 * Run by every node each second; HSETNX makes each step happen once per conversation, and a
 * conversation closed as abandoned (BK_LUA_ABANDONED) is closed once.
 * Queue positions: a visitor entering the queue is told its own at once (queue_tell); when
 * the queue or the number of agents online has changed since the last announcement, the
 * sweep publishes the whole order once ("!queue"), and each node tells its own waiting
 * visitors (so they also learn when the last agent leaves). One message a second at
 * most, whatever the queue's length. */
#define BK_LUA_QUEUE_SWEEP BK_LUA_PRELUDE, BK_LUA_CLOSE_PRELUDE, BK_LUA_ABANDONED, \
"abandoned_close(ARGV[2], ARGV[5], ARGV[6], tonumber(ARGV[7]), tonumber(ARGV[8]), tonumber(ARGV[9]))\n" \
"local now = tonumber(ARGV[2])\n" \
"local texts = {en = 'We have seen your question and will answer shortly.',\n" \
"               da = 'Vi har set dit spørgsmål og svarer om lidt.',\n" \
"               nb = 'Vi har sett spørsmålet ditt og svarer snart.'}\n" \
"local closed_texts = {en = 'We have seen your question. We are closed right now and will answer when we are back.',\n" \
"               da = 'Vi har set dit spørgsmål. Vi har lukket lige nu og svarer, når vi er tilbage.',\n" \
"               nb = 'Vi har sett spørsmålet ditt. Vi har stengt nå og svarer når vi er tilbake.'}\n" \
"local closed_sites = ARGV[10] or ''\n" \
"local function site_closed(vid)\n" \
"  if closed_sites == '' or not vid then return false end\n" \
"  local site = redis.call('HGET', p .. 'visitor:' .. vid, 'site')\n" \
"  return site ~= false and string.find(closed_sites, ',' .. site .. ',', 1, true) ~= nil\n" \
"end\n", /* a second piece: one literal may hold 4095 bytes */ \
"local function site_ms(vid, field, default)\n" \
"  local site = vid and redis.call('HGET', p .. 'visitor:' .. vid, 'site')\n" \
"  local seconds = site and tonumber(redis.call('HGET', p .. 'site:' .. site, field) or '')\n" \
"  return seconds and seconds * 1000 or default\n" \
"end\n" \
"local function least_ms(field, default)\n" \
"  for _, site in ipairs(redis.call('SMEMBERS', p .. 'sites')) do\n" \
"    local seconds = tonumber(redis.call('HGET', p .. 'site:' .. site, field) or '')\n" \
"    if seconds and seconds * 1000 < default then default = seconds * 1000 end\n" \
"  end\n" \
"  return default\n" \
"end\n" \
"local ack_ms, offer_ms = tonumber(ARGV[3]), tonumber(ARGV[4])\n" \
"-- queue:to_ack and queue:to_offer hold the queued chats not yet acknowledged or offered, so\n" \
"-- a long queue costs nothing here once everyone in it has heard from us.\n" \
"if redis.call('SETNX', p .. 'queue:marks', 1) == 1 then\n" \
"  local q = redis.call('ZRANGE', p .. 'queue', 0, -1, 'WITHSCORES')\n" \
"  for i = 1, #q, 2 do\n" \
"    local m = redis.call('HMGET', p .. 'conv:' .. q[i] .. ':meta', 'acknowledged', 'email_offered')\n" \
"    if not m[1] then redis.call('ZADD', p .. 'queue:to_ack', q[i + 1], q[i]) end\n" \
"    if not m[2] then redis.call('ZADD', p .. 'queue:to_offer', q[i + 1], q[i]) end\n" \
"  end\n" \
"end\n" \
"local due = redis.call('ZRANGEBYSCORE', p .. 'queue:to_ack', '-inf', now - least_ms('auto_ack_seconds', ack_ms),\n" \
"                      'WITHSCORES', 'LIMIT', 0, 500)\n" \
"for i = 1, #due, 2 do\n" \
"  local cid, mkey = due[i], p .. 'conv:' .. due[i] .. ':meta'\n" \
"  local vid = redis.call('HGET', mkey, 'visitor')\n" \
"  local ripe = tonumber(due[i + 1]) + site_ms(vid, 'auto_ack_seconds', ack_ms) <= now\n" \
"  if ripe then redis.call('ZREM', p .. 'queue:to_ack', cid) end\n" \
"  if ripe and redis.call('HSETNX', mkey, 'acknowledged', now) == 1 then\n" \
"    local lang = string.lower(string.sub(redis.call('HGET', p .. 'visitor:' .. (vid or ''), 'lang') or 'en', 1, 2))\n" \
"    if lang == 'no' or lang == 'nn' then lang = 'nb' end\n" \
"    local closed = site_closed(vid)\n" \
"    local words = closed and closed_texts or texts\n" \
"    local _, frame = append(cid, 'system', '', '', words[lang] or words.en)\n" \
"    if vid then bus(vid, '-', 0, frame) end\n" \
"    if closed and redis.call('HSETNX', mkey, 'email_offered', now) == 1 then\n" \
"      redis.call('ZREM', p .. 'queue:to_offer', cid)\n" \
"      if vid then bus(vid, '-', 0, cjson.encode({type = 'offer_email', conversation = cid})) end\n" \
"    end\n" \
"  end\n" \
"end\n" \
"due = redis.call('ZRANGEBYSCORE', p .. 'queue:to_offer', '-inf', now - least_ms('offer_email_seconds', offer_ms),\n" \
"                'WITHSCORES', 'LIMIT', 0, 500)\n" \
"for i = 1, #due, 2 do\n" \
"  local cid, mkey = due[i], p .. 'conv:' .. due[i] .. ':meta'\n" \
"  local vid = redis.call('HGET', mkey, 'visitor')\n" \
"  local ripe = tonumber(due[i + 1]) + site_ms(vid, 'offer_email_seconds', offer_ms) <= now\n" \
"  if ripe then redis.call('ZREM', p .. 'queue:to_offer', cid) end\n" \
"  if ripe and redis.call('HSETNX', mkey, 'email_offered', now) == 1 then\n" \
"    if vid then bus(vid, '-', 0, cjson.encode({type = 'offer_email', conversation = cid})) end\n" \
"  end\n" \
"end\n" \
"local version = redis.call('GET', p .. 'queue:version') or '0'\n" \
"local online_now = tostring(#online_agents(now))\n" \
"local queue_moved = redis.call('GETSET', p .. 'queue:announced', version) ~= version\n" \
"local agents_moved = redis.call('GETSET', p .. 'queue:announced_online', online_now) ~= online_now\n" \
"if (queue_moved or agents_moved) and redis.call('ZCARD', p .. 'queue') > 0 then\n" \
"  local order = {}\n" \
"  for _, cid in ipairs(redis.call('ZRANGE', p .. 'queue', 0, -1)) do\n" \
"    order[#order + 1] = redis.call('HGET', p .. 'conv:' .. cid .. ':meta', 'visitor') or '-'\n" \
"    order[#order + 1] = cid\n" \
"  end\n" \
"  local avg, online = queue_wait_estimate(now)\n" \
"  redis.call('PUBLISH', p .. 'bus', '!queue - 0 ' .. cjson.encode({online = online, average_wait_ms = avg or cjson.null,\n" \
"    order = #order > 0 and order or cjson.null}))\n" \
"end\n" \
"return 1\n"

/* ---- service KPIs ----------------------------------------------------------------------- */

/* ARGV: prefix, day, day, ... -> per day {day, shown, accepted, chats, row, row, ...}: the
 * invitation counters summed over rules, then the day's fact rows (BK_LUA_SERVICE_ROW). */
#define BK_LUA_SERVICE_STATS BK_LUA_PRELUDE, \
"local out = {}\n" \
"for i = 2, #ARGV do\n" \
"  local sums = {shown = 0, accepted = 0, chats = 0}\n" \
"  local flat = redis.call('HGETALL', p .. 'stats:rules:' .. ARGV[i])\n" \
"  for j = 1, #flat, 2 do\n" \
"    local counter = string.match(flat[j], ':([%w_]+)$')\n" \
"    if sums[counter] then sums[counter] = sums[counter] + tonumber(flat[j + 1]) end\n" \
"  end\n" \
"  local entry = {ARGV[i], sums.shown, sums.accepted, sums.chats}\n" \
"  for _, row in ipairs(redis.call('HVALS', p .. 'svc:' .. ARGV[i])) do entry[#entry + 1] = row end\n" \
"  out[#out + 1] = entry\n" \
"end\n" \
"return out\n"

/* ---- webhooks (server/workers/webhooks.h) ----------------------------------------------------- */

/* The events a site's webhook_events names ("" = every event). */
#define BK_LUA_HOOK_EVENTS \
"local function hook_events(s)\n" \
"  local t = {}\n" \
"  for e in string.gmatch(s or '', '[^,]+') do t[#t + 1] = e end\n" \
"  if #t == 0 then t = {'conversation.started', 'message', 'conversation.closed', 'conversation.rated',\n" \
"                       'message.left', 'invitation.accepted'} end\n" \
"  return t\n" \
"end\n"

/* The next event of a site for this node to send, after the site's cursor, taking or renewing
 * the site's lease (one node sends a site's events, one at a time, so they arrive in order):
 * {site, id, event, body, url, secret}, or nil when there is nothing to send (the lease is let
 * go) or another node holds the lease. The body is built here, once; ts is the event's time. */
#define BK_LUA_HOOKS_PRELUDE BK_LUA_PRELUDE, \
"local function hook_next(site, node, lease)\n" \
"  local key = p .. 'hooks:' .. site\n" \
"  local holder = redis.call('GET', key .. ':lease')\n" \
"  if holder and holder ~= node then return nil end\n" \
"  local h = redis.call('HMGET', p .. 'site:' .. site, 'webhook_url', 'webhook_secret')\n" \
"  local cursor = redis.call('GET', key .. ':cursor')\n" \
"  local e = redis.call('XRANGE', key, cursor and ('(' .. cursor) or '-', '+', 'COUNT', 1)[1]\n" \
"  if not e or not h[1] then\n" \
"    if holder then redis.call('DEL', key .. ':lease') end\n" \
"    return nil\n" \
"  end\n" \
"  redis.call('SET', key .. ':lease', node, 'PX', lease)\n" \
"  local f = {}\n" \
"  for i = 1, #e[2], 2 do f[e[2][i]] = e[2][i + 1] end\n" \
"  local body = '{\"id\":\"' .. e[1] .. '\",\"event\":\"' .. f.event .. '\",\"site\":\"' .. site .. '\",\"ts\":' ..\n" \
"    string.match(e[1], '^(%d+)') .. ',\"data\":' .. f.data .. '}'\n" \
"  return {site, e[1], f.event, body, h[1], h[2] or ''}\n" \
"end\n"

/* ARGV: prefix, node, lease_ms, site ("" = every site with a webhook) -> rows of 6 (hook_next).
 * Run each second by every node, and at once for a site when its stream grew ("!hooks"). */
#define BK_LUA_HOOKS_CLAIM BK_LUA_HOOKS_PRELUDE, \
"local out = {}\n" \
"local sites = ARGV[4] ~= '' and {ARGV[4]} or redis.call('SMEMBERS', p .. 'hooks:sites')\n" \
"for _, site in ipairs(sites) do\n" \
"  local row = hook_next(site, ARGV[2], ARGV[3])\n" \
"  if row then for _, v in ipairs(row) do out[#out + 1] = v end end\n" \
"end\n" \
"return out\n"

/* ARGV: prefix, node, lease_ms, site, id, outcome (delivered|failed), status (0: none), error,
 *       attempts, now, event -> the next row (hook_next), or {}
 * When this node still holds the lease and id is still the next event, the cursor moves past
 * it, it leaves the stream, and the outcome is recorded (failures: the last 50, newest first). */
#define BK_LUA_HOOKS_DONE BK_LUA_HOOKS_PRELUDE, \
"local site, id, now, status = ARGV[4], ARGV[5], tonumber(ARGV[10]), tonumber(ARGV[7])\n" \
"local key = p .. 'hooks:' .. site\n" \
"if redis.call('GET', key .. ':lease') ~= ARGV[2] then return {} end\n" \
"local cursor = redis.call('GET', key .. ':cursor')\n" \
"local e = redis.call('XRANGE', key, cursor and ('(' .. cursor) or '-', '+', 'COUNT', 1)[1]\n" \
"if e and e[1] == id then\n" \
"  redis.call('SET', key .. ':cursor', id)\n" \
"  redis.call('XDEL', key, id)\n" \
"  redis.call('DEL', key .. ':retry')\n" \
"  if ARGV[6] == 'delivered' then\n" \
"    redis.call('SET', key .. ':last', cjson.encode({id = id, event = ARGV[11], status = status, at = now}))\n" \
"  else\n" \
"    redis.call('LPUSH', key .. ':failures', cjson.encode({id = id, event = ARGV[11], attempts = tonumber(ARGV[9]),\n" \
"      status = status ~= 0 and status or cjson.null, error = ARGV[8], at = now}))\n" \
"    redis.call('LTRIM', key .. ':failures', 0, 49)\n" \
"  end\n" \
"end\n" \
"return hook_next(site, ARGV[2], ARGV[3]) or {}\n"

/* ARGV: prefix, site, id, event, attempts, status (0: none), error, now, next_at -> 1
 * An attempt failed and another will follow: shown in GET /api/sites/{id}/webhook. */
#define BK_LUA_HOOKS_RETRY BK_LUA_PRELUDE, \
"local status = tonumber(ARGV[6])\n" \
"redis.call('SET', p .. 'hooks:' .. ARGV[2] .. ':retry', cjson.encode({id = ARGV[3], event = ARGV[4],\n" \
"  attempts = tonumber(ARGV[5]), status = status ~= 0 and status or cjson.null, error = ARGV[7],\n" \
"  at = tonumber(ARGV[8]), next_at = tonumber(ARGV[9])}), 'PX', 3600000)\n" \
"return 1\n"

/* ARGV: prefix, site -> id of the new ping event (it queues behind undelivered events) */
#define BK_LUA_HOOKS_PING BK_LUA_PRELUDE, \
"if redis.call('SISMEMBER', p .. 'hooks:sites', ARGV[2]) == 0 then\n" \
"  return redis.error_reply('not_found no such site, or it has no webhook_url')\n" \
"end\n" \
"local id = redis.call('XADD', p .. 'hooks:' .. ARGV[2], 'MAXLEN', '~', 10000, '*', 'event', 'ping', 'visitor', '', 'data', '{}')\n" \
"redis.call('PUBLISH', p .. 'bus', '!hooks ' .. ARGV[2] .. ' 0 -')\n" \
"return id\n"

/* ARGV: prefix, site -> status_json {url, events, secret_hint, pending, delivering, retry,
 *       last_delivery, failures} */
#define BK_LUA_HOOKS_STATUS BK_LUA_PRELUDE, BK_LUA_HOOK_EVENTS, \
"local site = ARGV[2]\n" \
"if redis.call('SISMEMBER', p .. 'sites', site) == 0 then return redis.error_reply('not_found no such site') end\n" \
"local key = p .. 'hooks:' .. site\n" \
"local h = redis.call('HMGET', p .. 'site:' .. site, 'webhook_url', 'webhook_events', 'webhook_secret')\n" \
"local function json_or_null(x) return x and cjson.encode(x) or 'null' end\n" \
"local lease = redis.call('GET', key .. ':lease')\n" \
"return '{\"url\":' .. json_or_null(h[1]) .. ',\"events\":' .. cjson.encode(hook_events(h[2])) ..\n" \
"  ',\"secret_hint\":' .. json_or_null(h[3] and ('****' .. string.sub(h[3], -4))) ..\n" \
"  ',\"pending\":' .. redis.call('XLEN', key) .. ',\"delivering\":' .. json_or_null(lease) ..\n" \
"  ',\"retry\":' .. (redis.call('GET', key .. ':retry') or 'null') ..\n" \
"  ',\"last_delivery\":' .. (redis.call('GET', key .. ':last') or 'null') ..\n" \
"  ',\"failures\":[' .. table.concat(redis.call('LRANGE', key .. ':failures', 0, 49), ',') .. ']}'\n"

/* ARGV: prefix, node, site... -> 1: the leases this node holds are given up (shutdown), so
 * the next node to start sends at once instead of waiting for them to expire. */
#define BK_LUA_HOOKS_RELEASE BK_LUA_PRELUDE, \
"for i = 3, #ARGV do\n" \
"  local key = p .. 'hooks:' .. ARGV[i] .. ':lease'\n" \
"  if redis.call('GET', key) == ARGV[2] then redis.call('DEL', key) end\n" \
"end\n" \
"return 1\n"

/* ---- transcripts by email ---------------------------------------------------------------- */

/* ARGV: prefix, visitor, conversation ("" = the last closed one), day, per_conversation,
 *       per_day, max_messages, max_bytes
 * -> {conversation, site, lang, messages_json, cut}
 * Only the visitor's own closed conversation that an agent took part in; what the visitor saw
 * (no notes), oldest first, cut after max_messages or max_bytes of text. Each request counts
 * against both limits here, atomically; TRANSCRIPT_REFUND gives it back when nothing was sent. */
#define BK_LUA_TRANSCRIPT BK_LUA_PRELUDE, \
"local vid, cid, day = ARGV[2], ARGV[3], ARGV[4]\n" \
"local per_conv, per_day, max_count, max_bytes = tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7]), tonumber(ARGV[8])\n" \
"local vkey = p .. 'visitor:' .. vid\n" \
"if cid == '' then cid = redis.call('HGET', vkey, 'last_conv') end\n" \
"if not cid then return redis.error_reply('not_found no closed conversation to send') end\n" \
"local mkey = p .. 'conv:' .. cid .. ':meta'\n" \
"local meta = redis.call('HMGET', mkey, 'state', 'visitor', 'accepted', 'transcripts')\n" \
"if meta[2] ~= vid then return redis.error_reply('not_found no such conversation') end\n" \
"if meta[1] ~= 'closed' then return redis.error_reply('wrong_state only a closed conversation can be sent') end\n" \
"if not meta[3] then return redis.error_reply('wrong_state no agent took part in this conversation') end\n" \
"if tonumber(meta[4] or '0') >= per_conv then\n" \
"  return redis.error_reply('rate_limited this conversation was sent ' .. per_conv .. ' times already')\n" \
"end\n" \
"local h = redis.call('HMGET', vkey, 'mail_day', 'mail_today', 'site', 'lang')\n" \
"local today = h[1] == day and tonumber(h[2] or '0') or 0\n" \
"if today >= per_day then return redis.error_reply('rate_limited at most ' .. per_day .. ' transcripts a day') end\n" \
"local out, bytes, cut = {}, 0, 0\n" \
"local entries = redis.call('XRANGE', p .. 'conv:' .. cid, '-', '+', 'COUNT', max_count + 1)\n" \
"-- more entries than were read (notes among them or not): the transcript says it stops early\n" \
"if #entries > max_count then cut = 1 end\n" \
"for _, e in ipairs(entries) do\n" \
"  local m = {}\n" \
"  for j = 1, #e[2], 2 do m[e[2][j]] = e[2][j + 1] end\n" \
"  if m.from ~= 'note' then\n" \
"    bytes = bytes + #(m.text or '') + #(m.author or '')\n" \
"    if #out >= max_count or bytes > max_bytes then cut = 1; break end\n" \
"    out[#out + 1] = {from = m.from, author = m.author or '', text = m.text or '', ts = stamp(e[1])}\n" \
"  end\n" \
"end\n" \
"redis.call('HINCRBY', mkey, 'transcripts', 1)\n" \
"redis.call('HSET', vkey, 'mail_day', day, 'mail_today', today + 1)\n" \
"return {cid, h[3] or '', h[4] or '', #out > 0 and cjson.encode(out) or '[]', cut}\n"

/* ARGV: prefix, visitor, conversation, day -> 1: a transcript that was not sent does not count */
#define BK_LUA_TRANSCRIPT_REFUND BK_LUA_PRELUDE, \
"local vkey, mkey = p .. 'visitor:' .. ARGV[2], p .. 'conv:' .. ARGV[3] .. ':meta'\n" \
"if tonumber(redis.call('HGET', mkey, 'transcripts') or '0') > 0 then redis.call('HINCRBY', mkey, 'transcripts', -1) end\n" \
"if redis.call('HGET', vkey, 'mail_day') == ARGV[4] and tonumber(redis.call('HGET', vkey, 'mail_today') or '0') > 0 then\n" \
"  redis.call('HINCRBY', vkey, 'mail_today', -1)\n" \
"end\n" \
"return 1\n"

#endif
