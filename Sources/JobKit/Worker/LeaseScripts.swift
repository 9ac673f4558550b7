/// The worker-side scripts: claim, complete, fail, hand back, renew and reap. Each is one atomic call;
/// every transition of a claimed job checks the job's fencing token, so a worker whose lease was
/// reclaimed cannot complete, fail or extend the job.
enum LeaseScripts {
    /// Promotes due scheduled and retrying jobs, then claims up to `count` ready jobs under a lease.
    ///
    /// KEYS: 1 ready. ARGV: 1 prefix, 2 count, 3 lease ms, 4 node id.
    /// Reply: `[status, nextDueMs, (id, token, name, payload, attempt, maxAttempts, timeoutMs, tenant,
    /// correlation, enqueuedAt) × n]`; status 1 = ok, 0 = paused; nextDueMs = ms until the earliest
    /// scheduled or retrying job is due, -1 when none.
    static let claim = RedisScript(
        LuaPrelude.source + """
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
            local popped = redis.call('ZPOPMIN', P .. 'ready', tonumber(ARGV[2]))
            local deadline = now + tonumber(ARGV[3])
            local leases = {}
            for i = 1, #popped, 2 do
              local id = popped[i]
              local key = P .. 'job:' .. id
              local f = redis.call('HMGET', key, 'name', 'payload', 'attempts', 'maxAttempts', 'timeoutMs', 'tenant',
                'correlation', 'enqueuedAt', 'token')
              if f[1] then
                local attempt = tonumber(f[3] or '0') + 1
                local token = tonumber(f[9] or '0') + 1
                redis.call('HSET', key, 'state', 'active', 'attempts', attempt, 'startedAt', now, 'node', ARGV[4],
                  'token', token)
                leases[#leases + 1] = deadline
                leases[#leases + 1] = id
                local n = #out
                out[n + 1] = id; out[n + 2] = token; out[n + 3] = f[1]; out[n + 4] = f[2]; out[n + 5] = attempt
                out[n + 6] = f[4]; out[n + 7] = f[5] or '0'; out[n + 8] = f[6] or ''; out[n + 9] = f[7] or ''
                out[n + 10] = f[8]
              end
            end
            if #leases > 0 then redis.call('ZADD', P .. 'active', unpack(leases)) end
            return out
            """)

