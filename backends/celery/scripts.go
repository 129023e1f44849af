package celery

import "github.com/redis/go-redis/v9"

// The Lua scripts of the transport (taking and putting back messages as
// kombu does) and of workflows (sending a stage once).

// kombu's acknowledgement bookkeeping: a message taken from a queue is
// kept in the hash unacked (tag -> [message, exchange, routing key]) and
// the sorted set unacked_index (tag -> time taken) until acknowledged;
// unacked_mutex guards putting old ones back.
const (
	unackedKey      = "unacked"
	unackedIndexKey = "unacked_index"
	unackedMutexKey = "unacked_mutex"
)

// trackLua records a message taken from list m's queue as unacknowledged
// (kombu's QoS.append), or moves a message that is not kombu JSON to the
// dead list. KEYS[1..3] are unacked, unacked_index and the dead list.
const trackLua = `
local function track(list, m, now)
	local ok, msg = pcall(cjson.decode, m)
	local props = ok and type(msg) == 'table' and msg.properties
	local tag = type(props) == 'table' and props.delivery_tag
	if type(tag) ~= 'string' or tag == '' then
		redis.call('LPUSH', KEYS[3], m)
		return false
	end
	local queue = list
	local p = string.find(list, '\6\22', 1, true)
	if p then queue = string.sub(list, 1, p - 1) end
	local ex, rk = '', queue
	local di = props.delivery_info
	if type(di) == 'table' then
		if type(di.exchange) == 'string' then ex = di.exchange end
		if type(di.routing_key) == 'string' and di.routing_key ~= '' then rk = di.routing_key end
	end
	redis.call('ZADD', KEYS[2], now, tag)
	redis.call('HSET', KEYS[1], tag, '[' .. m .. ', ' .. cjson.encode(ex) .. ', ' .. cjson.encode(rk) .. ']')
	return true
end
`

// popScript takes up to ARGV[2] messages from the lists KEYS[4..], in
// order, and tracks each in the same step, so that no message is ever
// out of both its queue and the unacked hash. It returns list, message
// pairs; a dead message's list is empty.
var popScript = redis.NewScript(trackLua + `
local out = {}
local n = tonumber(ARGV[2])
for i = 4, #KEYS do
	while #out < 2 * n do
		local m = redis.call('RPOP', KEYS[i])
		if not m then break end
		if track(KEYS[i], m, ARGV[1]) then
			out[#out + 1] = KEYS[i]
		else
			out[#out + 1] = ''
		end
		out[#out + 1] = m
	end
end
return out
`)

// trackScript tracks one message taken by BRPOP: ARGV list, message, now.
var trackScript = redis.NewScript(trackLua + `
return track(ARGV[1], ARGV[2], ARGV[3]) and 1 or 0
`)

// restoreScript puts an unacknowledged message back on its lists if it is
// still the one read (ARGV[2]) and, when ARGV[3] is not empty, still older
// than that time: KEYS unacked, unacked_index, then the lists; ARGV tag,
// the unacked entry read, the ceiling, the message to push.
var restoreScript = redis.NewScript(`
if redis.call('HGET', KEYS[1], ARGV[1]) ~= ARGV[2] then return 0 end
if ARGV[3] ~= '' then
	local score = redis.call('ZSCORE', KEYS[2], ARGV[1])
	if score and tonumber(score) > tonumber(ARGV[3]) then return 0 end
end
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('HDEL', KEYS[1], ARGV[1])
for i = 3, #KEYS do redis.call('RPUSH', KEYS[i], ARGV[4]) end
return 1
`)

