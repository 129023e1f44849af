package celery

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"taskhost.dev/backends/driver"
)

// Celery's result backend has no index of its tasks: this package keeps
// one beside its records, so that tasks can be listed newest first and
// counted by queue. Every task the host knows (sent by its clients, or
// taken by its workers, a Python client's included) is in the sorted set
// taskhost:celery:index and its queue's taskhost:celery:index:QUEUE, by
// the time it was submitted (µs since the epoch), for result_expires
// after it; taskhost:celery:queues names the queues.
const (
	indexKey         = "taskhost:celery:index"
	queueIndexPrefix = "taskhost:celery:index:"
	queuesKey        = "taskhost:celery:queues"
)

func queueIndexKey(queue string) string { return queueIndexPrefix + queue }

// score is a task's place in the index: when it was submitted, in µs.
func score(t time.Time) float64 { return float64(t.UnixMicro()) }

// index adds a task to the index in p, keeping its first place.
func index(ctx context.Context, p redis.Pipeliner, id, queue string, at float64) {
	z := redis.Z{Score: at, Member: id}
	p.ZAddNX(ctx, indexKey, z)
	p.ZAddNX(ctx, queueIndexKey(queue), z)
	p.SAdd(ctx, queuesKey, queue)
}

// trimIndex drops, in p, the entries older than the result expiry from
// the index and the queues' indexes.
func (b *backend) trimIndex(ctx context.Context, p redis.Pipeliner, queues ...string) {
	cutoff := "(" + strconv.FormatFloat(score(time.Now().Add(-b.expires)), 'f', 0, 64)
	p.ZRemRangeByScore(ctx, indexKey, "-inf", cutoff)
	for _, q := range queues {
		p.ZRemRangeByScore(ctx, queueIndexKey(q), "-inf", cutoff)
	}
}

// List implements driver.Lister: the index newest first (the queue's when
// the filter names one), each task read as Result reads it and filtered.
// A cursor is the score and id of the last task of a page.
func (b *backend) List(ctx context.Context, f driver.ListFilter) (driver.ListPage, error) {
	key := indexKey
	if f.Queue != "" {
		key = queueIndexKey(f.Queue)
	}
	top, bottom := "+inf", "-inf"
	if !f.Until.IsZero() {
		top = strconv.FormatFloat(score(f.Until), 'f', 0, 64)
	}
	if !f.Since.IsZero() {
		bottom = strconv.FormatFloat(score(f.Since), 'f', 0, 64)
	}
	var at struct {
		set   bool
		score float64
		id    string
	}
	if f.Cursor != "" {
		s, id, ok := strings.Cut(f.Cursor, ":")
		n, err := strconv.ParseInt(s, 10, 64)
		if !ok || err != nil || id == "" {
			return driver.ListPage{}, fmt.Errorf("celery: list cursor %q is not one a listing gave (pass a page's next as it was)", f.Cursor)
		}
		at.set, at.score, at.id = true, float64(n), id
		if top == "+inf" || float64(n) < score(f.Until) {
			top = s
		}
	}
	batch := max(2*f.Limit, 100)
	var page driver.ListPage
	var lastScore float64 // of the page's last task
	offset := 0
	for {
		zs, err := b.broker.ZRevRangeByScoreWithScores(ctx, key, &redis.ZRangeBy{Max: top, Min: bottom, Offset: int64(offset), Count: int64(batch)}).Result()
		if err != nil {
			return page, fmt.Errorf("celery: listing tasks: %w", err)
		}
		ids := make([]string, 0, len(zs))
		places := make([]redis.Z, 0, len(zs))
		for _, z := range zs {
			id, _ := z.Member.(string)
			// Among equal scores Redis gives members in reverse order.
			if at.set && z.Score == at.score && id >= at.id {
				continue
			}
			ids, places = append(ids, id), append(places, z)
		}
		rs, err := b.readResults(ctx, ids)
		if err != nil {
			return page, fmt.Errorf("celery: listing tasks: %w", err)
		}
		for i, r := range rs {
			if r == nil || !keeps(f, r) {
				continue
			}
			if len(page.Tasks) == f.Limit {
				// One more is kept: the page has a next.
				page.Next = fmt.Sprintf("%d:%s", int64(lastScore), page.Tasks[f.Limit-1].ID)
				return page, nil
			}
			page.Tasks = append(page.Tasks, *r)
			lastScore = places[i].Score
		}
		if len(zs) < batch {
			return page, nil
		}
		last := zs[len(zs)-1]
		if len(ids) == 0 && last.Score == at.score {
			offset += batch // a batch of equal scores, all before the cursor
			continue
		}
		offset = 0
		at.set, at.score, at.id = true, last.Score, last.Member.(string)
		top = strconv.FormatFloat(last.Score, 'f', 0, 64)
	}
}

// keeps reports whether a listing keeps r.
func keeps(f driver.ListFilter, r *driver.TaskResult) bool {
	return (len(f.States) == 0 || slices.Contains(f.States, r.Status)) &&
		(f.Task == "" || r.Task == f.Task) && (f.Queue == "" || r.Queue == f.Queue)
}

// readResults reads tasks as Result does, in one round trip per Redis; a
// task that is gone is nil.
func (b *backend) readResults(ctx context.Context, ids []string) ([]*driver.TaskResult, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	bp := b.broker.Pipeline()
	rp := bp
	if b.results != b.broker {
		rp = b.results.Pipeline()
	}
	recs := make([]*redis.MapStringStringCmd, len(ids))
	metas := make([]*redis.StringCmd, len(ids))
	for i, id := range ids {
		recs[i] = bp.HGetAll(ctx, recordKey(id))
		metas[i] = rp.Get(ctx, metaKey(id))
	}
	if _, err := bp.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return nil, err
	}
	if rp != bp {
		if _, err := rp.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
			return nil, err
		}
	}
	out := make([]*driver.TaskResult, len(ids))
	for i, id := range ids {
		rec := recs[i].Val()
		raw, _ := metas[i].Bytes()
		if len(rec) == 0 && len(raw) == 0 {
			continue
		}
		r, err := resultOf(id, raw, rec)
		if err != nil {
			b.logger.Warn("celery: a task's result does not read; listed as its record says", "task", id, "err", err)
		}
		out[i] = &r
	}
	return out, nil
}
