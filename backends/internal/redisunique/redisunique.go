// Package redisunique is the unique-key claim the Redis drivers (asynq,
// Celery) share: a key holds while its task is pending or running, a
// duplicate gets the holder's id and touches nothing of it, and the key is
// free once the task is done (driver.Job.UniqueKey).
//
// A held key is the hash PREFIX+KEY: the holder's task id (id), the hash
// in which the driver keeps that task's state (state_key), and when the
// claim was made (at, Redis's clock, in ms). A claim is checked and made
// in one script: a key whose holder's state is not one of the driver's
// live states is taken over, so a key whose release was lost (a worker
// killed between its task's end and the record of it) is not held for
// ever. The worker releases the key in the same transaction that records
// its task's end, so that whoever reads the task done finds the key free.
package redisunique

import (
	"context"
	"errors"
	"time"

	"github.com/redis/go-redis/v9"
)

// Keys are one driver's unique keys.
type Keys struct {
	// Prefix starts the hash of every key.
	Prefix string
	// StateField is the field of a task's state hash that holds its state.
	StateField string
	// Live are the states of a task that is not done.
	Live []string
}

// EnqueueGrace is how long a claim holds while its task's state hash
// does not exist yet: the task is being enqueued, or its enqueue died with
// its client.
const EnqueueGrace = time.Minute

// claim: KEYS the key's hash; ARGV the new holder's id, its state key, the
// claim's expiry (ms), a holder that may be replaced even if it looks live
// ("" for none), EnqueueGrace (ms), the state field, then the live
// states. It returns the live holder's id, or false having claimed the
// key.
var claim = redis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local holder = redis.call('HGET', KEYS[1], 'id')
if holder and holder ~= ARGV[4] then
	local sk = redis.call('HGET', KEYS[1], 'state_key')
	local state = sk and redis.call('HGET', sk, ARGV[6])
	if state then
		for i = 7, #ARGV do
			if state == ARGV[i] then return holder end
		end
	elseif now - tonumber(redis.call('HGET', KEYS[1], 'at') or 0) < tonumber(ARGV[5]) then
		return holder
	end
end
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 'id', ARGV[1], 'state_key', ARGV[2], 'at', now)
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return false
`)

var release = redis.NewScript(`
if redis.call('HGET', KEYS[1], 'id') == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
`)

// Claim takes key for the task id, whose state the driver keeps in the
// field StateField of the hash stateKey, unless a live task holds it:
// then it returns that task's id and changes nothing. ttl bounds the
// claim should it never be released (at least a millisecond).
func (k *Keys) Claim(ctx context.Context, rc redis.Scripter, key, id, stateKey string, ttl time.Duration) (holder string, err error) {
	return k.run(ctx, rc, key, id, stateKey, ttl, "")
}

// Replace is Claim for a driver that found the holder done by means of
// its own (Celery's result of a task a Python worker ran, which leaves the
// driver's state hash behind): it takes key from done, or from a holder
// that is not live. It returns the holder if another, live, task holds the
// key.
func (k *Keys) Replace(ctx context.Context, rc redis.Scripter, key, done, id, stateKey string, ttl time.Duration) (holder string, err error) {
	return k.run(ctx, rc, key, id, stateKey, ttl, done)
}

func (k *Keys) run(ctx context.Context, rc redis.Scripter, key, id, stateKey string, ttl time.Duration, done string) (string, error) {
	args := make([]any, 0, 6+len(k.Live))
	args = append(args, id, stateKey, max(ttl.Milliseconds(), 1), done, EnqueueGrace.Milliseconds(), k.StateField)
	for _, s := range k.Live {
		args = append(args, s)
	}
	holder, err := claim.Run(ctx, rc, []string{k.Prefix + key}, args...).Text()
	if errors.Is(err, redis.Nil) {
		return "", nil
	}
	return holder, err
}

// Release frees key if the task id holds it. Given a transaction
// (redis.Pipeliner), it joins it: its error is then the Exec's.
func (k *Keys) Release(ctx context.Context, s redis.Scripter, key, id string) *redis.Cmd {
	// Eval, not EvalSha: a pipeline cannot retry a NOSCRIPT.
	return release.Eval(ctx, s, []string{k.Prefix + key}, id)
}
