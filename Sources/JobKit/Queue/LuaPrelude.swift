/// Lua shared by the queue and lease scripts: clock, retention, terminal transitions and events.
///
/// Every script gets the queue's key prefix (`<namespace>:{<queue>}:`) as `KEYS[1]` and builds every key it
/// touches from it: all share that hash tag, so a call touches one Redis Cluster slot, and no key name comes
/// from `ARGV`. Time comes from `TIME`.
enum LuaPrelude {
    /// The prelude of every script: the prefix from `KEYS[1]`, then the shared functions.
    static let keyed = "local P = KEYS[1]\n" + functions
    static let functions = """
        local function now_ms()
          local t = redis.call('TIME')
          return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
        end
        local RETENTION_DEFAULTS = {completed = {10000, 86400000}, dead = {10000, 604800000}, canceled = {10000, 86400000}}
        local function retention(state)
          local c = redis.call('HMGET', P .. 'config', state .. 'Count', state .. 'AgeMs')
          return tonumber(c[1]) or RETENTION_DEFAULTS[state][1], tonumber(c[2]) or RETENTION_DEFAULTS[state][2]
        end
        local function event(kind, id, ...)
          redis.call('XADD', P .. 'events', 'MAXLEN', '~', 10000, '*', 'type', kind, 'id', id, ...)
        end
        -- Moves job `id` (hash `key`) into terminal `state`, keeping its record per the queue's retention.
        local function finish(id, key, state, now, count, age, fields)
          if count <= 0 or age <= 0 then
            redis.call('DEL', key)
            return
          end
          redis.call('HSET', key, 'state', state, 'finishedAt', now, unpack(fields))
          redis.call('PEXPIRE', key, age)
          local set = P .. state
          redis.call('ZADD', set, now, id)
          local n = redis.call('ZCARD', set)
          if n > count + math.max(10, math.floor(count / 10)) then
            local old = redis.call('ZRANGE', set, 0, n - count - 1)
            for _, oid in ipairs(old) do redis.call('DEL', P .. 'job:' .. oid) end
            redis.call('ZREMRANGEBYRANK', set, 0, n - count - 1)
          end
        end
        -- Writes one new job's hash; appends its (score, id) to `ready` or (due, id) to `scheduled` for one
        -- ZADD by the caller. Defaults are not stored: priority 0, attempts 0, token 0, timeoutMs 0.
        local function add_job(id, name, payload, priority, due, now, seq, maxAttempts, backoff, timeoutMs, tenant,
                               correlation, idem, trace, ready, scheduled)
          local key = P .. 'job:' .. id
          local score = (1000 - priority) * 2199023255552 + seq
          if due > now then
            redis.call('HSET', key, 'name', name, 'payload', payload, 'maxAttempts', maxAttempts, 'backoff', backoff,
              'enqueuedAt', now, 'score', score, 'state', 'scheduled', 'runAt', due)
            scheduled[#scheduled + 1] = due
            scheduled[#scheduled + 1] = id
          else
            redis.call('HSET', key, 'name', name, 'payload', payload, 'maxAttempts', maxAttempts, 'backoff', backoff,
              'enqueuedAt', now, 'score', score, 'state', 'ready')
            ready[#ready + 1] = score
            ready[#ready + 1] = id
          end
          if priority ~= 0 then redis.call('HSET', key, 'priority', priority) end
          if timeoutMs ~= '0' then redis.call('HSET', key, 'timeoutMs', timeoutMs) end
          if tenant ~= '' then redis.call('HSET', key, 'tenant', tenant) end
          if correlation ~= '' then redis.call('HSET', key, 'correlation', correlation) end
          if idem ~= '' then redis.call('HSET', key, 'idem', idem) end
          if trace ~= '' then redis.call('HSET', key, 'trace', trace) end
        end
        -- The wake list holds at most one marker: pushed only when empty (cheaper than LPUSH + LTRIM on every
        -- enqueue while the workers are busy and nobody pops it).
        local function wake()
          if redis.call('LLEN', P .. 'wake') == 0 then redis.call('LPUSH', P .. 'wake', '1') end
        end
        -- Gives back the concurrency permits a job held (`permits`: key suffixes under P, one per line) and
        -- moves the first job waiting for each permit from `scheduled` back to `ready`. Called wherever a job
        -- leaves `active`.
        local function release_permits(id, permits)
          if not permits or permits == '' then return end
          for suffix in string.gmatch(permits, '[^\\n]+') do
            redis.call('SREM', P .. suffix, id)
            for _ = 1, 10 do
              local w = redis.call('LPOP', P .. suffix .. ':wait')
              if not w then break end
              local wk = P .. 'job:' .. w
              local wf = redis.call('HMGET', wk, 'state', 'score', 'capWait')
              if wf[1] == 'scheduled' and wf[3] then
                redis.call('ZREM', P .. 'scheduled', w)
                redis.call('ZADD', P .. 'ready', wf[2], w)
                redis.call('HSET', wk, 'state', 'ready')
                redis.call('HDEL', wk, 'capWait')
                wake()
                break
              end
            end
          end
        end

        """
}
