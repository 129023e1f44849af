package redisflow

import (
	"context"

	"github.com/redis/go-redis/v9"

	"taskhost.dev/backends/driver"
)

// cancelFlow marks a running workflow cancelled: KEYS its hash; ARGV the
// time. It returns 1 when it did.
var cancelFlow = redis.NewScript(`
if redis.call('HGET', KEYS[1], 'status') ~= 'running' then return 0 end
redis.call('HSET', KEYS[1], 'status', ARGV[1], 'finished_at', ARGV[2])
return 1
`)

// CancelFlow implements driver.FlowCanceler: a running workflow is marked
// cancelled, so that StepDone counts no more of its steps and no further
// stage is sent, and its waiters are woken; it reports false when the
// workflow was no longer running. The client then cancels its steps'
// tasks.
func (s *Store) CancelFlow(ctx context.Context, id string) (bool, error) {
	n, err := cancelFlow.Run(ctx, s.RC, []string{s.Key(id)}, string(driver.StatusCancelled), nowText()).Int()
	if err != nil || n == 0 {
		return false, err
	}
	return true, s.Announce(ctx, id)
}
