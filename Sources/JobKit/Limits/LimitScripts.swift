/// The rate limiters' Lua: one decision per script call, made with Redis `TIME`, so that any number of nodes
/// and callers share one exact count. Every key of a limiter key lives under one prefix (`KEYS[1]`, one hash
/// tag), so each call touches one Redis Cluster slot.
enum LimitScripts {
    /// `rl_check(base, code, limit, periodMs, burst, cost, now, spend)` → `allowed (0|1), remaining, retryMs`
    /// (`retryMs` -1: the cost can never pass). Codes: 1 fixed window, 2 sliding log, 3 sliding counter,
    /// 4 token bucket (GCRA). Shared by ``acquire`` and any script that checks limits inside a larger move. A
    /// script that sets `rl_memo = true` (the claim) must call `rl_flush(now)` before it returns: its spends of
    /// fixed windows, sliding counters and token buckets are kept in memory until then, so a claim of many jobs
    /// under one limit reads and writes each key once.
    static let functions = """
        -- Claim-time memo (`rl_memo = true`, set by a script that admits many jobs in one call): counters and
        -- token-bucket TATs are read once per script call, kept here, and written back once by rl_flush(now), so a
        -- claim that admits n jobs under one limit costs one read and one write, not n of each. Scripts that make
        -- one decision (acquire) leave it off and spend with one command, as before.
        local rl_memo = false
        local rl_counts = {}  -- counter key → {v = value incl. pending, d = pending increment, fresh, ttl}
        local rl_tats = {}    -- token-bucket key → TAT
        local function rl_read(k)
          local m = rl_counts[k]
          if not m then
            local v = redis.call('GET', k)
            m = {v = tonumber(v or '0'), d = 0, fresh = not v, ttl = 0}
            rl_counts[k] = m
          end
          return m.v
        end
        local function rl_get(k)
          if rl_memo then return rl_read(k) end
          return tonumber(redis.call('GET', k) or '0')
        end
        local function rl_add(k, cost, ttl)
          local m = rl_counts[k]
          m.v = m.v + cost
          m.d = m.d + cost
          m.ttl = ttl
        end
        local function rl_flush(now)
          for k, m in pairs(rl_counts) do
            if m.d > 0 then
              redis.call('INCRBY', k, m.d)
              if m.fresh then redis.call('PEXPIRE', k, m.ttl) end
            end
          end
          for k, tat in pairs(rl_tats) do
            if tat > now then redis.call('SET', k, string.format('%.3f', tat), 'PX', math.ceil(tat - now) + 1) end
          end
          rl_counts = {}
          rl_tats = {}
        end
        local function rl_check(base, code, limit, period, burst, cost, now, spend)
          if code == 1 then
            if cost > limit then return 0, limit, -1 end
            local w = math.floor(now / period)
            local k = base .. 'fw:' .. w
            if spend and rl_memo then
              local used = rl_read(k)
              if used + cost <= limit then
                rl_add(k, cost, (w + 1) * period - now + 1)
                return 1, limit - used - cost, 0
              end
              return 0, math.max(0, limit - used), (w + 1) * period - now
            end
            if spend then
              -- Spend first, undo on a denial: one command when allowed (the TTL is set by the window's first spend).
              local used = redis.call('INCRBY', k, cost)
              if used <= limit then
                if used == cost then redis.call('PEXPIRE', k, (w + 1) * period - now + 1) end
                return 1, limit - used, 0
              end
              redis.call('DECRBY', k, cost)
              redis.call('PEXPIRE', k, (w + 1) * period - now + 1)
              return 0, math.max(0, limit - used + cost), (w + 1) * period - now
            end
            local used = rl_get(k)
            if used + cost <= limit then return 1, limit - used - cost, 0 end
            return 0, math.max(0, limit - used), (w + 1) * period - now
          elseif code == 2 then
            if cost > limit then return 0, limit, -1 end
            local k = base .. 'log'
            redis.call('ZREMRANGEBYSCORE', k, '-inf', now - period)
            local used = redis.call('ZCARD', k)
            if used + cost <= limit then
              if spend then
                local last = redis.call('INCRBY', base .. 'seq', cost)
                local add = {}
                for i = 1, cost do
                  add[#add + 1] = now
                  add[#add + 1] = last - cost + i
                end
                redis.call('ZADD', k, unpack(add))
                redis.call('PEXPIRE', k, period + 1)
                redis.call('PEXPIRE', base .. 'seq', period + 1)
              end
              return 1, limit - used - cost, 0
            end
            -- The entry that must leave before `cost` more fit: the (used + cost - limit)-th oldest.
            local i = used + cost - limit - 1
            local e = redis.call('ZRANGE', k, i, i, 'WITHSCORES')
            return 0, math.max(0, limit - used), math.max(1, tonumber(e[2]) + period - now)
          elseif code == 3 then
            if cost > limit then return 0, limit, -1 end
            local w = math.floor(now / period)
            local ck = base .. 'sw:' .. w
            local pk = base .. 'sw:' .. (w - 1)
            local prev = rl_get(pk)
            local inside = (period - (now - w * period)) / period
            local cur
            if spend and rl_memo then
              cur = rl_read(ck)
              if prev * inside + cur + cost <= limit then
                rl_add(ck, cost, 2 * period + 1)
                return 1, math.floor(limit - prev * inside - cur - cost), 0
              end
            elseif spend then
              -- Spend first, undo on a denial: one command for the current window when allowed.
              local after = redis.call('INCRBY', ck, cost)
              if prev * inside + after <= limit then
                if after == cost then redis.call('PEXPIRE', ck, 2 * period + 1) end
                return 1, math.floor(limit - prev * inside - after), 0
              end
              redis.call('DECRBY', ck, cost)
              redis.call('PEXPIRE', ck, 2 * period + 1)
              cur = after - cost
            else
              cur = rl_get(ck)
            end
            local estimate = prev * inside + cur
            if not spend and estimate + cost <= limit then
              return 1, math.floor(limit - estimate - cost), 0
            end
            local retry
            if cur + cost > limit or prev == 0 then
              retry = (w + 1) * period - now
            else
              retry = math.ceil((estimate + cost - limit) * period / prev)
            end
            return 0, math.max(0, math.floor(limit - estimate)), math.max(1, retry)
          else
            local size = burst > 0 and burst or limit
            if cost > size then return 0, size, -1 end
            local t = period / limit
            local k = base .. 'tat'
            local tat = rl_tats[k] or tonumber(redis.call('GET', k) or '0')
            if tat < now then tat = now end
            local new = tat + cost * t
            local allowAt = new - size * t
            if allowAt <= now then
              if spend and rl_memo then
                rl_tats[k] = new  -- written by rl_flush() before the script returns
              elseif spend then
                redis.call('SET', k, string.format('%.3f', new), 'PX', math.ceil(new - now) + 1)
              end
              return 1, math.floor((now - allowAt) / t + 1e-9), 0
            end
            return 0, math.max(0, math.floor((size * t - (tat - now)) / t + 1e-9)), math.max(1, math.ceil(allowAt - now))
          end
        end

        """

