"""Lua scripts that make each step of the guard atomic on the Redis server.

Every script is idempotent for its caller's token, so a reply lost on the wire and retried by the
client resolves to the same answer ("acquired by me", "completed by me") instead of a false
``lock_held`` or an orphaned lock.
"""

# KEYS[1] lock, KEYS[2] success; ARGV[1] token, ARGV[2] lock TTL in ms, ARGV[3] "1" to check success,
# ARGV[4..] the tokens of runs this one re-executes (a crashed run's retry takes its lock over).
# Returns {outcome, holder}: outcome in acquired | reacquired | taken_over | already_completed | lock_held.
CLAIM = """
if ARGV[3] == '1' and redis.call('EXISTS', KEYS[2]) == 1 then
  return {'already_completed', ''}
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
for i = 4, #ARGV do
  if holder == ARGV[i] then
    redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
    return {'taken_over', holder}
  end
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

# KEYS[1] lock, KEYS[2] success; ARGV[1] token, ARGV[2] success TTL in s, ARGV[3] success value.
# Returns {outcome, holder}: completed | already_completed (retried reply: lock gone, day marked) | not_owner.
COMPLETE = """
local holder = redis.call('GET', KEYS[1])
if holder == ARGV[1] then
  redis.call('SET', KEYS[2], ARGV[3], 'EX', ARGV[2])
  redis.call('DEL', KEYS[1])
  return {'completed', ''}
end
if not holder and redis.call('GET', KEYS[2]) == ARGV[3] then
  return {'already_completed', ''}
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
