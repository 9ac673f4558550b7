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
                local key = P .. 'job:' .. id
                local priority = tonumber(ARGV[b + 3])
                local score = (1000 - priority) * 2199023255552 + seq
                local due = tonumber(ARGV[b + 5])
                if due == 0 and tonumber(ARGV[b + 4]) > 0 then due = now + tonumber(ARGV[b + 4]) end
                -- Defaults are not stored: priority 0, attempts 0, token 0, timeoutMs 0, no tenant/correlation.
                if due > now then
                  redis.call('HSET', key, 'name', ARGV[b + 1], 'payload', ARGV[b + 2], 'maxAttempts', ARGV[b + 6],
                    'backoff', ARGV[b + 7], 'enqueuedAt', now, 'score', score, 'state', 'scheduled', 'runAt', due)
                  scheduled[#scheduled + 1] = due
                  scheduled[#scheduled + 1] = id
                else
                  redis.call('HSET', key, 'name', ARGV[b + 1], 'payload', ARGV[b + 2], 'maxAttempts', ARGV[b + 6],
                    'backoff', ARGV[b + 7], 'enqueuedAt', now, 'score', score, 'state', 'ready')
                  ready[#ready + 1] = score
                  ready[#ready + 1] = id
                end
                if priority ~= 0 then redis.call('HSET', key, 'priority', priority) end
                if ARGV[b + 8] ~= '0' then redis.call('HSET', key, 'timeoutMs', ARGV[b + 8]) end
                if ARGV[b + 9] ~= '' then redis.call('HSET', key, 'tenant', ARGV[b + 9]) end
                if ARGV[b + 10] ~= '' then redis.call('HSET', key, 'correlation', ARGV[b + 10]) end
                if idem ~= '' then redis.call('HSET', key, 'idem', idem) end
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
}
