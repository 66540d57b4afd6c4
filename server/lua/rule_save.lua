-- ARGV: prefix, id, rule_json (validated), who, now, only_if_absent -> version (0: kept)
--! uses: prelude rule_version

local id = ARGV[2]
if ARGV[6] == '1' and redis.call('HEXISTS', p .. 'rules', id) == 1 then return 0 end
redis.call('HSET', p .. 'rules', id, ARGV[3])
return rule_version(id, ARGV[4], ARGV[5], '"rule":' .. ARGV[3])
