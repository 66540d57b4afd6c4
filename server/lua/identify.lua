-- ARGV: prefix, visitor, name, email, attrs_json ("" = unchanged), verified user id ("" = none)
-- -> profile_json. The user id arrives here only once its signature was checked; without one,
-- a name or email may not replace a verified identity, nor enter a profile on a site that
-- enforces signed identities; with one, they fill only what that identity lacks.
--! uses: prelude visitor_promises

local vkey = p .. 'visitor:' .. ARGV[2]
if visitor_erased(vkey) then return redis.error_reply(erased_refusal) end
-- The signature covers the user id only. A name or email sent with it may fill what the signed
-- identity lacks, or start a new identity's, but never replace what the same identity has.
local keep = {}
if ARGV[6] ~= '' then
  local known = redis.call('HMGET', vkey, 'user_id', 'verified', 'name', 'email')
  if known[1] == ARGV[6] and known[2] == '1' then keep = {name = known[3], email = known[4]}
  else redis.call('HDEL', vkey, 'name', 'email') end
  redis.call('HSET', vkey, 'user_id', ARGV[6], 'verified', 1)
elseif (ARGV[3] ~= '' or ARGV[4] ~= '') and not contact_writable(vkey) then
  return redis.error_reply('forbidden this site signs its visitors\' identities: a name or email needs id and hash from the site\'s backend')
end
if ARGV[3] ~= '' and not keep.name then redis.call('HSET', vkey, 'name', ARGV[3]) end
if ARGV[4] ~= '' and not keep.email then redis.call('HSET', vkey, 'email', ARGV[4]) end
if ARGV[5] ~= '' then redis.call('HSET', vkey, 'attrs', ARGV[5]) end
profile_changed(vkey)
return profile(ARGV[2])
