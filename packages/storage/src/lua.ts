/** Redis scripts the repositories share. */

/** Deletes KEYS[1] only while it still holds ARGV[1] (a lock or claim released by its owner alone). */
export const RELEASE_IF_EQUAL = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) else return 0 end`;

/**
 * A run's outcome, written only while the run still holds its task and never over a completed one
 * (ResultStore.commit). KEYS[1]: the outcome; then the fence key when ARGV[3] (its token) is not empty;
 * then the cache entry when ARGV[4] (its JSON) is not empty. ARGV[1]: the outcome JSON, ARGV[2]: its
 * TTL (s), ARGV[5]: the cache entry's TTL (s). Returns 1 written, 0 the fence no longer holds the token
 * (lost), -1 the task's outcome is completed already (done); on 0 and -1 nothing is written.
 * One script, so no other command lands between the checks and the writes.
 */
export const COMMIT_OUTCOME = `
local k = 2
if ARGV[3] ~= '' then
  if redis.call('GET', KEYS[k]) ~= ARGV[3] then return 0 end
  k = k + 1
end
local prior = redis.call('GET', KEYS[1])
if prior and cjson.decode(prior).status == 'completed' then return -1 end
if ARGV[4] ~= '' then redis.call('SET', KEYS[k], ARGV[4], 'EX', ARGV[5]) end
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
return 1`;
