/// The worker-side scripts: claim, complete, fail, hand back, renew and reap. Each is one atomic call;
/// every transition of a claimed job checks the job's fencing token, so a worker whose lease was
/// reclaimed cannot complete, fail or extend the job.
enum LeaseScripts {
    /// Lua shared by the lease scripts: the queue clock that detects pauses, chunked `ZADD`, hand-back
    /// and lease expiry.
    static let functions = """
        -- ZADD of a flat (score, member, ...) list in chunks (Lua's unpack has a stack limit).
        local function zadd_all(key, list)
          for i = 1, #list, 2000 do
            redis.call('ZADD', key, unpack(list, i, math.min(i + 1999, #list)))
          end
        end
        -- The queue's clock: the last time (Redis ms) a node renewed or reaped on this queue. Every node
        -- touches it once per renewal interval, so a gap longer than `threshold` means nobody could reach
        -- Redis (a pause, a restart, a clock step). Then every lease is moved by the gap: no lease expires
        -- for time during which its holder could not renew it. Returns the gap applied (0 when none).
        local function observe_clock(now, threshold)
          local last = tonumber(redis.call('GET', P .. 'clock') or '0')
          redis.call('SET', P .. 'clock', now, 'PX', 86400000)
          if last == 0 or threshold <= 0 then return 0 end
          local gap = now - last
          if gap <= threshold and gap >= -threshold then return 0 end
          local leases = redis.call('ZRANGE', P .. 'active', 0, -1, 'WITHSCORES')
          local moved = {}
          for i = 1, #leases, 2 do
            moved[#moved + 1] = tonumber(leases[i + 1]) + gap
            moved[#moved + 1] = leases[i]
          end
          zadd_all(P .. 'active', moved)
          redis.call('HINCRBY', P .. 'stats', 'pauses', 1)
          return gap
        end
        -- Returns an active job to `ready` without counting its attempt (hand-back), or to `canceled`
        -- when a cancel was requested. Bumps the token so that the old holder is fenced off.
        local function hand_back(id, key, now)
          local f = redis.call('HMGET', key, 'state', 'score', 'attempts', 'cancelRequested', 'permits')
          if f[1] ~= 'active' then return 0 end
          redis.call('ZREM', P .. 'active', id)
          redis.call('HINCRBY', key, 'token', 1)
          if f[5] then
            release_permits(id, f[5])
            redis.call('HDEL', key, 'permits')
          end
          if f[4] then
            local count, age = retention('canceled')
            finish(id, key, 'canceled', now, math.max(count, 1), math.max(age, 1), {'lastError', 'canceled'})
            event('canceled', id, 'error', 'canceled')
            return 2
          end
          redis.call('HSET', key, 'state', 'ready', 'attempts', math.max(0, tonumber(f[3] or '0') - 1))
          redis.call('ZADD', P .. 'ready', f[2], id)
          return 1
        end
        -- Returns an active job whose holder is gone (lease expired, node dead) to `ready`. The attempt it
        -- was on is given back (a lost lease is not a failed attempt) and counted in `expiries`; after
        -- `maxExpiries` expiries the job is `dead` (it keeps killing its node). A requested cancel wins.
        local function expire(id, now, err, maxExpiries)
          local key = P .. 'job:' .. id
          redis.call('ZREM', P .. 'active', id)
          local f = redis.call('HMGET', key, 'state', 'attempts', 'expiries', 'score', 'node', 'history', 'cancelRequested',
            'permits')
          if f[1] ~= 'active' then return 0 end
          if f[8] then
            release_permits(id, f[8])
            redis.call('HDEL', key, 'permits')
          end
          local expiries = tonumber(f[3] or '0') + 1
          local history = cjson.decode(f[6] or '[]')
          history[#history + 1] = {attempt = tonumber(f[2] or '0'), at = now, node = f[5] or '', error = err, kind = 'lease'}
          while #history > 25 do table.remove(history, 1) end
          redis.call('HINCRBY', key, 'token', 1)
          if f[7] then
            local count, age = retention('canceled')
            finish(id, key, 'canceled', now, count, age, {'lastError', err, 'history', cjson.encode(history)})
            event('canceled', id, 'error', 'canceled')
            return 3
          end
          if expiries < maxExpiries then
            redis.call('HSET', key, 'state', 'ready', 'attempts', math.max(0, tonumber(f[2] or '1') - 1), 'expiries',
              expiries, 'lastError', err, 'history', cjson.encode(history))
            redis.call('ZADD', P .. 'ready', f[4], id)
            return 1
          end
          local reason = 'lease lost ' .. expiries .. ' times (last: ' .. err .. '); the job may be crashing its node'
          local count, age = retention('dead')
          finish(id, key, 'dead', now, math.max(count, 1), math.max(age, 1),
            {'lastError', reason, 'history', cjson.encode(history), 'expiries', expiries})
          redis.call('HINCRBY', P .. 'stats', 'dead', 1)
          event('dead', id, 'error', reason)
          return 2
        end

        """

