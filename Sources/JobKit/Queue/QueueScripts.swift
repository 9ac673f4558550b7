/// The producer- and operator-side scripts of a queue. Each runs as one atomic call.
enum QueueScripts {
    /// The number of ``enqueue`` arguments per job (the script's `W`).
    static let enqueueArgumentsPerJob = 14

    /// Enqueues `count` jobs.
    ///
    /// KEYS: 1 queue prefix. ARGV: 1 count, then per job 14 values: id, name, payload,
    /// priority, delayMs, runAtMs (0 = none), maxAttempts, backoff, timeoutMs (0 = the worker's default),
    /// tenant, correlation, idempotency key ('' = none), idempotency TTL in ms (ignored without a key),
    /// trace context ('' = none; the producer's injected carrier as a JSON object).
    /// Every job is validated before the first write, so the script either refuses the whole call with an
    /// `ERR invalid enqueue: ...` error reply and writes nothing, or runs to the end. Pushes the wake marker
    /// once (also for delayed jobs, so that idle fetchers recompute how long to wait).
    /// Reply: per job, `[id, created]` flattened — `created` is 0 when an idempotency key matched an
    /// existing job, whose id is returned.
    static let enqueue = RedisScript(
        LuaPrelude.keyed + """
            local W = 14
            local count = tonumber(ARGV[1])
            if not count or count < 0 or count ~= math.floor(count) or #ARGV ~= 1 + count * W then
              return redis.error_reply('ERR invalid enqueue: ' .. #ARGV .. ' arguments for ' .. tostring(ARGV[1]) .. ' jobs')
            end
            local function whole(v, low, high)
              if not string.match(v, '^%-?%d+$') then return false end
              local n = tonumber(v)
              return n >= low and n <= high
            end
            local function valid_backoff(v)
              return v == 'none' or string.match(v, '^exp:%d+:%d+$') ~= nil or string.match(v, '^fixed:%d+$') ~= nil
            end
            -- Nothing is written before every job has passed: a script that fails halfway keeps its writes.
            for j = 0, count - 1 do
              local b = 2 + j * W
              local problem = nil
              if ARGV[b] == '' then problem = 'empty id'
              elseif ARGV[b + 1] == '' then problem = 'empty name'
              elseif not whole(ARGV[b + 3], -999, 999) then problem = 'priority ' .. ARGV[b + 3] .. ' is not in -999...999'
              elseif not whole(ARGV[b + 4], 0, 1e15) then problem = 'delayMs ' .. ARGV[b + 4] .. ' is negative or not whole'
              elseif not whole(ARGV[b + 5], 0, 1e15) then problem = 'runAtMs ' .. ARGV[b + 5] .. ' is negative or not whole'
              elseif not whole(ARGV[b + 6], 1, 1e15) then problem = 'maxAttempts ' .. ARGV[b + 6] .. ' is below 1'
              elseif not valid_backoff(ARGV[b + 7]) then problem = 'backoff ' .. ARGV[b + 7] .. ' is malformed'
              elseif not whole(ARGV[b + 8], 0, 1e15) then problem = 'timeoutMs ' .. ARGV[b + 8] .. ' is negative or not whole'
              elseif ARGV[b + 11] ~= '' and not whole(ARGV[b + 12], 1, 1e15) then
                problem = 'idempotency TTL ' .. ARGV[b + 12] .. ' ms is not positive'
              end
              if problem then
                return redis.error_reply('ERR invalid enqueue: job ' .. ARGV[b] .. ': ' .. problem .. '; nothing enqueued')
              end
            end
            local now = now_ms()
            local seq = redis.call('INCRBY', P .. 'seq', count) - count
            local out = {}
            local ready = {}
            local scheduled = {}
            -- Tenant fairness: a job with a tenant is numbered after the queue's head (`vtime`, the position of the
            -- last claimed job) and after its tenant's previous job, not after everything enqueued before it. One
            -- tenant's long backlog thus interleaves with a newcomer's jobs one for one.
            local vtime = nil
            local fair = {}
            for j = 0, count - 1 do
              local b = 2 + j * W
              local id = ARGV[b]
              local idem = ARGV[b + 11]
              local prior = false
              if idem ~= '' then
                prior = redis.call('GET', P .. 'idem:' .. idem)
                if not prior then redis.call('SET', P .. 'idem:' .. idem, id, 'PX', ARGV[b + 12]) end
              end
              if prior then
                out[#out + 1] = prior
                out[#out + 1] = 0
              else
                seq = seq + 1
                local position = seq
                local tenant = ARGV[b + 9]
                if tenant ~= '' then
                  if vtime == nil then vtime = tonumber(redis.call('GET', P .. 'vtime') or '0') end
                  local last = fair[tenant]
                  if last == nil then last = tonumber(redis.call('GET', P .. 'tlast:' .. tenant) or '0') end
                  position = math.max(vtime, last) + 1
                  fair[tenant] = position
                end
                local due = tonumber(ARGV[b + 5])
                if due == 0 and tonumber(ARGV[b + 4]) > 0 then due = now + tonumber(ARGV[b + 4]) end
                add_job(id, ARGV[b + 1], ARGV[b + 2], tonumber(ARGV[b + 3]), due, now, position, ARGV[b + 6], ARGV[b + 7],
                  ARGV[b + 8], ARGV[b + 9], ARGV[b + 10], idem, ARGV[b + 13], ready, scheduled)
                out[#out + 1] = id
                out[#out + 1] = 1
              end
            end
            if #ready > 0 then redis.call('ZADD', P .. 'ready', unpack(ready)) end
            for tenant, position in pairs(fair) do redis.call('SET', P .. 'tlast:' .. tenant, position, 'PX', 604800000) end
            if #scheduled > 0 then redis.call('ZADD', P .. 'scheduled', unpack(scheduled)) end
            if #ready > 0 or #scheduled > 0 then wake() end
            return out
            """)

