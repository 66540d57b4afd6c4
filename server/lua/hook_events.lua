-- The events a site's webhook_events names ("" = every event).

local function hook_events(s)
  local t = {}
  for e in string.gmatch(s or '', '[^,]+') do t[#t + 1] = e end
  if #t == 0 then t = {'conversation.started', 'message', 'conversation.closed', 'conversation.rated',
                       'message.left', 'invitation.accepted'} end
  return t
end
