-- ARGV: prefix (global), site, flow_json (validated by flows/flow.c), who, now -> version
--! uses: prelude flow_version

redis.call('HSET', p .. 'flows', ARGV[2], ARGV[3])
return flow_version(ARGV[2], ARGV[4], ARGV[5], '"flow":' .. ARGV[3])
