package celery

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"path"
	"regexp"
	"slices"
	"time"

	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"
)

// Celery's remote control ("pidbox") as kombu's Redis transport carries
// it: app.control.revoke(...) and its kin publish a kombu message on the
// fanout exchange celery.pidbox, which on Redis is a PUBLISH on the channel
// "/DB.celery.pidbox" (kombu's fanout prefix "/{db}.", then the exchange;
// a broadcast's routing key is empty). The message's body is
// {"method", "arguments", "destination", "pattern", "matcher"}, plus
// "ticket" and "reply_to" when the sender waits for replies, which go to
// the direct exchange reply.celery.pidbox: kombu pushes them on the list
// bound to it with the sender's routing key.

// controlExchange is Celery's control_exchange ("celery") with kombu's
// ".pidbox"; replyExchange is where replies go.
const (
	controlExchange = "celery.pidbox"
	replyExchange   = "reply.celery.pidbox"
)

// controlChannel is the channel of the broadcasts on the broker's db.
func controlChannel(db int) string { return fmt.Sprintf("/%d.%s", db, controlExchange) }

// control is a pidbox message's body.
type control struct {
	Method      string          `json:"method"`
	Arguments   json.RawMessage `json:"arguments"`
	Destination []string        `json:"destination"`
	Pattern     *string         `json:"pattern"`
	Matcher     *string         `json:"matcher"`
	Ticket      string          `json:"ticket,omitempty"`
	ReplyTo     *struct {
		Exchange   string `json:"exchange"`
		RoutingKey string `json:"routing_key"`
	} `json:"reply_to,omitempty"`
}

// revokeArgs are the arguments of Celery's revoke command; task_id is one
// id or a list of them.
type revokeArgs struct {
	TaskID    json.RawMessage `json:"task_id"`
	Terminate bool            `json:"terminate"`
	Signal    string          `json:"signal,omitempty"`
}

func (a revokeArgs) ids() []string {
	var one string
	if json.Unmarshal(a.TaskID, &one) == nil {
		return []string{one}
	}
	var many []string
	json.Unmarshal(a.TaskID, &many)
	return many
}

// controlMessage wraps a body in a kombu message as Mailbox._publish sends
// it: JSON, base64, the clock and expiry headers.
func controlMessage(body any, exchange, routingKey string, headers map[string]any) ([]byte, error) {
	raw, err := json.Marshal(body)
	if err != nil {
		return nil, err
	}
	return json.Marshal(map[string]any{
		"body":             base64.StdEncoding.EncodeToString(raw),
		"content-encoding": "utf-8",
		"content-type":     "application/json",
		"headers":          headers,
		"properties": map[string]any{
			"delivery_mode": 2, "priority": 0, "body_encoding": "base64", "delivery_tag": uuid.NewString(),
			"delivery_info": map[string]any{"exchange": exchange, "routing_key": routingKey},
		},
	})
}

// broadcastRevoke sends Celery's revoke of ids, with terminate, to every
// worker, Python or ours, as app.control.revoke(ids, terminate=True) does.
func (b *backend) broadcastRevoke(ctx context.Context, ids ...string) error {
	args := map[string]any{"task_id": ids, "terminate": true, "signal": "SIGTERM"}
	if len(ids) == 1 {
		args["task_id"] = ids[0]
	}
	body := map[string]any{"method": "revoke", "arguments": args, "destination": nil, "pattern": nil, "matcher": nil}
	msg, err := controlMessage(body, controlExchange, "", map[string]any{"clock": 1, "expires": float64(time.Now().Add(time.Second).UnixMicro()) / 1e6})
	if err != nil {
		return err
	}
	return b.broker.Publish(ctx, b.control, msg).Err()
}

// decodeControl reads a pidbox message.
func decodeControl(payload string) (control, error) {
	// Not envelope: a control message's headers (clock, expires) are not
	// a task's.
	var env struct {
		Body        string `json:"body"`
		ContentType string `json:"content-type"`
		Properties  struct {
			BodyEncoding string `json:"body_encoding"`
		} `json:"properties"`
	}
	var c control
	if err := json.Unmarshal([]byte(payload), &env); err != nil {
		return c, fmt.Errorf("not a kombu message: %v", err)
	}
	if env.ContentType != "application/json" {
		return c, fmt.Errorf("content type %q (only JSON control messages are read)", env.ContentType)
	}
	raw := []byte(env.Body)
	if env.Properties.BodyEncoding == "base64" {
		var err error
		if raw, err = base64.StdEncoding.DecodeString(env.Body); err != nil {
			return c, fmt.Errorf("the body is not valid base64: %v", err)
		}
	}
	if err := json.Unmarshal(raw, &c); err != nil {
		return c, fmt.Errorf("the body is not a control command: %v", err)
	}
	return c, nil
}

// addressed reports whether a command is for the node, as kombu's
// Node.handle_message decides: listed in destination, or matching pattern
// (glob or pcre), or sent to all.
func (c control) addressed(node string) bool {
	switch {
	case len(c.Destination) > 0:
		return slices.Contains(c.Destination, node)
	case c.Pattern != nil && c.Matcher != nil && *c.Pattern != "":
		if *c.Matcher == "pcre" {
			re, err := regexp.Compile(*c.Pattern)
			return err == nil && re.MatchString(node)
		}
		ok, _ := path.Match(*c.Pattern, node)
		return ok
	}
	return true
}

// reply answers a command that asked for replies: {node: reply} pushed on
// the queues bound to reply.celery.pidbox with the sender's routing key,
// as kombu's direct exchange delivers it.
func (b *backend) reply(ctx context.Context, c control, node string, reply any) error {
	if c.ReplyTo == nil || c.Ticket == "" {
		return nil
	}
	exchange := c.ReplyTo.Exchange
	if exchange == "" {
		exchange = replyExchange
	}
	members, err := b.broker.SMembers(ctx, bindingKey(exchange)).Result()
	if err != nil {
		return err
	}
	msg, err := controlMessage(map[string]any{node: reply}, exchange, c.ReplyTo.RoutingKey, map[string]any{"ticket": c.Ticket, "clock": 1})
	if err != nil {
		return err
	}
	p := b.broker.Pipeline()
	for _, m := range members {
		if f := splitBinding(m); f != nil && f[0] == c.ReplyTo.RoutingKey {
			p.LPush(ctx, f[2], msg)
		}
	}
	_, err = p.Exec(ctx)
	if err == redis.Nil {
		err = nil
	}
	return err
}
