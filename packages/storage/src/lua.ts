/** Redis scripts the repositories share. */

/** Deletes KEYS[1] only while it still holds ARGV[1] (a lock or claim released by its owner alone). */
export const RELEASE_IF_EQUAL = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) else return 0 end`;
