package asynq

import (
	"strings"
	"testing"
	"time"

	"taskhost.dev/backends/driver"
)

func TestCheckInterval(t *testing.T) {
	for _, tc := range []struct {
		opt, env string
		want     time.Duration
		err      string
	}{
		{"", "", DefaultTaskCheckInterval, ""},
		{"20ms", "", 20 * time.Millisecond, ""},
		{"", "1s", time.Second, ""},
		{"50ms", "1s", 50 * time.Millisecond, ""}, // the option wins
		{"5", "", 0, `option task_check_interval: "5" is not a duration`},
		{"", "0s", 0, `ASYNQ_TASK_CHECK_INTERVAL: "0s" is not a duration`},
		{"2m", "", 0, "between 1ms and 1m"},
	} {
		t.Setenv("ASYNQ_TASK_CHECK_INTERVAL", tc.env)
		cfg := driver.Config{}
		if tc.opt != "" {
			cfg.Options = map[string]string{OptTaskCheckInterval: tc.opt}
		}
		got, err := checkInterval(cfg)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("opt %q env %q: error %v, want one containing %q", tc.opt, tc.env, err, tc.err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("opt %q env %q: %v, %v; want %v", tc.opt, tc.env, got, err, tc.want)
		}
	}
}