    static let prelude = LuaPrelude.keyed + functions + LimitScripts.functions + LimitScripts.admission

    /// Promotes due scheduled and retrying jobs, then claims up to `count` ready jobs under a lease. When
    /// it took as many as it asked for and ready work is left, it pushes the wake marker on, so that the
    /// next idle node wakes too (one marker per push would otherwise wake one fetcher only).
    ///
    /// KEYS: 1 queue prefix. ARGV: 1 count, 2 lease ms, 3 node id.
    /// Reply: `[status, nextDueMs, (id, token, name, payload, attempt, maxAttempts, timeoutMs, tenant,
    /// correlation, enqueuedAt, runAt, trace, claimedAt) × n]` (``ClaimedJob/fieldsPerJob`` per job); status
    /// 1 = ok, 0 = paused; nextDueMs = ms until the earliest scheduled or retrying job is due, -1 when none;
    /// runAt '' when the job was not delayed; trace '' when the producer carried no trace context.
    static let claim = RedisScript(
        prelude + """
            local now = now_ms()
            local out = {1, -1}
            local nextDue = -1
            for _, set in ipairs({'scheduled', 'retrying'}) do
              local due = redis.call('ZRANGEBYSCORE', P .. set, '-inf', now, 'LIMIT', 0, 1000)
              for _, id in ipairs(due) do
                local key = P .. 'job:' .. id
                local score = redis.call('HGET', key, 'score')
                if score then
                  redis.call('ZADD', P .. 'ready', score, id)
                  redis.call('HSET', key, 'state', 'ready')
                end
              end
              if #due > 0 then redis.call('ZREM', P .. set, unpack(due)) end
              local first = redis.call('ZRANGE', P .. set, 0, 0, 'WITHSCORES')
              if first[2] then
                local d = math.max(0, tonumber(first[2]) - now)
                if nextDue < 0 or d < nextDue then nextDue = d end
              end
            end
            out[2] = nextDue
            if redis.call('EXISTS', P .. 'paused') == 1 then
              out[1] = 0
              return out
            end
            local want = tonumber(ARGV[1])
            local deadline = now + tonumber(ARGV[2])
            local leases = {}
            -- The queue's limits (none: the plain path). With limits, jobs are popped until `want` are admitted or
            -- a bounded number were looked at; a job a rate limit denies goes to `scheduled` at the time the
            -- limiter gives, one a concurrency cap denies waits in `scheduled` for a permit (see limits_admit).
            local defs = load_limits()
            local limited = defs ~= nil
            rl_memo = limited  -- spends are kept in memory and written once, by rl_flush() below
            local budget = limited and (want * 4 + 16) or want
            local examined, poppedAll = 0, false
            -- The queue's head for tenant fairness: the highest position claimed (see the enqueue script).
            local head = tonumber(redis.call('GET', P .. 'vtime') or '0')
            local head0 = head
            local popped = redis.call('ZPOPMIN', P .. 'ready', want)
            while true do
              if #popped == 0 then poppedAll = true end
            for i = 1, #popped, 2 do
              local id = popped[i]
              local key = P .. 'job:' .. id
              examined = examined + 1
              local position = tonumber(popped[i + 1]) % 2199023255552
              if position > head then head = position end
              local f = redis.call('HMGET', key, 'name', 'payload', 'attempts', 'maxAttempts', 'timeoutMs', 'tenant',
                'correlation', 'enqueuedAt', 'token', 'runAt', 'trace')
              local verdict, retry, permits = 'ok', 0, nil
              if f[1] and limited then
                verdict, retry, permits = limits_admit(id, f[1], f[2], f[6], defs, now)
                if verdict == 'rate' then
                  redis.call('ZADD', P .. 'scheduled', now + retry, id)
                  redis.call('HSET', key, 'state', 'scheduled')
                  if nextDue < 0 or retry < nextDue then nextDue = retry; out[2] = retry end
                elseif verdict == 'cap' then
                  redis.call('RPUSH', P .. retry .. ':wait', id)
                  redis.call('PEXPIRE', P .. retry .. ':wait', 86400000)
                  redis.call('ZADD', P .. 'scheduled', now + 3600000, id)
                  redis.call('HSET', key, 'state', 'scheduled', 'capWait', 1)
                end
              end
              if f[1] and verdict == 'ok' then
                if permits then redis.call('HSET', key, 'permits', permits) end
                local attempt = tonumber(f[3] or '0') + 1
                local token = tonumber(f[9] or '0') + 1
                redis.call('HSET', key, 'state', 'active', 'attempts', attempt, 'startedAt', now, 'node', ARGV[3],
                  'token', token)
                leases[#leases + 1] = deadline
                leases[#leases + 1] = id
                local n = #out
                out[n + 1] = id; out[n + 2] = token; out[n + 3] = f[1]; out[n + 4] = f[2]; out[n + 5] = attempt
                out[n + 6] = f[4]; out[n + 7] = f[5] or '0'; out[n + 8] = f[6] or ''; out[n + 9] = f[7] or ''
                out[n + 10] = f[8]; out[n + 11] = f[10] or ''; out[n + 12] = f[11] or ''; out[n + 13] = now
              end
            end
              if not limited then break end
              local got = #leases / 2
              if got >= want or examined >= budget or poppedAll then break end
              popped = redis.call('ZPOPMIN', P .. 'ready', math.min(want - got, budget - examined))
            end
            if limited then rl_flush(now) end
            if #leases > 0 then redis.call('ZADD', P .. 'active', unpack(leases)) end
            if head > head0 then redis.call('SET', P .. 'vtime', head) end
            if #leases / 2 >= want and redis.call('ZCARD', P .. 'ready') > 0 then wake() end
            return out
            """)

