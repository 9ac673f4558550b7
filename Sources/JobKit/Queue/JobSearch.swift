/// A search over jobs: filters and how much work one call may do. Every filter is optional; an empty
/// search matches every job in the chosen states.
public struct JobSearch: Sendable, Equatable {
    /// Exact job name.
    public var name: String?
    /// Exact tenant (the job's `tenant`).
    public var tenant: String?
    /// A Plaid item id: the payload's `item` (or `item_id`) key.
    public var item: String?
    /// A Stripe customer id (`cus_…`): found anywhere in the payload.
    public var customer: String?
    /// Any text in the payload.
    public var text: String?
    /// The states searched, in this order (each newest first).
    public var states: [JobState] = JobState.allCases

    public init(name: String? = nil, tenant: String? = nil, item: String? = nil, customer: String? = nil, text: String? = nil, states: [JobState] = JobState.allCases) {
        self.name = name
        self.tenant = tenant
        self.item = item
        self.customer = customer
        self.text = text
        self.states = states
    }

    /// One page of results.
    public struct Page: Sendable {
        /// The matches, in scan order.
        public var jobs: [JobRecord]
        /// How many jobs this call looked at.
        public var scanned: Int
        /// Where the next call resumes; `nil` when every chosen state of every queue was scanned.
        public var next: String?
    }
}

extension JobQueue {
    /// Searches `queues` (every known queue when empty) for jobs matching `search`, newest first within each
    /// state. The work is bounded: at most `budget` jobs are looked at per call, server side in Redis (one
    /// script call per queue and state reached, reading only each job's name, tenant and payload), and at most
    /// `limit` matches are returned. `cursor` is a previous page's ``JobSearch/Page/next``.
    ///
    /// - Throws: `RedisError`; `QueueError` `.invalidOptions` for a malformed cursor.
    public func search(_ search: JobSearch, queues: [String] = [], cursor: String? = nil, budget: Int = 5000, limit: Int = 50) async throws -> JobSearch.Page {
        let names = queues.isEmpty ? try await queueNames() : queues
        var (qi, si, off) = (0, 1, 0)
        if let cursor {
            // `<state index>.<offset>.<queue name>`: by name, so that a queue created meanwhile does not shift it.
            let parts = cursor.split(separator: ".", maxSplits: 2, omittingEmptySubsequences: false)
            guard parts.count == 3, let s = Int(parts[0]), let o = Int(parts[1]), s >= 1, o >= 0,
                let index = names.firstIndex(of: String(parts[2]))
            else {
                throw QueueError(.invalidOptions, "malformed search cursor '\(cursor)'")
            }
            (qi, si, off) = (index, s, o)
        }
        let states = search.states.map(\.rawValue).joined(separator: ",")
        var scanned = 0
        var found: [JobRecord] = []
        while qi < names.count, scanned < budget, found.count < limit {
            let queue = names[qi]
            let reply = try await redis.run(
                JobSearchScript.scan, keys: [keys(queue).prefix],
                arguments: [
                    states, si, off, budget - scanned, limit - found.count, search.name ?? "", search.tenant ?? "",
                    search.item ?? "", search.text ?? "", search.customer ?? "",
                ])
            guard let v = reply.array, v.count == 4 else { throw RedisError(.unexpectedReply, "search reply malformed") }
            scanned += v[2].int ?? 0
            let ids = (v[3].array ?? []).compactMap(\.string)
            found += try await records(ids, queue: queue)
            let nextState = v[0].int ?? 0
            if nextState == 0 {
                (qi, si, off) = (qi + 1, 1, 0)
            } else {
                (si, off) = (nextState, v[1].int ?? 0)
            }
        }
        let next = qi < names.count ? "\(si).\(off).\(names[qi])" : nil
        return JobSearch.Page(jobs: found, scanned: scanned, next: next)
    }
}

/// KEYS[1] = the queue's prefix. ARGV: states (comma-separated), state index (1-based), offset, budget,
/// wanted, name, tenant, item, text, customer. Reply: `[next state index (0 = done), next offset, scanned,
/// [ids]]`.
enum JobSearchScript {
    static let scan = RedisScript(
        """
        local P = KEYS[1]
        local states = {}
        for s in string.gmatch(ARGV[1], '[^,]+') do states[#states + 1] = s end
        local si, off = tonumber(ARGV[2]), tonumber(ARGV[3])
        local budget, want = tonumber(ARGV[4]), tonumber(ARGV[5])
        local name, tenant, item, text, customer = ARGV[6], ARGV[7], ARGV[8], ARGV[9], ARGV[10]
        local scanned, found = 0, {}
        -- Text is matched only where the dashboard shows it: never in the value of a key named like a secret (which
        -- the job page redacts), so a search cannot be used to guess a secret. Non-JSON payloads are shown as is.
        local SECRET = {'token', 'secret', 'password', 'passwd', 'key', 'authorization', 'cookie', 'credential'}
        local function secret_key(k)
          k = string.lower(k)
          for _, w in ipairs(SECRET) do if string.find(k, w, 1, true) then return true end end
          return false
        end
        local function tree_contains(v, needle)
          if type(v) == 'string' then return string.find(v, needle, 1, true) ~= nil end
          if type(v) == 'number' then return string.find(tostring(v), needle, 1, true) ~= nil end
          if type(v) ~= 'table' then return false end
          for k, x in pairs(v) do
            if type(k) == 'string' then
              if string.find(k, needle, 1, true) then return true end
              if not secret_key(k) and tree_contains(x, needle) then return true end
            elseif tree_contains(x, needle) then
              return true
            end
          end
          return false
        end
        local function visible_contains(p, needle)
          if not string.find(p, needle, 1, true) then return false end
          local decoded, v = pcall(cjson.decode, p)
          if not decoded then return true end
          return tree_contains(v, needle)
        end
        while si <= #states and scanned < budget and #found < want do
          local n = math.min(200, budget - scanned)
          local ids = redis.call('ZREVRANGE', P .. states[si], off, off + n - 1)
          local consumed = 0
          for _, id in ipairs(ids) do
            scanned = scanned + 1
            consumed = consumed + 1
            local f = redis.call('HMGET', P .. 'job:' .. id, 'name', 'tenant', 'payload')
            local ok = f[1] ~= false
            if ok and name ~= '' and f[1] ~= name then ok = false end
            if ok and tenant ~= '' and f[2] ~= tenant then ok = false end
            local p = f[3] or ''
            if ok and text ~= '' and not visible_contains(p, text) then ok = false end
            if ok and customer ~= '' and not visible_contains(p, customer) then ok = false end
            if ok and item ~= '' then
              if not string.find(p, item, 1, true) then
                ok = false
              else
                local decoded, v = pcall(cjson.decode, p)
                ok = decoded and type(v) == 'table' and (v['item'] == item or v['item_id'] == item)
              end
            end
            if ok then
              found[#found + 1] = id
              if #found >= want then break end
            end
          end
          off = off + consumed
          if consumed == #ids and #ids < n then
            si = si + 1
            off = 0
          end
        end
        if si > #states then si = 0 end
        return {si, off, scanned, found}
        """)
}
