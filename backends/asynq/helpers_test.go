package asynq_test

import "os"

func redisURL() string {
	if u := os.Getenv("TASKHOST_TEST_REDIS"); u != "" {
		return u
	}
	return "redis://127.0.0.1:6379/3"
}