    /// Completes jobs whose tokens still match.
    ///
    /// KEYS: 1 queue prefix. ARGV: (id, token, result) triples. Reply: ids refused (token
    /// mismatch: the lease was reclaimed, or the job was deleted or canceled).
    static let complete = RedisScript(
        LuaPrelude.keyed + """
            local now = now_ms()
            local count, age = retention('completed')
            local refused = {}
            local removed = {}
            local deleted = {}
            for i = 1, #ARGV, 3 do
              local id = ARGV[i]
              local key = P .. 'job:' .. id
              local f = redis.call('HMGET', key, 'token', 'state', 'watch', 'permits')
              if f[1] ~= ARGV[i + 1] or f[2] ~= 'active' then
                refused[#refused + 1] = id
              else
                removed[#removed + 1] = id
                if f[4] then
                  release_permits(id, f[4])
                  redis.call('HDEL', key, 'permits')
                end
                if count <= 0 or age <= 0 then
                  deleted[#deleted + 1] = key
                else
                  finish(id, key, 'completed', now, count, age, {'result', ARGV[i + 2]})
                end
                if f[3] then event('completed', id, 'result', ARGV[i + 2]) end
              end
            end
            if #removed > 0 then
              redis.call('ZREM', P .. 'active', unpack(removed))
              redis.call('HINCRBY', P .. 'stats', 'completed', #removed)
            end
            if #deleted > 0 then redis.call('DEL', unpack(deleted)) end
            return refused
            """)

