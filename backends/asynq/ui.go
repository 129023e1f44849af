package asynq

import (
	"context"
	"net/http"

	"github.com/hibiken/asynqmon"
)

// WebUI implements driver.WebUI with asynqmon, asynq's own web UI (its Go
// package embeds the UI), served under prefix over the driver's Redis
// connection. It has no authentication of its own: the worker's --ui-auth
// guards it off loopback.
func (b *backend) WebUI(_ context.Context, prefix string) (http.Handler, error) {
	return asynqmon.New(asynqmon.Options{RootPath: prefix, RedisConnOpt: sharedRedis{b.rc}}), nil
}

// sharedRedis hands asynqmon the driver's own Redis client.
type sharedRedis struct{ rc any }

// MakeRedisClient implements asynq.RedisConnOpt.
func (s sharedRedis) MakeRedisClient() any { return s.rc }
