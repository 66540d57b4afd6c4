-- ARGV: prefix, visitor, name, email, text, now -> id
-- The name and email go into the visitor's profile only where unverified details may
-- (contact_writable); otherwise they stay with this message alone, marked unverified, and
-- the verified profile is untouched.
--! uses: prelude webhook visitor_promises

local vid, name, email, text = ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local vkey = p .. 'visitor:' .. vid
if visitor_erased(vkey) then return redis.error_reply(erased_refusal) end
local unverified = nil
if contact_writable(vkey) then
  redis.call('HSET', vkey, 'email', email)
  if name ~= '' then redis.call('HSET', vkey, 'name', name) end
else
  unverified = true
end
local id = redis.call('XADD', p .. 'left', 'MAXLEN', '~', 10000, '*', 'visitor', vid, 'name', name, 'email', email, 'text', text,
                     'unverified', unverified and '1' or '0')
bus('-', '-', 1, cjson.encode({type = 'left_message', message = {id = id, visitor = vid, name = name, email = email, text = text,
                              unverified = unverified, ts = stamp(id)}}))
webhook(vid, 'message.left', {id = id, name = name, email = email, text = text, unverified = unverified, ts = stamp(id)})
return id
