-- ARGV: prefix, conversation, agent, now -> 1: the agent declines the chat offered to them;
-- it is offered to the next member at once (routing.lua), and to them again only after every
-- other member was asked.
--! uses: prelude routing

local cid, agent, now = ARGV[2], ARGV[3], tonumber(ARGV[4])
local meta = redis.call('HMGET', p .. 'conv:' .. cid .. ':meta', 'state', 'offer', 'team', 'team_site')
if not meta[1] then return redis.error_reply('not_found no such conversation') end
if meta[2] ~= agent then return redis.error_reply('wrong_state the chat is not offered to you') end
offer_withdraw(cid, agent, 'declined')
local team = team_get(meta[4] or '', meta[3])
if team and team.mode == 'offer' then route_offer(cid, team, now) end
return 1
