"""Every Lua script of the package, each with its KEYS/ARGV contract on top; run through
``RedisResource.run_script`` (EVALSHA, loaded once per server).

Why one top-level module: the guard (the bottom layer) and the domains (contributions, evaluation)
both write with Lua, and the runner lives on ``RedisResource`` below them all. Keeping the sources
here, next to ``redis_connection.py`` and importing nothing, lets every layer use them while
dependencies still point down, and a reader finds every atomic step on the server in one file.

Guard scripts (db 6): each is idempotent for its caller's token, so a reply lost on the wire and
retried by the client resolves to the same answer ("acquired by me", "completed by me") instead of a
false ``lock_held`` or an orphaned lock. The completion also writes ``completed_by:{task}:{day_key}``
(the completing run id, same TTL as the success key): the proof a run needs to recognise its own
completion after the reply was lost, since the success key must keep the legacy value ``completed``.

App-data scripts (db 5): one script = one atomic step, so another day's concurrent run lands wholly
before or after.
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


# -- app data (db 5) ---------------------------------------------------------------------------------
# KEYS[1] the day's list contributions:validated:{day_key}; then (contribution:{id},
#   contributions:days:{id}) for each written id; then the same pair for each stale id.
# ARGV[1] day_key, ARGV[2] TTL in s, ARGV[3] number written, ARGV[4] number validated; then
#   (value, pending flag "1"/"0") per written id; then the validated ids in order.
# Returns {kept_judged, deleted, kept}: 1-based indexes of the written ids whose judged value was kept
# (a pending verdict never replaces one judged by another day), of the stale ids deleted (no day lists
# them any more) and of the stale ids kept (another day still lists them).
# See contributions.assets.write_app_data for the rule.
WRITE_CONTRIBUTIONS_DAY = """
local day, ttl, written, n_validated = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local kept_judged, deleted, kept = {}, {}, {}
for i = 1, written do
  local key, claims = KEYS[2 * i], KEYS[2 * i + 1]
  local value, pending = ARGV[3 + 2 * i], ARGV[4 + 2 * i]
  redis.call('SADD', claims, day)
  redis.call('EXPIRE', claims, ttl)
  local keep = false
  if pending == '1' and redis.call('SCARD', claims) > 1 then
    local current = redis.call('GET', key)
    if current then
      local ok, decoded = pcall(cjson.decode, current)
      if ok and type(decoded) == 'table' and type(decoded.validation_result) == 'table'
          and decoded.validation_result.status ~= 'pending' then
        keep = true
      end
    end
  end
  if keep then
    redis.call('EXPIRE', key, ttl)
    table.insert(kept_judged, i)
  else
    redis.call('SET', key, value, 'EX', ttl)
  end
end
for j = 2 * written + 2, #KEYS, 2 do
  local index = (j - 2 * written) / 2
  if redis.call('SREM', KEYS[j + 1], day) == 1 and redis.call('SCARD', KEYS[j + 1]) == 0 then
    redis.call('DEL', KEYS[j])
    table.insert(deleted, index)
  else
    table.insert(kept, index)
  end
end
redis.call('DEL', KEYS[1])
local first = 5 + 2 * written
for start = first, first + n_validated - 1, 1000 do
  redis.call('RPUSH', KEYS[1], unpack(ARGV, start, math.min(start + 999, first + n_validated - 1)))
end
return {kept_judged, deleted, kept}
"""

# KEYS[1] experiment:latest; ARGV[1] the record (JSON), ARGV[2] its day key (YYYYMMDD).
# Writes the record unless the key already holds a later date (a backfill of old days must not replace
# today's numbers). Returns 1 when written, 0 when a later day was kept.
SET_EXPERIMENT_LATEST = """
local current = redis.call('GET', KEYS[1])
if current then
  local ok, decoded = pcall(cjson.decode, current)
  if ok and type(decoded) == 'table' and type(decoded['date']) == 'string' and decoded['date'] > ARGV[2] then
    return 0
  end
end
redis.call('SET', KEYS[1], ARGV[1])
return 1
"""
