-- ARGV: prefix (the site's slot), site, origin -> settings_json, as site_admission.lua says, with
-- the fields a visitor's scripts read of the site.
-- The first step of the hello of a visitor of before the key layout (an id of no tag: its keys are
-- in the slot of site "", base/keys.h) on a server with sites: the site and the origin are checked
-- in the site's own slot, then visitor_hello.lua runs in the visitor's slot with these settings.
--! uses: prelude site_admission
--! flags: no-writes

local settings, refusal = site_admit(ARGV[2], ARGV[3], '1', true)
if not settings then return redis.error_reply(refusal) end
return settings
