-- The anonymous fact row a closed conversation leaves for the service KPIs (server/stats/service_stats.h),
-- times in ms, absent = null. No visitor and no text: it outlives the conversation. A first
-- response given by email says so (first_response_channel): the KPIs report it apart.

-- team: {name, wait, first} (the team that had the chat, its targets in ms) or nil.
local function service_row(created, accepted, first_response, closed, agent, site, rule, rating, first_channel, team)
  local function num(x) local v = tonumber(x); return v and string.format('%d', v) or 'null' end
  local function str(x) return x and cjson.encode(x) or 'null' end
  return '{"created":' .. num(created) .. ',"accepted":' .. num(accepted) .. ',"first_response":' ..
    num(first_response) .. ',"closed":' .. num(closed) .. ',"agent":' .. str(agent) .. ',"site":' .. str(site) ..
    ',"rule":' .. str(rule) .. ',"rating":' .. num(rating) ..
    (first_channel == 'email' and ',"first_response_channel":"email"' or '') ..
    (team and (',"team":' .. str(team.name) .. ',"wait_target":' .. num(team.wait) .. ',"first_response_target":' ..
      num(team.first)) or '') .. '}'
end
