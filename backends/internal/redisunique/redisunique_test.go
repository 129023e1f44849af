package redisunique_test

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"taskhost.dev/backends/internal/redisunique"
)

// client is the local Redis, database 8 (each package that uses Redis has
// its own database number); each test's keys are its own.
func client(t *testing.T) (*redis.Client, string) {
	t.Helper()
	url := os.Getenv("TASKHOST_TEST_UNIQUE_REDIS")
	if url == "" {
		url = "redis://127.0.0.1:6379/8"
	}
	opt, err := redis.ParseURL(url)
	if err != nil {
		t.Fatal(err)
	}
	rc := redis.NewClient(opt)
	if err := rc.Ping(context.Background()).Err(); err != nil {
		t.Fatalf("Redis at %s: %v", url, err)
	}
	prefix := fmt.Sprintf("rutest:%s:%d:", t.Name(), time.Now().UnixNano())
	t.Cleanup(func() {
		ctx := context.Background()
		if keys, err := rc.Keys(ctx, prefix+"*").Result(); err == nil && len(keys) > 0 {
			rc.Del(ctx, keys...)
		}
		rc.Close()
	})
	return rc, prefix
}

func keys(prefix string) *redisunique.Keys {
	return &redisunique.Keys{Prefix: prefix + "claim:", StateField: "state", Live: []string{"pending", "running"}}
}

func TestClaimHoldsWhileLive(t *testing.T) {
	rc, prefix := client(t)
	ctx := context.Background()
	k := keys(prefix)
	state := func(id string) string { return prefix + "task:" + id }
	claim := func(key, id string) string {
		t.Helper()
		holder, err := k.Claim(ctx, rc, key, id, state(id), time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		return holder
	}
	if h := claim("k", "a"); h != "" {
		t.Fatalf("a free key: held by %q", h)
	}
	// a's state hash does not exist yet: it is being enqueued.
	if h := claim("k", "b"); h != "a" {
		t.Fatalf("a key claimed a moment ago, task not enqueued yet: held by %q, want a", h)
	}
	for _, s := range []string{"pending", "running"} {
		rc.HSet(ctx, state("a"), "state", s, "other", "x")
		if h := claim("k", "b"); h != "a" {
			t.Fatalf("holder %s: claim returned %q, want a", s, h)
		}
	}
	if got, _ := rc.HGetAll(ctx, state("a")).Result(); got["state"] != "running" || got["other"] != "x" || len(got) != 2 {
		t.Errorf("a duplicate changed the holder's state hash: %v", got)
	}
	rc.HSet(ctx, state("a"), "state", "succeeded")
	if h := claim("k", "b"); h != "" {
		t.Fatalf("holder done: claim returned %q, want the key taken", h)
	}
	if id, _ := rc.HGet(ctx, prefix+"claim:k", "id").Result(); id != "b" {
		t.Errorf("the key's holder is %q, want b", id)
	}
	if ttl := rc.PTTL(ctx, prefix+"claim:k").Val(); ttl <= 0 || ttl > time.Hour {
		t.Errorf("the claim's expiry: %s, want at most an hour", ttl)
	}
}

func TestClaimOfAVanishedHolder(t *testing.T) {
	rc, prefix := client(t)
	ctx := context.Background()
	k := keys(prefix)
	if h, err := k.Claim(ctx, rc, "k", "a", prefix+"task:a", time.Hour); h != "" || err != nil {
		t.Fatal(h, err)
	}
	// The claim is older than EnqueueGrace and its task never appeared
	// (or its state hash expired).
	rc.HSet(ctx, prefix+"claim:k", "at", 0)
	if h, err := k.Claim(ctx, rc, "k", "b", prefix+"task:b", time.Hour); h != "" || err != nil {
		t.Fatalf("a claim whose task vanished: held by %q (%v), want it taken", h, err)
	}
}

func TestRelease(t *testing.T) {
	rc, prefix := client(t)
	ctx := context.Background()
	k := keys(prefix)
	rc.HSet(ctx, prefix+"task:a", "state", "running")
	if h, err := k.Claim(ctx, rc, "k", "a", prefix+"task:a", time.Hour); h != "" || err != nil {
		t.Fatal(h, err)
	}
	if err := k.Release(ctx, rc, "k", "other").Err(); err != nil {
		t.Fatal(err)
	}
	if n := rc.Exists(ctx, prefix+"claim:k").Val(); n != 1 {
		t.Fatal("a task that does not hold the key released it")
	}
	// In the transaction that records the task's end.
	p := rc.TxPipeline()
	p.HSet(ctx, prefix+"task:a", "state", "running") // still running by its hash: only the release frees the key
	k.Release(ctx, p, "k", "a")
	if _, err := p.Exec(ctx); err != nil {
		t.Fatal(err)
	}
	if h, err := k.Claim(ctx, rc, "k", "b", prefix+"task:b", time.Hour); h != "" || err != nil {
		t.Fatalf("after the release: held by %q (%v), want the key free", h, err)
	}
}

func TestReplace(t *testing.T) {
	rc, prefix := client(t)
	ctx := context.Background()
	k := keys(prefix)
	rc.HSet(ctx, prefix+"task:a", "state", "pending") // a Python worker ran it: our hash still says pending
	if h, _ := k.Claim(ctx, rc, "k", "a", prefix+"task:a", time.Hour); h != "" {
		t.Fatal(h)
	}
	rc.HSet(ctx, prefix+"task:b", "state", "pending")
	if h, err := k.Replace(ctx, rc, "k", "a", "b", prefix+"task:b", time.Hour); h != "" || err != nil {
		t.Fatalf("Replace of a holder found done: %q, %v; want the key taken", h, err)
	}
	// a is no longer the holder: Replace from a must not take b's key.
	if h, err := k.Replace(ctx, rc, "k", "a", "c", prefix+"task:c", time.Hour); h != "b" || err != nil {
		t.Fatalf("Replace from a holder that is not the key's: %q, %v; want b, the live holder", h, err)
	}
}
