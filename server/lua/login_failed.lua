-- ARGV: prefix, name, ip, window_seconds -> 1
--! uses: prelude

for _, key in ipairs({p .. 'login:fail:' .. ARGV[2], p .. 'login:fail:ip:' .. ARGV[3]}) do
  if redis.call('INCR', key) == 1 then redis.call('EXPIRE', key, ARGV[4]) end
end
return 1
