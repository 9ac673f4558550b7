/// The producer- and operator-side scripts of a queue. Each runs as one atomic call.
enum QueueScripts {
    /// Enqueues `count` jobs.
    ///
    /// KEYS: 1 ready (for routing). ARGV: 1 prefix, 2 count, then per job 12 values: id, name, payload,
    /// priority, delayMs, runAtMs (0 = none), maxAttempts, backoff, timeoutMs, tenant, correlation,
    /// idempotency key ('' = none), followed once at the end by the idempotency TTL in ms. Pushes the wake
    /// marker once (also for delayed jobs, so that idle fetchers recompute how long to wait).
    /// Reply: per job, `[id, created]` flattened — `created` is 0 when an idempotency key matched an
    /// existing job, whose id is returned.
    static let enqueue = RedisScript(
        LuaPrelude.source + """
            local count = tonumber(ARGV[2])
            local idemTtl = tonumber(ARGV[3 + count * 12])
            local now = now_ms()
            local seq = redis.call('INCRBY', P .. 'seq', count) - count
            local out = {}
            local ready = {}
            local scheduled = {}
            for j = 0, count - 1 do
              local b = 3 + j * 12
              local id = ARGV[b]
              local idem = ARGV[b + 11]
              local prior = false
              if idem ~= '' then
                prior = redis.call('GET', P .. 'idem:' .. idem)
                if not prior then redis.call('SET', P .. 'idem:' .. idem, id, 'PX', idemTtl) end
              end
              if prior then
                out[#out + 1] = prior
                out[#out + 1] = 0
              else
                seq = seq + 1
                local due = tonumber(ARGV[b + 5])
                if due == 0 and tonumber(ARGV[b + 4]) > 0 then due = now + tonumber(ARGV[b + 4]) end
                add_job(id, ARGV[b + 1], ARGV[b + 2], tonumber(ARGV[b + 3]), due, now, seq, ARGV[b + 6], ARGV[b + 7],
                  ARGV[b + 8], ARGV[b + 9], ARGV[b + 10], idem, ready, scheduled)
                out[#out + 1] = id
                out[#out + 1] = 1
              end
            end
            if #ready > 0 then redis.call('ZADD', P .. 'ready', unpack(ready)) end
            if #scheduled > 0 then redis.call('ZADD', P .. 'scheduled', unpack(scheduled)) end
            if #ready > 0 or #scheduled > 0 then wake() end
            return out
            """)

    /// Marks a job as awaited, so its terminal event carries its result; returns its state now.
    ///
    /// KEYS: 1 job hash. ARGV: 1 prefix, 2 id. Reply: `[state, result or '', lastError or '']`, or
    /// `[false]`-ish empty array when the job does not exist.
    static let watch = RedisScript(
        LuaPrelude.source + """
            local key = P .. 'job:' .. ARGV[2]
            local f = redis.call('HMGET', key, 'state', 'result', 'lastError')
            if not f[1] then return {} end
            if f[1] ~= 'completed' and f[1] ~= 'dead' and f[1] ~= 'canceled' then
              redis.call('HSET', key, 'watch', '1')
            end
            return {f[1], f[2] or '', f[3] or ''}
            """)

    /// Moves dead (or canceled) jobs back to `ready` with a fresh attempt count.
    ///
    /// KEYS: 1 dead. ARGV: 1 prefix, 2 'all' or 'ids', then ids. Reply: number requeued.
    static let requeue = RedisScript(
        LuaPrelude.source + """
            local ids = {}
            if ARGV[2] == 'all' then
              ids = redis.call('ZRANGE', P .. 'dead', 0, -1)
            else
              for i = 3, #ARGV do ids[#ids + 1] = ARGV[i] end
            end
            local n = 0
            for _, id in ipairs(ids) do
              local key = P .. 'job:' .. id
              local f = redis.call('HMGET', key, 'state', 'score')
              if f[1] == 'dead' or f[1] == 'canceled' then
                redis.call('ZREM', P .. f[1], id)
                redis.call('PERSIST', key)
                redis.call('HSET', key, 'state', 'ready', 'attempts', 0)
                redis.call('HDEL', key, 'finishedAt', 'runAt')
                redis.call('ZADD', P .. 'ready', f[2], id)
                n = n + 1
              end
            end
            if n > 0 then wake() end
            return n
            """)

