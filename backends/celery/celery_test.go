package celery_test

import (
	"os"
	"testing"

	"taskhost.dev/backends"
	"taskhost.dev/backends/backendtest"
	_ "taskhost.dev/backends/celery"
)

func TestMain(m *testing.M) { backendtest.Main(m) }

// redisURL is the Redis the tests use: database 4 (each package that uses
// Redis has its own database number).
func redisURL() string {
	if u := os.Getenv("TASKHOST_TEST_CELERY_REDIS"); u != "" {
		return u
	}
	return "redis://127.0.0.1:6379/4"
}

// TestConformance runs the suite on the local Redis. The visibility
// timeout is short so that the killed worker's tasks come back soon.
func TestConformance(t *testing.T) {
	backendtest.Run(t, "celery", backends.Config{URL: redisURL(), Options: map[string]string{"visibility_timeout": "4s"}})
}