    /// Completes jobs whose tokens still match.
    ///
    /// KEYS: 1 active. ARGV: 1 prefix, then (id, token, result) triples. Reply: ids refused (token
    /// mismatch: the lease was reclaimed, or the job was deleted or canceled).
    static let complete = RedisScript(
        LuaPrelude.source + """
            local now = now_ms()
            local count, age = retention('completed')
            local refused = {}
            local removed = {}
            local deleted = {}
            for i = 2, #ARGV, 3 do
              local id = ARGV[i]
              local key = P .. 'job:' .. id
              local f = redis.call('HMGET', key, 'token', 'state', 'watch')
              if f[1] ~= ARGV[i + 1] or f[2] ~= 'active' then
                refused[#refused + 1] = id
              else
                removed[#removed + 1] = id
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
    ///
    /// KEYS: 1 active. ARGV: 1 prefix, 2 id, 3 token, 4 kind (`error`, `poison`, `later`, `canceled`),
    /// 5 error text, 6 delay ms for `later`, 7 jitter in [0, 1), 8 node id.
    /// Reply: `[outcome, delayMs]` with outcome `retrying`, `scheduled`, `dead`, `canceled` or `refused`.
    static let fail = RedisScript(
        LuaPrelude.source + """
            local id, token, kind, err = ARGV[2], ARGV[3], ARGV[4], ARGV[5]
            local key = P .. 'job:' .. id
            local f = redis.call('HMGET', key, 'token', 'state', 'attempts', 'maxAttempts', 'backoff', 'history')
            if f[1] ~= token or f[2] ~= 'active' then return {'refused', 0} end
            local now = now_ms()
            local attempt = tonumber(f[3] or '1')
            redis.call('ZREM', P .. 'active', id)
            local history = cjson.decode(f[6] or '[]')
            history[#history + 1] = {attempt = attempt, at = now, node = ARGV[8], error = err, kind = kind}
            while #history > 25 do table.remove(history, 1) end
            local fields = {'lastError', err, 'history', cjson.encode(history)}
            if kind == 'later' then
              local due = now + tonumber(ARGV[6])
              redis.call('HSET', key, 'state', 'scheduled', 'runAt', due, 'attempts', attempt - 1, unpack(fields))
              redis.call('ZADD', P .. 'scheduled', due, id)
              wake()
              return {'scheduled', tonumber(ARGV[6])}
            end
            if kind == 'canceled' then
              local count, age = retention('canceled')
              finish(id, key, 'canceled', now, count, age, fields)
              event('canceled', id, 'error', err)
              return {'canceled', 0}
            end
            if kind ~= 'poison' and attempt < tonumber(f[4] or '1') then
              local delay = 0
              local b = f[5] or 'none'
              local base, cap = string.match(b, '^exp:(%d+):(%d+)$')
              if base then
                local ceiling = math.min(tonumber(cap), tonumber(base) * 2 ^ (attempt - 1))
                delay = math.floor(ceiling * tonumber(ARGV[7]))
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

    /// Hands claimed jobs back to `ready` at once (graceful shutdown), without counting the attempt.
    ///
    /// KEYS: 1 active. ARGV: 1 prefix, then (id, token) pairs. Reply: number handed back.
    static let release = RedisScript(
        LuaPrelude.source + """
            local n = 0
            for i = 2, #ARGV, 2 do
              local id = ARGV[i]
              local key = P .. 'job:' .. id
              local f = redis.call('HMGET', key, 'token', 'state', 'score', 'attempts')
              if f[1] == ARGV[i + 1] and f[2] == 'active' then
                redis.call('ZREM', P .. 'active', id)
                redis.call('HSET', key, 'state', 'ready', 'attempts', math.max(0, tonumber(f[4] or '0') - 1))
                redis.call('ZADD', P .. 'ready', f[3], id)
                n = n + 1
              end
            end
            if n > 0 then wake() end
            return n
            """)

    /// Extends the leases of jobs this node holds.
    ///
    /// KEYS: 1 active. ARGV: 1 prefix, 2 lease ms, then (id, token) pairs. Reply: ids whose lease is lost.
    static let renew = RedisScript(
        LuaPrelude.source + """
            local deadline = now_ms() + tonumber(ARGV[2])
            local lost = {}
            for i = 3, #ARGV, 2 do
              local id = ARGV[i]
              local f = redis.call('HMGET', P .. 'job:' .. id, 'token', 'state')
              if f[1] == ARGV[i + 1] and f[2] == 'active' then
                redis.call('ZADD', P .. 'active', 'XX', deadline, id)
              else
                lost[#lost + 1] = id
              end
            end
            return lost
            """)

    /// Returns jobs whose lease expired: to `ready` while attempts remain, else to `dead`.
    ///
    /// Safe to run on every node at once: each expired job is moved exactly once.
    /// KEYS: 1 active. ARGV: 1 prefix, 2 limit. Reply: `[requeued, dead]`.
    /// Lua shared by `reap` and `reclaimNode`: returns an abandoned active job to `ready`, or to `dead`
    /// when no attempt is left, and bumps its token so that the old holder is fenced off.
    static let expireFunction = """
        local function expire(id, now, err)
          local key = P .. 'job:' .. id
          redis.call('ZREM', P .. 'active', id)
          local f = redis.call('HMGET', key, 'state', 'attempts', 'maxAttempts', 'score', 'node', 'history', 'cancelRequested')
          if f[1] ~= 'active' then return 0 end
          local history = cjson.decode(f[6] or '[]')
          history[#history + 1] = {attempt = tonumber(f[2] or '0'), at = now, node = f[5] or '', error = err, kind = 'lease'}
          while #history > 25 do table.remove(history, 1) end
          local fields = {'lastError', err, 'history', cjson.encode(history)}
          redis.call('HINCRBY', key, 'token', 1)
          if f[7] then
            local count, age = retention('canceled')
            finish(id, key, 'canceled', now, count, age, fields)
            event('canceled', id, 'error', 'canceled')
            return 3
          end
          if tonumber(f[2] or '0') < tonumber(f[3] or '1') then
            redis.call('HSET', key, 'state', 'ready', unpack(fields))
            redis.call('ZADD', P .. 'ready', f[4], id)
            return 1
          end
          local count, age = retention('dead')
          finish(id, key, 'dead', now, math.max(count, 1), math.max(age, 1), fields)
          redis.call('HINCRBY', P .. 'stats', 'dead', 1)
          event('dead', id, 'error', err)
          return 2
        end

        """

    /// Returns jobs whose lease expired: to `ready` while attempts remain, else to `dead`.
    ///
    /// Safe to run on every node at once: each expired job is moved exactly once.
    /// KEYS: 1 active. ARGV: 1 prefix, 2 limit. Reply: `[requeued, dead]`.
    static let reap = RedisScript(
        LuaPrelude.source + expireFunction + """
            local now = now_ms()
            local expired = redis.call('ZRANGEBYSCORE', P .. 'active', '-inf', now, 'LIMIT', 0, tonumber(ARGV[2]))
            local requeued, dead = 0, 0
            for _, id in ipairs(expired) do
              local node = redis.call('HGET', P .. 'job:' .. id, 'node') or '?'
              local r = expire(id, now, 'lease expired: node ' .. node .. ' stopped renewing')
              if r == 1 then requeued = requeued + 1 elseif r >= 2 then dead = dead + 1 end
            end
            if requeued > 0 then wake() end
            return {requeued, dead}
            """)

    /// Returns at once every active job held by a node declared dead (not waiting for lease expiry).
    ///
    /// KEYS: 1 active. ARGV: 1 prefix, 2 node id. Reply: `[requeued, dead]`.
    static let reclaimNode = RedisScript(
        LuaPrelude.source + expireFunction + """
            local now = now_ms()
            local held = redis.call('ZRANGE', P .. 'active', 0, -1)
            local requeued, dead = 0, 0
            for _, id in ipairs(held) do
              if redis.call('HGET', P .. 'job:' .. id, 'node') == ARGV[2] then
                local r = expire(id, now, 'node ' .. ARGV[2] .. ' died (missed heartbeats)')
                if r == 1 then requeued = requeued + 1 elseif r >= 2 then dead = dead + 1 end
              end
            end
            if requeued > 0 then wake() end
            return {requeued, dead}
            """)
}
