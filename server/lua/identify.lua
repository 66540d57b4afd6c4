-- ARGV: prefix, visitor, name, email, attrs_json ("" = unchanged), verified user id ("" = none)
-- -> profile_json. The user id arrives here only once its signature was checked; without one,
-- a name or email may not replace a verified identity, nor enter a profile on a site that
-- enforces signed identities.
--! uses: prelude visitor_promises

local vkey = p .. 'visitor:' .. ARGV[2]
if ARGV[6] ~= '' then redis.call('HSET', vkey, 'user_id', ARGV[6], 'verified', 1)
elseif (ARGV[3] ~= '' or ARGV[4] ~= '') and not contact_writable(vkey) then
  return redis.error_reply('forbidden this site signs its visitors\' identities: a name or email needs id and hash from the site\'s backend')
end
if ARGV[3] ~= '' then redis.call('HSET', vkey, 'name', ARGV[3]) end
if ARGV[4] ~= '' then redis.call('HSET', vkey, 'email', ARGV[4]) end
if ARGV[5] ~= '' then redis.call('HSET', vkey, 'attrs', ARGV[5]) end
return profile(ARGV[2])
