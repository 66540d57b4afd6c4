-- files.lua - a conversation's files in its scripts (server/files/, docs/architecture.md).
-- A file's metadata is the hash `file:ID` (conversation, name, type, size, width, height,
-- thumb, created) and its id is in the set `conv:CID:files`; with the redis file store its
-- bytes are `file:ID:bytes` and `file:ID:thumb`. All of it is in the conversation's slot, so
-- it expires and is erased with the conversation in the same step. The dir file store's bytes
-- are on a disk: `files:expiring` (a sorted set, file id -> when its bytes may go, ms) tells
-- the nodes' sweep what to remove (files_expired.lua); an erased file is entered with 0.
--! uses: prelude

local function file_keys(fid)
  return p .. 'file:' .. fid, p .. 'file:' .. fid .. ':bytes', p .. 'file:' .. fid .. ':thumb'
end
-- A file's message was stored as message id of conversation cid: the file is recorded with it
-- (file_message.lua, mail_inbound.lua). f: the file's metadata ({id, name, type, size}),
-- file: as append() takes it (prelude.lua), sha256: of the bytes as they came.
local function file_record(cid, f, file, now, sha256)
  redis.call('SADD', p .. 'conv:' .. cid .. ':files', f.id)
  redis.call('HSET', p .. 'file:' .. f.id, 'conversation', cid, 'name', f.name, 'type', f.type, 'size', f.size,
             'thumb', file.thumb, 'created', now, 'sha256', sha256)
end
-- A file as append() takes it: its metadata f (as the stream keeps it, decoded from file_json)
-- and what webhooks get (hook).
local function file_of_message(f, file_json, hook)
  return {id = f.id, type = f.type, size = f.size, width = f.width or 0, height = f.height or 0,
          thumb = f.thumb and 1 or 0, json = file_json, hook = hook}
end
-- The conversation closed: its files expire with it (seconds from now).
local function files_expire(cid, seconds, now)
  local set = p .. 'conv:' .. cid .. ':files'
  for _, fid in ipairs(redis.call('SMEMBERS', set)) do
    for _, k in ipairs({file_keys(fid)}) do redis.call('EXPIRE', k, seconds) end
    redis.call('ZADD', p .. 'files:expiring', now + seconds * 1000, fid)
  end
  redis.call('EXPIRE', set, seconds)
end
-- The conversation is erased: its files go now (the dir store's bytes at the next sweep).
-- Returns the keys deleted.
local function files_erase(cid)
  local set, deleted = p .. 'conv:' .. cid .. ':files', 0
  for _, fid in ipairs(redis.call('SMEMBERS', set)) do
    deleted = deleted + redis.call('DEL', file_keys(fid))
    redis.call('ZADD', p .. 'files:expiring', 0, fid)
  end
  return deleted + redis.call('DEL', set)
end