    /// Records a failed attempt: retry with backoff, reschedule without burning an attempt, cancel, or dead.
    /// A requested cancel wins over every other outcome (a canceled job that throws is not retried).
    ///
    /// KEYS: 1 queue prefix. ARGV: 1 id, 2 token, 3 kind (`error`, `poison`, `later`, `canceled`),
    /// 4 error text, 5 delay ms for `later`, 6 jitter in [0, 1), 7 node id.
    /// Reply: `[outcome, delayMs]` with outcome `retrying`, `scheduled`, `dead`, `canceled` or `refused`.
    static let fail = RedisScript(
        LuaPrelude.keyed + """
            local id, token, kind, err = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
            local key = P .. 'job:' .. id
            local f = redis.call('HMGET', key, 'token', 'state', 'attempts', 'maxAttempts', 'backoff', 'history',
              'cancelRequested', 'permits')
            if f[1] ~= token or f[2] ~= 'active' then return {'refused', 0} end
            local now = now_ms()
            local attempt = tonumber(f[3] or '1')
            redis.call('ZREM', P .. 'active', id)
            if f[8] then
              release_permits(id, f[8])
              redis.call('HDEL', key, 'permits')
            end
            if f[7] and kind ~= 'canceled' then
              err = 'canceled (the attempt ended with: ' .. err .. ')'
              kind = 'canceled'
            end
            local history = cjson.decode(f[6] or '[]')
            history[#history + 1] = {attempt = attempt, at = now, node = ARGV[7], error = err, kind = kind}
            while #history > 25 do table.remove(history, 1) end
            local fields = {'lastError', err, 'history', cjson.encode(history)}
            if kind == 'later' then
              local due = now + tonumber(ARGV[5])
              redis.call('HSET', key, 'state', 'scheduled', 'runAt', due, 'attempts', attempt - 1, unpack(fields))
              redis.call('ZADD', P .. 'scheduled', due, id)
              wake()
              return {'scheduled', tonumber(ARGV[5])}
            end
            if kind == 'canceled' then
              local count, age = retention('canceled')
              finish(id, key, 'canceled', now, math.max(count, 1), math.max(age, 1), fields)
              event('canceled', id, 'error', err)
              return {'canceled', 0}
            end
            if kind ~= 'poison' and attempt < tonumber(f[4] or '1') then
              local delay = 0
              local b = f[5] or 'none'
              local base, cap = string.match(b, '^exp:(%d+):(%d+)$')
              if base then
                local ceiling = math.min(tonumber(cap), tonumber(base) * 2 ^ (attempt - 1))
                delay = math.floor(ceiling * tonumber(ARGV[6]))
              else
                local fixed = string.match(b, '^fixed:(%d+)$')
                if fixed then delay = tonumber(fixed) end
              end
              redis.call('HSET', key, 'state', 'retrying', 'runAt', now + delay, unpack(fields))
              redis.call('ZADD', P .. 'retrying', now + delay, id)
              wake()
              event('retrying', id, 'attempt', attempt, 'delayMs', delay)
              return {'retrying', delay}
            end
            local count, age = retention('dead')
            finish(id, key, 'dead', now, math.max(count, 1), math.max(age, 1), fields)
            redis.call('HINCRBY', P .. 'stats', 'dead', 1)
            event('dead', id, 'error', err)
            return {'dead', 0}
            """)

    /// Hands claimed jobs back to `ready` at once (graceful shutdown), without counting the attempt; a job
    /// whose cancel was requested becomes `canceled` instead.
    ///
    /// KEYS: 1 queue prefix. ARGV: (id, token) pairs. Reply: `[handed back, canceled]`.
    static let release = RedisScript(
        prelude + """
            local now = now_ms()
            local n, c = 0, 0
            for i = 1, #ARGV, 2 do
              local id = ARGV[i]
              local key = P .. 'job:' .. id
              if redis.call('HGET', key, 'token') == ARGV[i + 1] then
                local r = hand_back(id, key, now)
                if r == 1 then n = n + 1 elseif r == 2 then c = c + 1 end
              end
            end
            if n > 0 then wake() end
            return {n, c}
            """)

