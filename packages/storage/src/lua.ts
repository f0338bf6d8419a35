/** Redis scripts the repositories share. */

/** Deletes KEYS[1] only while it still holds ARGV[1] (a lock or claim released by its owner alone). */
export const RELEASE_IF_EQUAL = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) else return 0 end`;

/**
 * A run's outcome (ResultStore.commit), written by the run that owns its task and never over a final
 * outcome another run wrote — except a completed one over a failed one (a later attempt that succeeded).
 * KEYS[1]: the outcome; KEYS[2]: the outcome's run record (a hash: `token`, the run that wrote the
 * outcome, and `answer`, what that write answered), kept as long as the outcome; then the counters hash
 * when ARGV[7] is '1'; then the fence key when ARGV[3] (the run's token) is not empty; then the cache
 * entry when ARGV[4] (its JSON) is not empty. ARGV[1]: the outcome JSON, ARGV[2]: its TTL (s), ARGV[5]:
 * the cache entry's TTL (s), ARGV[6]: the outcome's status.
 * A write that lands counts itself in the counters hash in the same script (`tasks_<status>` + 1; a
 * replaced failure also `tasks_failed` − 1), so a client that sees the outcome sees it counted, and a
 * process killed after the write cannot leave it uncounted.
 * - The stored outcome is this run's own, of this status (the same script sent again: a connection
 *   that re-sends an unanswered command after a reconnect): what that write answered, nothing written.
 * - The fence holds another run's token: 0 (lost).
 * - The fence key is gone (the lock lapsed, or BullMQ deleted it when the job completed, failed or went
 *   back to wait): a final outcome stored answers -1 (done); none, the write lands (nobody else wrote,
 *   and a run that takes the task up later finds the outcome).
 * - A final outcome is stored: -1 (done), unless this is a completed one over a failed one: written,
 *   answering 2 (replaced: the counters move the task from failed to completed).
 * Else written: 1. On 0 and -1 nothing is written. One script, so no other command lands between the
 * checks and the writes.
 */
export const COMMIT_OUTCOME = `
local prior = redis.call('GET', KEYS[1])
local status = prior and cjson.decode(prior).status
local token = ARGV[3]
if prior and token ~= '' then
  local run = redis.call('HMGET', KEYS[2], 'token', 'answer')
  if run[1] == token and status == ARGV[6] then return tonumber(run[2]) end
end
local k = 3
local counters
if ARGV[7] == '1' then
  counters = KEYS[3]
  k = 4
end
if token ~= '' then
  local holder = redis.call('GET', KEYS[k])
  if holder then
    if holder ~= token then return 0 end
  elseif prior then
    return -1
  end
  k = k + 1
end
local answer = 1
if prior then
  if status ~= 'failed' or ARGV[6] ~= 'completed' then return -1 end
  answer = 2
end
if ARGV[4] ~= '' then redis.call('SET', KEYS[k], ARGV[4], 'EX', ARGV[5]) end
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
redis.call('DEL', KEYS[2])
if token ~= '' then
  redis.call('HSET', KEYS[2], 'token', token, 'answer', answer)
  redis.call('EXPIRE', KEYS[2], ARGV[2])
end
if counters then
  redis.call('HINCRBY', counters, 'tasks_' .. ARGV[6], 1)
  if answer == 2 then redis.call('HINCRBY', counters, 'tasks_failed', -1) end
end
return answer`;