    /// Lua for the scripts that go over whole sets in bounded chunks, one chunk per call.
    ///
    /// `walk(sets, si, member, score, budget, visit)` calls `visit(set, id)` for at most `budget` members of
    /// the sorted sets named in `sets` (suffixes of the prefix), in order, starting after the cursor
    /// (`si` = index into `sets`, `member` = the last member visited, '' = from the start, `score` = its
    /// score as Redis printed it). `visit` may remove the member. The cursor survives changes between
    /// calls: it resumes after `member` when it is still there, else at the first member whose score is not
    /// below `score`, so a member present from the first call to the last is visited at least once (and
    /// twice only when the cursor member vanished and others share its score). Returns the next cursor
    /// `{si, member, score, visited}`, with `si` = 0 once every set has been walked to its end.
    static let walkFunction = """
        local function walk(sets, si, member, score, budget, visit)
          local visited = 0
          while si >= 1 and si <= #sets and visited < budget do
            local key = P .. sets[si]
            local start = 0
            if member ~= '' then
              local rank = redis.call('ZRANK', key, member)
              if rank then start = rank + 1 else start = redis.call('ZCOUNT', key, '-inf', '(' .. score) end
            end
            local left = budget - visited
            local batch = redis.call('ZRANGE', key, start, start + left - 1, 'WITHSCORES')
            for i = 1, #batch, 2 do
              visit(sets[si], batch[i])
              member, score = batch[i], batch[i + 1]
            end
            visited = visited + #batch / 2
            if #batch / 2 < left then
              si, member, score = si + 1, '', ''
            end
          end
          if si > #sets then si = 0 end
          return {si, member, score, visited}
        end

        """

    /// Marks a job as awaited, so its terminal event carries its result; returns its state now.
    ///
    /// KEYS: 1 queue prefix. ARGV: 1 id. Reply: `[state, result or '', lastError or '']`, or
    /// `[false]`-ish empty array when the job does not exist.
    static let watch = RedisScript(
        LuaPrelude.keyed + """
            local key = P .. 'job:' .. ARGV[1]
            local f = redis.call('HMGET', key, 'state', 'result', 'lastError')
            if not f[1] then return {} end
            if f[1] ~= 'completed' and f[1] ~= 'dead' and f[1] ~= 'canceled' then
              redis.call('HSET', key, 'watch', '1')
            end
            return {f[1], f[2] or '', f[3] or ''}
            """)

    /// Lua: `requeue_one(id)` moves job `id` back to `ready` when it is `dead` or `canceled`, as if new: a
    /// fresh attempt count and lease-expiry count, no cancel request, no TTL. Returns 1 when it moved, else 0.
    static let requeueFunction = """
        local function requeue_one(id)
          local key = P .. 'job:' .. id
          local f = redis.call('HMGET', key, 'state', 'score')
          if f[1] ~= 'dead' and f[1] ~= 'canceled' then return 0 end
          redis.call('ZREM', P .. f[1], id)
          redis.call('PERSIST', key)
          redis.call('HSET', key, 'state', 'ready', 'attempts', 0)
          redis.call('HDEL', key, 'finishedAt', 'runAt', 'cancelRequested', 'expiries')
          redis.call('ZADD', P .. 'ready', f[2], id)
          return 1
        end

        """

    /// Moves the given dead (or canceled) jobs back to `ready` with a fresh attempt count.
    ///
    /// KEYS: 1 queue prefix. ARGV: ids (the caller sends at most 1,000 per call). Reply: number requeued.
    static let requeue = RedisScript(
        LuaPrelude.keyed + requeueFunction + """
            local n = 0
            for i = 1, #ARGV do n = n + requeue_one(ARGV[i]) end
            if n > 0 then wake() end
            return n
            """)