// releaseMutex is kombu's Mutex release: delete the lock if it is ours.
var releaseMutex = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
`)

// sendStage sends a workflow stage's messages once: the marker sent:STAGE
// in the workflow's hash, each step's task record, index entries and task
// id, and the messages go in one step; a second run sends nothing. KEYS
// the workflow's hash, the index, the set of queues, then per step its
// record, its queue's binding, its list and its queue's index; ARGV the
// stage, now, the records' expiry (s), then per step its message, queue,
// binding member, task id, task name and index score. It returns 1 when
// it sent the stage.
var sendStage = redis.NewScript(`
if redis.call('HSETNX', KEYS[1], 'sent:' .. ARGV[1], 1) == 0 then return 0 end
for i = 0, (#KEYS - 3) / 4 - 1 do
	local rec, binding, list, qindex = KEYS[4 + 4 * i], KEYS[5 + 4 * i], KEYS[6 + 4 * i], KEYS[7 + 4 * i]
	local a = 4 + 6 * i
	local raw, queue, member, id, task, at = ARGV[a], ARGV[a + 1], ARGV[a + 2], ARGV[a + 3], ARGV[a + 4], ARGV[a + 5]
	redis.call('HSET', rec, 'task', task, 'queue', queue, 'enqueued_at', ARGV[2], 'state', 'pending')
	redis.call('EXPIRE', rec, ARGV[3])
	redis.call('ZADD', KEYS[2], 'NX', at, id)
	redis.call('ZADD', qindex, 'NX', at, id)
	redis.call('SADD', KEYS[3], queue)
	redis.call('HSET', KEYS[1], 'task:' .. ARGV[1] .. ':' .. i, id)
	redis.call('SADD', binding, member)
	redis.call('LPUSH', list, raw)
end
return 1
`)

// startScript starts an attempt, or discards its message if its task id
// is revoked, in one step, so that a revoke is either seen here or finds
// the attempt registered with its worker (cancel.go). KEYS the record,
// the revoked key, the index, the queue's index, the set of queues,
// unacked, unacked_index, the unique key's hash (the record's when none),
// then the result's key when results are on the broker and stored; ARGV
// enqueued_at, task, queue, now, attempt, the expiry (s), the index score,
// the delivery tag, the message, the id, the revoked exception,
// date_done, "1" when the task holds a unique key. It returns the
// attempt's number when it may run (for a message redelivered after its
// worker died, one more than the attempt that never ended, though its
// retries are as they were), 0 when it was discarded (record cancelled with its
// message kept for Retry, REVOKED stored, unique key freed, acknowledged).
var startScript = redis.NewScript(`
redis.call('HSETNX', KEYS[1], 'enqueued_at', ARGV[1])
redis.call('EXPIRE', KEYS[1], ARGV[6])
redis.call('ZADD', KEYS[3], 'NX', ARGV[7], ARGV[10])
redis.call('ZADD', KEYS[4], 'NX', ARGV[7], ARGV[10])
redis.call('SADD', KEYS[5], ARGV[3])
if redis.call('EXISTS', KEYS[2]) == 0 then
	local attempt = tonumber(ARGV[5])
	if redis.call('HGET', KEYS[1], 'state') == 'running' then
		-- the last attempt never ended: its worker died, and this is its
		-- message redelivered, a new attempt with the same retries
		local prev = tonumber(redis.call('HGET', KEYS[1], 'attempt') or '0') or 0
		if prev + 1 > attempt then attempt = prev + 1 end
	end
	redis.call('HSET', KEYS[1], 'task', ARGV[2], 'queue', ARGV[3], 'started_at', ARGV[4], 'attempt', attempt, 'state', 'running')
	redis.call('HDEL', KEYS[1], 'finished_at')
	return attempt
end
redis.call('HSET', KEYS[1], 'task', ARGV[2], 'queue', ARGV[3], 'state', 'cancelled', 'finished_at', ARGV[4], 'message', ARGV[9])
redis.call('ZREM', KEYS[7], ARGV[8])
redis.call('HDEL', KEYS[6], ARGV[8])
if ARGV[13] == '1' and redis.call('HGET', KEYS[8], 'id') == ARGV[10] then redis.call('DEL', KEYS[8]) end
if #KEYS > 8 then
	local meta = '{"status":"REVOKED","result":' .. ARGV[11] .. ',"traceback":null,"children":[],"date_done":"' .. ARGV[12] ..
		'","task_id":' .. cjson.encode(ARGV[10]) .. ',"name":' .. cjson.encode(ARGV[2]) .. ',"queue":' .. cjson.encode(ARGV[3]) .. '}'
	redis.call('SET', KEYS[9], meta, 'EX', ARGV[6])
	redis.call('PUBLISH', KEYS[9], meta)
end
return 0
`)
