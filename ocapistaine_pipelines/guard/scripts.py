"""Lua scripts that make each step of the guard atomic on the Redis server.

Every script is idempotent for its caller's token, so a reply lost on the wire and retried by the
client resolves to the same answer ("acquired by me", "completed by me") instead of a false
``lock_held`` or an orphaned lock. The completion also writes ``completed_by:{task}:{day}`` (the
completing run id, same TTL as the success key): the proof a run needs to recognise its own
completion after the reply was lost, since the success key must keep the legacy value ``completed``.
"""

# KEYS[1] lock, KEYS[2] success, KEYS[3] completed_by.
# ARGV[1] token, ARGV[2] lock TTL in ms, ARGV[3] "1" to skip a completed day,
# ARGV[4] stale threshold in ms: a maybe-running predecessor whose lock has at most this much TTL
#         left has missed its renewals (it declares its loss earlier and stops), so its lock is taken over;
# ARGV[5..] pairs (kind, run id) of the runs this one re-executes, kind being
#   failed         its completion counts as ours (an earlier attempt), its lock is taken over;
#   succeeded      finished: its lock is taken over, its completion is its own;
#   maybe_running  its lock is taken over only once stale (see ARGV[4]).
# Returns {outcome, holder}: outcome in acquired | reacquired | taken_over | completed_by_us |
# already_completed | lock_held. completed_by_us: the success key was set by this run (or an earlier
# attempt), e.g. the completion's reply was lost; holder is the completing run id.
CLAIM = """
local kinds = {}
for i = 5, #ARGV - 1, 2 do
  kinds[ARGV[i + 1]] = ARGV[i]
end
if redis.call('EXISTS', KEYS[2]) == 1 then
  local by = redis.call('GET', KEYS[3])
  if by and (by == ARGV[1] or kinds[by] == 'failed') then
    return {'completed_by_us', by}
  end
  if ARGV[3] == '1' then
    return {'already_completed', ''}
  end
end
local holder = redis.call('GET', KEYS[1])
if not holder then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return {'acquired', ''}
end
if holder == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return {'reacquired', holder}
end
local kind = kinds[holder]
if kind == 'failed' or kind == 'succeeded'
   or (kind == 'maybe_running' and redis.call('PTTL', KEYS[1]) <= tonumber(ARGV[4])) then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return {'taken_over', holder}
end
return {'lock_held', holder}
"""

# KEYS[1] lock; ARGV[1] token, ARGV[2] TTL in ms. Sets (not adds) the TTL, only for the owner.
RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0
"""

# KEYS[1] lock, KEYS[2] success, KEYS[3] completed_by; ARGV[1] token, ARGV[2] success TTL in s,
# ARGV[3] success value. Returns {outcome, holder}: completed (now, or by this token before: a retried
# call whose first reply was lost) | not_owner.
COMPLETE = """
local holder = redis.call('GET', KEYS[1])
if holder == ARGV[1] then
  redis.call('SET', KEYS[2], ARGV[3], 'EX', ARGV[2])
  redis.call('SET', KEYS[3], ARGV[1], 'EX', ARGV[2])
  redis.call('DEL', KEYS[1])
  return {'completed', ''}
end
if not holder and redis.call('GET', KEYS[2]) == ARGV[3] and redis.call('GET', KEYS[3]) == ARGV[1] then
  return {'completed', ''}
end
return {'not_owner', holder or ''}
"""

# KEYS[1] lock; ARGV[1] token. Deletes the lock only if it still holds the caller's token.
RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""