    /// The claim script's admission control (needs `P`, `rl_check` and the queue prelude). `load_limits()` reads
    /// the queue's limit definitions (`<ns>:{q}:limits`, name → JSON, see ``QueueLimit``), nil when it has none.
    /// `limits_admit(id, name, payload, tenant, defs, now)` checks every limit that applies to the job (its
    /// queue's, and its job name's) with its key template expanded (`{tenant}`, `{field}` = the payload's
    /// top-level field), and, only when all allow it, spends them all and takes the concurrency permits.
    /// Returns `'ok', 0, permits` (permit key suffixes, one per line, or nil), `'rate', retryMs` or
    /// `'cap', holdersSuffix`. Denials are counted per limit in `<ns>:{q}:limits:denied`.
    static let admission = """
        local function lim_esc(s)
          return (string.gsub(s, '[%%:{}\\n]', function(c) return string.format('%%%02X', string.byte(c)) end))
        end
        local function load_limits()
          local raw = redis.call('HVALS', P .. 'limits')
          if #raw == 0 then return nil end
          local defs = {}
          for _, r in ipairs(raw) do
            local ok, d = pcall(cjson.decode, r)
            if ok and type(d) == 'table' and type(d.name) == 'string' then defs[#defs + 1] = d end
          end
          if #defs == 0 then return nil end
          return defs
        end
        local function limits_admit(id, name, payload, tenant, defs, now)
          local decoded = nil
          local checks = {}
          local worst, capped = -1, nil
          -- One applicable rate limit and no cap (the common case): check and spend in one step.
          local applicable = 0
          for _, d in ipairs(defs) do
            if d.job == nil or d.job == name then applicable = applicable + 1 end
          end
          local single = applicable == 1
          for _, d in ipairs(defs) do
            if d.job == nil or d.job == name then
              local k = ''
              if type(d.key) == 'string' and d.key ~= '' then
                k = string.gsub(d.key, '{([%w_%.%-]+)}', function(field)
                  if field == 'tenant' then return tenant or '' end
                  if decoded == nil then
                    local ok, v = pcall(cjson.decode, payload or '')
                    decoded = (ok and type(v) == 'table') and v or {}
                  end
                  local v = decoded[field]
                  if v == nil or type(v) == 'table' or type(v) == 'userdata' then return '' end
                  return tostring(v)
                end)
              end
              local suffix
              if k == '' then
                -- Keyless: the same suffix for every job of this call, escaped once.
                if d._suffix == nil then d._suffix = 'rl:' .. lim_esc(d.name) .. '::' end
                suffix = d._suffix
              else
                suffix = 'rl:' .. lim_esc(d.name) .. ':' .. lim_esc(k) .. ':'
              end
              checks[#checks + 1] = {d, suffix}
              local code = tonumber(d.code or 0)
              local conc = tonumber(d.concurrency or 0)
              local spendNow = single and conc == 0
              if spendNow then checks[#checks] = nil end
              if code > 0 then
                local allowed, _, retry = rl_check(P .. suffix, code, tonumber(d.limit), tonumber(d.period),
                  tonumber(d.burst or 0), 1, now, spendNow)
                if allowed == 0 then
                  if retry > worst then worst = retry end
                  redis.call('HINCRBY', P .. 'limits:denied', d.name, 1)
                end
              end
              if conc > 0 and worst < 0 and not capped then
                local holders = P .. suffix .. 'cc'
                if redis.call('SCARD', holders) >= conc then
                  -- Permits of jobs no longer active (deleted while running, say) are taken back first.
                  for _, h in ipairs(redis.call('SMEMBERS', holders)) do
                    if redis.call('HGET', P .. 'job:' .. h, 'state') ~= 'active' then redis.call('SREM', holders, h) end
                  end
                  if redis.call('SCARD', holders) >= conc then
                    capped = suffix .. 'cc'
                    redis.call('HINCRBY', P .. 'limits:denied', d.name, 1)
                  end
                end
              end
            end
          end
          if worst >= 0 then return 'rate', math.max(1, worst), nil end
          if capped then return 'cap', capped, nil end
          local permits = nil
          for _, c in ipairs(checks) do
            local d, suffix = c[1], c[2]
            local code = tonumber(d.code or 0)
            if code > 0 then
              rl_check(P .. suffix, code, tonumber(d.limit), tonumber(d.period), tonumber(d.burst or 0), 1, now, true)
            end
            if tonumber(d.concurrency or 0) > 0 then
              redis.call('SADD', P .. suffix .. 'cc', id)
              redis.call('PEXPIRE', P .. suffix .. 'cc', 86400000)
              permits = permits and (permits .. '\\n' .. suffix .. 'cc') or (suffix .. 'cc')
            end
          end
          return 'ok', 0, permits
        end

        """

    /// One decision on one limiter key.
    ///
    /// KEYS: 1 the key's prefix. ARGV: 1 code, 2 limit, 3 period ms, 4 burst (0: none), 5 cost, 6 spend (1/0).
    /// Reply: `[allowed, remaining, retryMs, nowMs]` (the Redis time of the decision).
    static let acquire = RedisScript(
        "local P = KEYS[1]\n" + functions + """
            local t = redis.call('TIME')
            local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
            local allowed, remaining, retry = rl_check(P, tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]),
              tonumber(ARGV[4]), tonumber(ARGV[5]), now, ARGV[6] == '1')
            return {allowed, remaining, retry, now}
            """)
}