    /// Extends the leases this node holds on one queue, and hands back at once the jobs recorded as held
    /// by this node that it does not hold (a claim whose reply was lost). Also observes the queue clock
    /// (see `observe_clock`), so a Redis pause does not expire leases. Sent for every queue the node
    /// serves, once per renewal interval, even when it holds nothing there.
    ///
    /// KEYS: 1 queue prefix. ARGV: 1 lease ms, 2 node id, 3 pause threshold ms (0 = off), 4 "unheld
    /// after" ms (a lease of this node not renewed for that long and not listed is handed back; 0 = off),
    /// then (id, token) pairs. Reply: `[[lost id, token, ...], handed back]`.
    static let renew = RedisScript(
        prelude + """
            local now = now_ms()
            observe_clock(now, tonumber(ARGV[3]))
            local deadline = now + tonumber(ARGV[1])
            local lost = {}
            local held = {}
            local renewed = {}
            for i = 5, #ARGV, 2 do
              local id = ARGV[i]
              local f = redis.call('HMGET', P .. 'job:' .. id, 'token', 'state')
              if f[1] == ARGV[i + 1] and f[2] == 'active' then
                held[id] = true
                renewed[#renewed + 1] = deadline
                renewed[#renewed + 1] = id
              else
                lost[#lost + 1] = id
                lost[#lost + 1] = ARGV[i + 1]
              end
            end
            for i = 1, #renewed, 2000 do
              redis.call('ZADD', P .. 'active', 'XX', unpack(renewed, i, math.min(i + 1999, #renewed)))
            end
            local handed = 0
            local unheld = tonumber(ARGV[4])
            if unheld > 0 then
              local stale = redis.call('ZRANGEBYSCORE', P .. 'active', '-inf', deadline - unheld, 'LIMIT', 0, 1000)
              for _, id in ipairs(stale) do
                if not held[id] then
                  local key = P .. 'job:' .. id
                  if redis.call('HGET', key, 'node') == ARGV[2] and hand_back(id, key, now) > 0 then
                    handed = handed + 1
                  end
                end
              end
              if handed > 0 then wake() end
            end
            return {lost, handed}
            """)

    /// Returns jobs whose lease expired to `ready` (their attempt given back), or to `dead` after too many
    /// expiries. Observes the queue clock first, so leases are not expired for a Redis pause.
    ///
    /// Safe to run on every node at once: each expired job is moved exactly once.
    /// KEYS: 1 queue prefix. ARGV: 1 limit, 2 pause threshold ms (0 = off), 3 max expiries.
    /// Reply: `[requeued, dead]`.
    static let reap = RedisScript(
        prelude + """
            local now = now_ms()
            observe_clock(now, tonumber(ARGV[2] or '0'))
            local maxExpiries = tonumber(ARGV[3] or '3')
            local expired = redis.call('ZRANGEBYSCORE', P .. 'active', '-inf', now, 'LIMIT', 0, tonumber(ARGV[1]))
            local requeued, dead = 0, 0
            for _, id in ipairs(expired) do
              local node = redis.call('HGET', P .. 'job:' .. id, 'node') or '?'
              local r = expire(id, now, 'lease expired: node ' .. node .. ' stopped renewing', maxExpiries)
              if r == 1 then requeued = requeued + 1 elseif r >= 2 then dead = dead + 1 end
            end
            if requeued > 0 then wake() end
            return {requeued, dead}
            """)

    /// Returns at once the active jobs held by a node declared dead (not waiting for lease expiry). Only
    /// leases ending at or before `cutoff` are taken: a lease renewed after the node went silent (it came
    /// back) is left alone.
    ///
    /// KEYS: 1 queue prefix. ARGV: 1 node id, 2 cutoff ms (lease deadline), 3 max expiries.
    /// Reply: `[requeued, dead]`.
    static let reclaimNode = RedisScript(
        prelude + """
            local now = now_ms()
            local held = redis.call('ZRANGEBYSCORE', P .. 'active', '-inf', tonumber(ARGV[2]))
            local maxExpiries = tonumber(ARGV[3] or '3')
            local requeued, dead = 0, 0
            for _, id in ipairs(held) do
              if redis.call('HGET', P .. 'job:' .. id, 'node') == ARGV[1] then
                local r = expire(id, now, 'node ' .. ARGV[1] .. ' died (missed heartbeats)', maxExpiries)
                if r == 1 then requeued = requeued + 1 elseif r >= 2 then dead = dead + 1 end
              end
            end
            if requeued > 0 then wake() end
            return {requeued, dead}
            """)
}