    /// Deletes jobs wherever they are (an active job's worker then finds its lease gone).
    ///
    /// KEYS: 1 ready. ARGV: 1 prefix, then ids. Reply: number deleted.
    static let delete = RedisScript(
        LuaPrelude.source + """
            local n = 0
            for i = 2, #ARGV do
              local id = ARGV[i]
              local key = P .. 'job:' .. id
              local state = redis.call('HGET', key, 'state')
              if state then
                redis.call('ZREM', P .. state, id)
                local idem = redis.call('HGET', key, 'idem')
                if idem then redis.call('DEL', P .. 'idem:' .. idem) end
                redis.call('DEL', key)
                n = n + 1
              end
            end
            return n
            """)

    /// Cancels jobs: a waiting job (`scheduled`, `ready`, `retrying`) becomes `canceled` at once; an
    /// `active` one is marked `cancelRequested` and its node is returned, to be told.
    ///
    /// KEYS: 1 ready. ARGV: 1 prefix, then ids. Reply: per id `[status, node]`, status `canceled`,
    /// `requested`, `finished` (already terminal: nothing to do) or `missing`.
    static let cancel = RedisScript(
        LuaPrelude.source + """
            local now = now_ms()
            local count, age = retention('canceled')
            local out = {}
            for i = 2, #ARGV do
              local id = ARGV[i]
              local key = P .. 'job:' .. id
              local f = redis.call('HMGET', key, 'state', 'node')
              local state = f[1]
              if not state then
                out[#out + 1] = {'missing', ''}
              elseif state == 'active' then
                redis.call('HSET', key, 'cancelRequested', '1')
                out[#out + 1] = {'requested', f[2] or ''}
              elseif state == 'scheduled' or state == 'ready' or state == 'retrying' then
                redis.call('ZREM', P .. state, id)
                finish(id, key, 'canceled', now, math.max(count, 1), math.max(age, 1), {'lastError', 'canceled'})
                event('canceled', id, 'error', 'canceled')
                out[#out + 1] = {'canceled', ''}
              else
                out[#out + 1] = {'finished', state}
              end
            end
            return out
            """)

    /// Cancels every waiting job of the queue, or only those of one tenant (whose running jobs are also
    /// marked `cancelRequested`).
    ///
    /// KEYS: 1 ready. ARGV: 1 prefix, 2 tenant ('' = every waiting job). Reply: `[canceled count,
    /// (id, node) pairs of running jobs to tell]`.
    static let cancelMany = RedisScript(
        LuaPrelude.source + """
            local now = now_ms()
            local tenant = ARGV[2]
            local count, age = retention('canceled')
            local canceled = 0
            for _, set in ipairs({'ready', 'scheduled', 'retrying'}) do
              local ids = redis.call('ZRANGE', P .. set, 0, -1)
              for _, id in ipairs(ids) do
                local key = P .. 'job:' .. id
                if tenant == '' or redis.call('HGET', key, 'tenant') == tenant then
                  redis.call('ZREM', P .. set, id)
                  finish(id, key, 'canceled', now, math.max(count, 1), math.max(age, 1), {'lastError', 'canceled'})
                  event('canceled', id, 'error', 'canceled')
                  canceled = canceled + 1
                end
              end
            end
            local running = {}
            if tenant ~= '' then
              for _, id in ipairs(redis.call('ZRANGE', P .. 'active', 0, -1)) do
                local key = P .. 'job:' .. id
                local f = redis.call('HMGET', key, 'tenant', 'node')
                if f[1] == tenant then
                  redis.call('HSET', key, 'cancelRequested', '1')
                  running[#running + 1] = id
                  running[#running + 1] = f[2] or ''
                end
              end
            end
            return {canceled, running}
            """)

    /// Deletes every waiting job (`ready`, `scheduled`, `retrying`) of the queue; running and finished
    /// jobs stay.
    ///
    /// KEYS: 1 ready. ARGV: 1 prefix. Reply: number deleted.
    static let purge = RedisScript(
        LuaPrelude.source + """
            local n = 0
            for _, set in ipairs({'ready', 'scheduled', 'retrying'}) do
              local ids = redis.call('ZRANGE', P .. set, 0, -1)
              for _, id in ipairs(ids) do
                local key = P .. 'job:' .. id
                local idem = redis.call('HGET', key, 'idem')
                if idem then redis.call('DEL', P .. 'idem:' .. idem) end
                redis.call('DEL', key)
                n = n + 1
              end
              redis.call('DEL', P .. set)
            end
            return n
            """)
}
