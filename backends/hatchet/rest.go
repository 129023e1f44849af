package hatchet

import (
	"context"
	"fmt"
	"net/http"

	"github.com/google/uuid"
	v0 "github.com/hatchet-dev/hatchet/pkg/client"

	"taskhost.dev/backends/driver"
)

// The calls the SDK's v1 client does not make (or makes wrong) go through
// its v0 client: the bulk trigger, the status metrics, and deletions the
// v1 client takes the API's 204 answer for a failure of.

// legacy returns the SDK's v0 client, for its bulk trigger and the REST
// calls the v1 client does not wrap, made on first use with the driver's
// client options.
func (b *backend) legacy() (v0.Client, error) {
	b.legacyOnce.Do(func() {
		c, err := v0.New(b.opts...)
		if err != nil {
			b.legacyErr = fmt.Errorf("hatchet: connecting the SDK's v0 client: %w", err)
			return
		}
		b.legacyC = c
	})
	return b.legacyC, b.legacyErr
}

// restDelete deletes a scheduled run ("schedule") or a cron trigger
// ("cron") through the REST API: the SDK's own calls take the API's 204
// answer for a failure. A 404 is driver.ErrNotFound.
func (b *backend) restDelete(ctx context.Context, kind, id string) error {
	legacy, err := b.legacy()
	if err != nil {
		return err
	}
	tenant, err := uuid.Parse(legacy.TenantId())
	if err != nil {
		return fmt.Errorf("hatchet: the client's tenant %q: %w", legacy.TenantId(), err)
	}
	u, err := uuid.Parse(id)
	if err != nil {
		return fmt.Errorf("hatchet: %s %q: %w", kind, id, driver.ErrNotFound)
	}
	var status int
	var body []byte
	switch kind {
	case "schedule":
		res, err := legacy.API().WorkflowScheduledDeleteWithResponse(ctx, tenant, u)
		if err != nil {
			return err
		}
		status, body = res.StatusCode(), res.Body
	default:
		res, err := legacy.API().WorkflowCronDeleteWithResponse(ctx, tenant, u)
		if err != nil {
			return err
		}
		status, body = res.StatusCode(), res.Body
	}
	switch {
	case status == http.StatusNotFound:
		return fmt.Errorf("hatchet: %s %s: %w", kind, id, driver.ErrNotFound)
	case status/100 != 2:
		return fmt.Errorf("hatchet: deleting %s %s: status %d: %s", kind, id, status, body)
	}
	return nil
}
