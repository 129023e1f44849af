package hatchet

import (
	"errors"
	"testing"
	"time"

	"taskhost.dev/backends/driver"
)

// TestCronOf: an interval is a Hatchet cron (with seconds) when it divides
// a minute, an hour or a day; any other is unsupported, with a hint.
func TestCronOf(t *testing.T) {
	for _, tc := range []struct {
		name string
		s    driver.Schedule
		want string
	}{
		{"cron as given", driver.Schedule{Cron: "*/5 * * * *"}, "*/5 * * * *"},
		{"cron in a zone", driver.Schedule{Cron: "0 9 * * 1", Timezone: "Europe/Paris"}, "CRON_TZ=Europe/Paris 0 9 * * 1"},
		{"every second", driver.Schedule{Every: time.Second}, "* * * * * *"},
		{"every 15s", driver.Schedule{Every: 15 * time.Second}, "*/15 * * * * *"},
		{"every minute", driver.Schedule{Every: time.Minute}, "0 * * * * *"},
		{"every 5m", driver.Schedule{Every: 5 * time.Minute}, "0 */5 * * * *"},
		{"every hour", driver.Schedule{Every: time.Hour}, "0 0 * * * *"},
		{"every 6h", driver.Schedule{Every: 6 * time.Hour}, "0 0 */6 * * *"},
		{"every day", driver.Schedule{Every: 24 * time.Hour}, "0 0 0 * * *"},
		{"every 7s", driver.Schedule{Every: 7 * time.Second}, ""},
		{"every 90s", driver.Schedule{Every: 90 * time.Second}, ""},
		{"every 1.5s", driver.Schedule{Every: 1500 * time.Millisecond}, ""},
		{"every 2 days", driver.Schedule{Every: 48 * time.Hour}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := cronOf(tc.s)
			if tc.want == "" {
				var ue *driver.UnsupportedError
				if !errors.As(err, &ue) || ue.Hint == "" {
					t.Fatalf("cronOf(every %s) = %q, %v; want an UnsupportedError with a hint", tc.s.Every, got, err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("cronOf(%+v) = %q, %v; want %q", tc.s, got, err, tc.want)
			}
		})
	}
}
