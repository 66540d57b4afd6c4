-- ARGV: prefix (a site's slot), agent... -> the number of active chats each agent has in this
-- slot, in the order asked (agents_available.lua).
--! uses: prelude
--! flags: no-writes

local out = {}
for i = 2, #ARGV do out[#out + 1] = redis.call('SCARD', p .. 'agent:' .. ARGV[i] .. ':convs') end
return out
