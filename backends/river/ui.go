package river

import (
	"context"
	"fmt"
	"net/http"

	"riverqueue.com/riverui"
)

// WebUI implements backends.WebUI with River's own web UI (riverui),
// served under prefix. It has no authentication of its own: put it behind
// your own when it is reachable from outside.
func (b *backend[TTx]) WebUI(ctx context.Context, prefix string) (http.Handler, error) {
	h, err := riverui.NewHandler(&riverui.HandlerOpts{
		Endpoints: riverui.NewEndpoints(b.client, nil),
		Logger:    b.logger,
		Prefix:    prefix,
	})
	if err != nil {
		return nil, fmt.Errorf("river: web UI: %w", err)
	}
	if err := h.Start(ctx); err != nil {
		return nil, fmt.Errorf("river: web UI: %w", err)
	}
	return h, nil
}
