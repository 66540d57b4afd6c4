-- What a site promises its visitors, read where a script stores something about one: browsing
-- data only with consent when the site asks for it, and contact details that a visitor cannot
-- change once the site's backend has signed them (or at all, unsigned, when the site enforces
-- signed identities). Every path that stores such data runs through these checks. And an erased
-- visitor stays erased: its socket may still send a request or two before "!forget" closes it,
-- and a script that would write about it refuses instead of bringing the id back.
--! uses: prelude

local function site_flag(vkey, field)
  local site = redis.call('HGET', vkey, 'site')
  return site ~= false and site ~= '' and redis.call('HGET', p .. 'site:' .. site, field) == '1'
end
-- For a script that has read the visitor's site and consent fields already (track.lua, on every
-- page view): only the site's flag is left to read, and only without consent. known, when
-- given, keeps the flags read (site -> true/false) for the script's other visitors.
local function tracking_allowed_for(site, consent, known)
  if consent == '1' or not site or site == '' then return true end
  local required = known and known[site]
  if required == nil then
    required = redis.call('HGET', p .. 'site:' .. site, 'consent_required') == '1'
    if known then known[site] = required end
  end
  return not required
end
local function tracking_allowed(vkey)
  local v = redis.call('HMGET', vkey, 'site', 'consent')
  return tracking_allowed_for(v[1], v[2])
end
local function contact_writable(vkey)
  return redis.call('HGET', vkey, 'verified') ~= '1' and not site_flag(vkey, 'enforce_identity')
end
local function visitor_erased(vkey)
  return redis.call('EXISTS', vkey) == 0
end
local erased_refusal = 'invalid_token this visitor was erased: say hello without a token'
