/// The scripts of the schedule store. Schedule keys share their queue's hash tag, so claiming a tick and
/// enqueuing its job is one atomic script on one Redis Cluster slot.
enum ScheduleScripts {
    /// Claims a due tick: checks that the schedule's due score is still `expectedTick` (else another node
    /// claimed it: nothing happens), that it is due by Redis time, advances it to `nextTick`, applies the
    /// overlap policy and enqueues one job per tick to fire, with `schedule:<name>:<tick>` as idempotency key.
    ///
    /// KEYS: 1 queue prefix. ARGV: 1 name, 2 expected tick, 3 next tick (-1: none), 4 overlap, 5 job name,
    /// 6 payload, 7 priority, 8 max attempts, 9 timeout ms, 10 K, then K × (tick, run at, id).
    /// Reply: `[status, ids, canceled id, its node]`; status 0 = claimed elsewhere, -1 = not due yet,
    /// 1 = fired (or advanced with nothing to fire), 2 = skipped (overlap).
    static let tick = RedisScript(
        LuaPrelude.keyed + """
            local name = ARGV[1]
            local expected = tonumber(ARGV[2])
            local due = P .. 'schedules:due'
            local current = redis.call('ZSCORE', due, name)
            if not current or tonumber(current) ~= expected then return {0} end
            local now = now_ms()
            if expected > now then return {-1} end
            local nextTick = tonumber(ARGV[3])
            if nextTick >= 0 then redis.call('ZADD', due, nextTick, name) else redis.call('ZREM', due, name) end
            local state = P .. 'schedule:' .. name
            local k = tonumber(ARGV[10])
            local canceledId, canceledNode = '', ''
            if k > 0 and ARGV[4] ~= 'allow' then
              local last = redis.call('HGET', state, 'lastJobId')
              if last then
                local lastKey = P .. 'job:' .. last
                local st = redis.call('HGET', lastKey, 'state')
                if st == 'ready' or st == 'scheduled' or st == 'retrying' or st == 'active' then
                  if ARGV[4] == 'skip' then
                    redis.call('HSET', state, 'lastSkippedMs', expected)
                    return {2, {}, '', ''}
                  end
                  if st == 'active' then
                    redis.call('HSET', lastKey, 'cancelRequested', '1')
                    canceledId = last
                    canceledNode = redis.call('HGET', lastKey, 'node') or ''
                  else
                    redis.call('ZREM', P .. st, last)
                    local count, age = retention('canceled')
                    finish(last, lastKey, 'canceled', now, math.max(count, 1), math.max(age, 1),
                      {'lastError', 'replaced by the next run of schedule ' .. name})
                    event('canceled', last, 'error', 'replaced')
                  end
                end
              end
            end
            local ready, scheduled, ids = {}, {}, {}
            local seq = redis.call('INCRBY', P .. 'seq', math.max(k, 1)) - math.max(k, 1)
            local lastTick = nil
            for j = 0, k - 1 do
              local b = 11 + j * 3
              local idem = 'schedule:' .. name .. ':' .. ARGV[b]
              if not redis.call('GET', P .. 'idem:' .. idem) then
                redis.call('SET', P .. 'idem:' .. idem, ARGV[b + 2], 'PX', 3600000)
                seq = seq + 1
                add_job(ARGV[b + 2], ARGV[5], ARGV[6], tonumber(ARGV[7]), tonumber(ARGV[b + 1]), now, seq, ARGV[8],
                  'exp:1000:3600000', ARGV[9], '', 'schedule:' .. name, idem, '', ready, scheduled)
                ids[#ids + 1] = ARGV[b + 2]
                lastTick = ARGV[b]
              end
            end
            if #ready > 0 then redis.call('ZADD', P .. 'ready', unpack(ready)) end
            if #scheduled > 0 then redis.call('ZADD', P .. 'scheduled', unpack(scheduled)) end
            if #ids > 0 then
              wake()
              redis.call('HSET', state, 'lastRunMs', lastTick, 'lastJobId', ids[#ids])
            end
            return {1, ids, canceledId, canceledNode}
            """)

    /// Adds or updates a definition without resetting its next tick unless what decides the ticks changed.
    ///
    /// KEYS: 1 queue prefix. ARGV: 1 name, 2 definition, 3 trigger fingerprint, 4 next tick (-1: none),
    /// 5 enabled (`1`/`0`), 6 by an operator (`1`; the state's `operator` field is set) or by the code's sync
    /// (`0`; a schedule whose state says `operator` is left alone). Reply: `added`, `updated`, `unchanged` or `kept`.
    static let upsert = RedisScript(
        """
        local P = KEYS[1]
        local name = ARGV[1]
        local due = P .. 'schedules:due'
        local state = P .. 'schedule:' .. name
        local old = redis.call('HGET', P .. 'schedules', name)
        if ARGV[6] == '0' and old and redis.call('HGET', state, 'operator') == '1' then return 'kept' end
        if ARGV[6] == '1' then redis.call('HSET', state, 'operator', 1) end
        local oldFingerprint = redis.call('HGET', state, 'fingerprint')
        redis.call('HSET', P .. 'schedules', name, ARGV[2])
        redis.call('HSET', state, 'fingerprint', ARGV[3])
        local result = 'unchanged'
        if not old then result = 'added' elseif old ~= ARGV[2] then result = 'updated' end
        local nextTick = tonumber(ARGV[4])
        if ARGV[5] == '0' then
          redis.call('ZREM', due, name)
        elseif (not old) or oldFingerprint ~= ARGV[3] or not redis.call('ZSCORE', due, name) then
          if nextTick >= 0 then redis.call('ZADD', due, nextTick, name) else redis.call('ZREM', due, name) end
        end
        return result
        """)

    /// Removes a schedule. KEYS: 1 queue prefix. ARGV: 1 name. Reply: 1 if it existed.
    static let remove = RedisScript(
        """
        local P = KEYS[1]
        redis.call('ZREM', P .. 'schedules:due', ARGV[1])
        redis.call('DEL', P .. 'schedule:' .. ARGV[1])
        return redis.call('HDEL', P .. 'schedules', ARGV[1])
        """)
}