    /// Moves every dead job back to `ready`, one chunk per call (see ``walkFunction``).
    ///
    /// KEYS: 1 queue prefix. ARGV: 1 chunk size, 2-4 cursor (set index, member, score; `1, '', ''` at
    /// first). Reply: `[requeued, next set index (0 = done), member, score, visited]`.
    static let requeueDead = RedisScript(
        LuaPrelude.keyed + requeueFunction + walkFunction + """
            local n = 0
            local cursor = walk({'dead'}, tonumber(ARGV[2]), ARGV[3], ARGV[4], tonumber(ARGV[1]), function(_, id)
              n = n + requeue_one(id)
            end)
            if n > 0 then wake() end
            return {n, cursor[1], cursor[2], cursor[3], cursor[4]}
            """)

    /// Deletes jobs wherever they are (an active job's worker then finds its lease gone).
    ///
    /// KEYS: 1 queue prefix. ARGV: ids. Reply: number deleted.
    static let delete = RedisScript(deleteSource(keepingActive: false))

    /// Cancels jobs: a waiting job (`scheduled`, `ready`, `retrying`) becomes `canceled` at once; an
    /// `active` one is marked `cancelRequested` and its node is returned, to be told.
    ///
    /// KEYS: 1 queue prefix. ARGV: ids. Reply: per id `[status, node]`, status `canceled`,
    /// `requested`, `finished` (already terminal: nothing to do) or `missing`.
    static let cancel = RedisScript(
        LuaPrelude.keyed + """
            local now = now_ms()
            local count, age = retention('canceled')
            local out = {}
            for i = 1, #ARGV do
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

    /// KEYS[1] = a queue's prefix. Reply: ms since the longest-waiting ready job became due (its `runAt`, else
    /// its `enqueuedAt`), or -1 when none is ready. Ready scores are `(1000 - priority) * 2^41 + sequence`, so
    /// each priority band's first member is its oldest; the script looks at the first member of at most 32 bands.
    static let oldestReady = RedisScript(
        """
        local P = KEYS[1]
        local band = 2199023255552
        local t = redis.call('TIME')
        local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
        local oldest = nil
        local head = redis.call('ZRANGE', P .. 'ready', 0, 0, 'WITHSCORES')
        local n = 0
        while head[1] and n < 32 do
          local f = redis.call('HMGET', P .. 'job:' .. head[1], 'runAt', 'enqueuedAt')
          local since = tonumber(f[1]) or tonumber(f[2])
          if since and (not oldest or since < oldest) then oldest = since end
          local next = (math.floor(tonumber(head[2]) / band) + 1) * band
          head = redis.call('ZRANGEBYSCORE', P .. 'ready', string.format('%.0f', next), '+inf', 'WITHSCORES', 'LIMIT', 0, 1)
          n = n + 1
        end
        if not oldest then return -1 end
        return math.max(0, now - oldest)
        """)

    /// Moves waiting jobs (`scheduled`, `ready`, `retrying`) to `dead`, as an operator's decision: the job
    /// is kept per the dead retention and can be requeued. Running and finished jobs are left alone.
    ///
    /// KEYS: 1 queue prefix. ARGV: job ids. Reply: the number moved.
    static let bury = RedisScript(
        LuaPrelude.keyed + """
            local now = now_ms()
            local count, age = retention('dead')
            local moved = 0
            for i = 1, #ARGV do
              local id = ARGV[i]
              local key = P .. 'job:' .. id
              local state = redis.call('HGET', key, 'state')
              if state == 'scheduled' or state == 'ready' or state == 'retrying' then
                redis.call('ZREM', P .. state, id)
                redis.call('HDEL', key, 'capWait')
                finish(id, key, 'dead', now, math.max(count, 1), math.max(age, 1), {'lastError', 'moved to dead by an operator'})
                event('dead', id, 'error', 'moved to dead by an operator')
                moved = moved + 1
              end
            end
            if moved > 0 then redis.call('HINCRBY', P .. 'stats', 'dead', moved) end
            return moved
            """)

    /// Deletes jobs that are not running (any state but `active`): the dashboard's delete, which must never
    /// pull a record from under a running handler, even one claimed since the page was drawn.
    ///
    /// KEYS: 1 queue prefix. ARGV: job ids. Reply: the number deleted.
    static let deleteIdle = RedisScript(deleteSource(keepingActive: true))

    /// The delete scripts' source: each id's record, its state set entry and its idempotency key go; with
    /// `keepingActive`, a running job's are kept.
    static func deleteSource(keepingActive: Bool) -> String {
        LuaPrelude.keyed + """
            local n = 0
            for i = 1, #ARGV do
              local id = ARGV[i]
              local key = P .. 'job:' .. id
              local state = redis.call('HGET', key, 'state')
              if state\(keepingActive ? " and state ~= 'active'" : "") then
                redis.call('ZREM', P .. state, id)
                local idem = redis.call('HGET', key, 'idem')
                if idem then redis.call('DEL', P .. 'idem:' .. idem) end
                redis.call('DEL', key)
                n = n + 1
              end
            end
            return n
            """
    }

    /// Cancels every waiting job of the queue, or only those of one tenant (whose running jobs are also
    /// marked `cancelRequested`), one chunk per call (see ``walkFunction``): the sets walked are `ready`,
    /// `scheduled`, `retrying`, and `active` for a tenant.
    ///
    /// KEYS: 1 queue prefix. ARGV: 1 tenant ('' = every waiting job), 2 chunk size, 3-5 cursor (set index,
    /// member, score; `1, '', ''` at first). Reply: `[canceled count, (id, node) pairs of running
    /// jobs to tell, next set index (0 = done), member, score, visited]`.
    static let cancelMany = RedisScript(
        LuaPrelude.keyed + walkFunction + """
            local now = now_ms()
            local tenant = ARGV[1]
            local count, age = retention('canceled')
            local canceled = 0
            local running = {}
            local sets = {'ready', 'scheduled', 'retrying'}
            if tenant ~= '' then sets[4] = 'active' end
            local cursor = walk(sets, tonumber(ARGV[3]), ARGV[4], ARGV[5], tonumber(ARGV[2]), function(set, id)
              local key = P .. 'job:' .. id
              if set == 'active' then
                local f = redis.call('HMGET', key, 'tenant', 'node', 'state')
                if f[1] == tenant and f[3] == 'active' then
                  redis.call('HSET', key, 'cancelRequested', '1')
                  running[#running + 1] = id
                  running[#running + 1] = f[2] or ''
                end
              elseif tenant == '' or redis.call('HGET', key, 'tenant') == tenant then
                redis.call('ZREM', P .. set, id)
                finish(id, key, 'canceled', now, math.max(count, 1), math.max(age, 1), {'lastError', 'canceled'})
                event('canceled', id, 'error', 'canceled')
                canceled = canceled + 1
              end
            end)
            return {canceled, running, cursor[1], cursor[2], cursor[3], cursor[4]}
            """)

    /// Deletes every waiting job (`ready`, `scheduled`, `retrying`) of the queue, one chunk per call (see
    /// ``walkFunction``); running and finished jobs stay.
    ///
    /// KEYS: 1 queue prefix. ARGV: 1 chunk size, 2-4 cursor (set index, member, score; `1, '', ''` at
    /// first). Reply: `[deleted, next set index (0 = done), member, score, visited]`.
    static let purge = RedisScript(
        LuaPrelude.keyed + walkFunction + """
            local n = 0
            local cursor = walk({'ready', 'scheduled', 'retrying'}, tonumber(ARGV[2]), ARGV[3], ARGV[4], tonumber(ARGV[1]),
              function(set, id)
                local key = P .. 'job:' .. id
                local idem = redis.call('HGET', key, 'idem')
                if idem then redis.call('DEL', P .. 'idem:' .. idem) end
                redis.call('DEL', key)
                redis.call('ZREM', P .. set, id)
                n = n + 1
              end)
            return {n, cursor[1], cursor[2], cursor[3], cursor[4]}
            """)

    /// Trims the finished sets (`completed`, `dead`, `canceled`) by age: removes at most `chunk` ids whose
    /// finish time is older than the state's retention age (the queue's `config`, else the defaults) and
    /// deletes their records. The count trim happens in `finish`; this is the age half, run by the reaper.
    /// A record whose `state` no longer matches the set (the id was requeued meanwhile) is left alone.
    ///
    /// KEYS: 1 queue prefix. ARGV: 1 chunk size. Reply: `[removed, more]`, `more` = 1
    /// when the chunk was used up (call again), else 0.
    static let trimTerminal = RedisScript(
        LuaPrelude.keyed + """
            local now = now_ms()
            local budget = tonumber(ARGV[1])
            local removed = 0
            for _, state in ipairs({'completed', 'dead', 'canceled'}) do
              if removed >= budget then break end
              local _, age = retention(state)
              local old = redis.call('ZRANGEBYSCORE', P .. state, '-inf', now - math.max(age, 0), 'LIMIT', 0, budget - removed)
              for _, id in ipairs(old) do
                local key = P .. 'job:' .. id
                local current = redis.call('HGET', key, 'state')
                if not current or current == state then redis.call('DEL', key) end
                redis.call('ZREM', P .. state, id)
              end
              removed = removed + #old
            end
            local more = 0
            if removed >= budget then more = 1 end
            return {removed, more}
            """)
}
