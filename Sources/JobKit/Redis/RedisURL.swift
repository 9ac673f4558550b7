/// Where and how to reach a Redis server, parsed from a URL.
///
/// Accepted forms:
/// - `redis://[user:password@]host[:port][/db]`
/// - `rediss://...` — the same over TLS; TLS options go in the query:
///   `tls_ca_file=PATH`, `tls_cert_file=PATH`, `tls_key_file=PATH`, `tls_insecure_skip_verify=true`
///   (development only: no certificate check at all).
/// - `unix:///path/to/redis.sock[?db=N]` (with optional `user:password@` before the path's first slash
///   is not supported; use `?password=`)
/// - `redis+cluster://[user:password@]host:port[,host:port…]` and `rediss+cluster://…` — a Redis Cluster, learnt
///   from any of the seed nodes listed (``clusterSeeds``); credentials and TLS apply to every node, and the
///   database is always 0. `?read_from_replicas=true` lets reads that tolerate a stale answer (the operators'
///   listings, queue counts, the dashboard) go to the replicas (``readFromReplicas``); off by default.
/// - `redis+sentinel://[user:password@]sentinel:port[,sentinel:port…]/mastername[?db=N]` and
///   `rediss+sentinel://…` — the primary that Redis Sentinel names for `mastername`, asked of the sentinels in turn
///   before each connect; credentials and TLS are the data nodes'. Sentinels that need their own credentials take
///   `sentinel_username=` and `sentinel_password=` in the query.
///
/// ``description`` masks the password, so a `RedisURL` is safe to log.
public struct RedisURL: Sendable, Hashable, CustomStringConvertible {
    /// How to reach the server.
    public enum Endpoint: Sendable, Hashable {
        case tcp(host: String, port: Int)
        case unixSocket(path: String)
    }

    /// TLS settings for `rediss://`.
    public struct TLS: Sendable, Hashable {
        /// PEM file of trusted CA certificates; the system trust store when `nil`.
        public var caFile: String?
        /// PEM client certificate, for servers that require mutual TLS.
        public var certificateFile: String?
        /// PEM private key of the client certificate.
        public var privateKeyFile: String?
        /// Skips certificate and hostname verification entirely. For development only.
        public var insecureSkipVerify: Bool = false
        public init() {}
    }

    public var endpoint: Endpoint
    public var username: String?
    /// The password. Never printed: ``description`` shows `***`.
    public var password: String?
    public var database: Int
    public var tls: TLS?
    /// The seed nodes of a Redis Cluster (`redis+cluster://`); empty for one server. ``endpoint`` is the first.
    public var clusterSeeds: [Endpoint] = []

    /// The sentinels of a `redis+sentinel://` URL; empty otherwise.
    public var sentinels: [Endpoint] = []
    /// The master name the sentinels know the primary by.
    public var sentinelMaster: String?
    /// Credentials for the sentinels themselves (`sentinel_username`, `sentinel_password`). Never printed.
    public var sentinelUsername: String?
    public var sentinelPassword: String?

    /// Whether this URL names a primary through Redis Sentinel.
    public var isSentinel: Bool { !sentinels.isEmpty }

    /// Whether this URL names a Redis Cluster.
    public var isCluster: Bool { !clusterSeeds.isEmpty }

    /// On a cluster (`?read_from_replicas=true`): commands marked ``RedisCommand/allowingReplica()`` — reads that
    /// may be a moment behind, such as the operators' listings and counts — go to a replica of their slot's
    /// primary, when it has one online, instead of to the primary. Replication is asynchronous, so such a read
    /// may miss the last writes. Off by default; the engine's own reads and every write always go to primaries.
    public var readFromReplicas = false

    /// The server the `attempt`-th connect in a row goes to: ``endpoint``, or for a cluster the seeds in turn
    /// (a subscriber whose node failed finds another).
    func endpoint(forAttempt attempt: Int) -> Endpoint {
        clusterSeeds.isEmpty ? endpoint : clusterSeeds[attempt % clusterSeeds.count]
    }

    /// Builds a URL value directly.
    public init(
        endpoint: Endpoint, username: String? = nil, password: String? = nil, database: Int = 0, tls: TLS? = nil
    ) {
        self.endpoint = endpoint
        self.username = username
        self.password = password
        self.database = database
        self.tls = tls
    }

    /// Parses a Redis URL.
    ///
    /// - Throws: `RedisError` with code `invalidURL`, whose message names the part that is wrong
    ///   (never the password).
    public init(_ string: String) throws {
        func fail(_ why: String) -> RedisError { RedisError(.invalidURL, "invalid Redis URL: \(why)") }
        guard let schemeEnd = string.firstRange(of: "://") else { throw fail("missing scheme (redis://, rediss://, unix://)") }
        let scheme = string[..<schemeEnd.lowerBound].lowercased()
        var rest = Substring(string[schemeEnd.upperBound...])
        var query: [String: String] = [:]
        if let q = rest.firstIndex(of: "?") {
            for item in rest[rest.index(after: q)...].split(separator: "&") {
                let kv = item.split(separator: "=", maxSplits: 1)
                query[String(kv[0])] = kv.count > 1 ? String(kv[1]).removingPercentEncoding ?? String(kv[1]) : ""
            }
            rest = rest[..<q]
        }
        var username: String?
        var password: String?
        var database = 0
        if let dbText = query["db"] {
            guard let db = Int(dbText), db >= 0 else { throw fail("database must be a non-negative integer") }
            database = db
        }
        if let p = query["password"] { password = p }
        if let u = query["username"] { username = u }

        switch scheme {
        case "unix":
            guard rest.hasPrefix("/"), rest.count > 1 else { throw fail("unix:// needs an absolute socket path") }
            self.init(
                endpoint: .unixSocket(path: String(rest)), username: username, password: password, database: database)
        case "redis", "rediss", "redis+cluster", "rediss+cluster", "redis+sentinel", "rediss+sentinel":
            let sentinel = scheme.hasSuffix("+sentinel")
            var hostPart = rest
            var masterName: String?
            if let slash = rest.firstIndex(of: "/") {
                hostPart = rest[..<slash]
                let dbText = rest[rest.index(after: slash)...]
                if sentinel {
                    masterName = dbText.isEmpty ? nil : String(dbText).removingPercentEncoding
                } else if !dbText.isEmpty {
                    guard let db = Int(dbText), db >= 0 else { throw fail("database must be a non-negative integer") }
                    database = db
                }
            }
            if let at = hostPart.lastIndex(of: "@") {
                let credentials = hostPart[..<at]
                hostPart = hostPart[hostPart.index(after: at)...]
                if let colon = credentials.firstIndex(of: ":") {
                    let user = String(credentials[..<colon])
                    username = user.isEmpty ? nil : (user.removingPercentEncoding ?? user)
                    let pass = String(credentials[credentials.index(after: colon)...])
                    password = pass.removingPercentEncoding ?? pass
                } else if !credentials.isEmpty {
                    // `redis://password@host` is a common shorthand (no user name).
                    password = String(credentials).removingPercentEncoding ?? String(credentials)
                }
            }
            let cluster = scheme.hasSuffix("+cluster")
            let hosts = try hostPart.split(separator: ",", omittingEmptySubsequences: false).map { try Self.parseHost($0) }
            guard let first = hosts.first else { throw fail("missing host") }
            if hosts.count > 1 && !cluster && !sentinel { throw fail("several hosts need redis+cluster:// (or --redis-cluster)") }
            if sentinel && masterName == nil { throw fail("redis+sentinel:// needs the master name as its path (/mymaster)") }
            if cluster && database != 0 { throw fail("a Redis Cluster has database 0 only") }
            var tls: TLS?
            if scheme.hasPrefix("rediss") {
                var t = TLS()
                t.caFile = query["tls_ca_file"]
                t.certificateFile = query["tls_cert_file"]
                t.privateKeyFile = query["tls_key_file"]
                t.insecureSkipVerify = ["1", "true", "yes"].contains(query["tls_insecure_skip_verify"]?.lowercased() ?? "")
                if (t.certificateFile == nil) != (t.privateKeyFile == nil) {
                    throw fail("tls_cert_file and tls_key_file go together")
                }
                tls = t
            }
            self.init(endpoint: first, username: username, password: password, database: database, tls: tls)
            if cluster { clusterSeeds = hosts }
            if let text = query["read_from_replicas"] {
                guard let on = ["1": true, "true": true, "yes": true, "0": false, "false": false, "no": false][text.lowercased()] else {
                    throw fail("read_from_replicas must be true or false")
                }
                guard cluster || !on else { throw fail("read_from_replicas needs redis+cluster:// (replicas are found from the slot map)") }
                readFromReplicas = on
            }
            if sentinel {
                sentinels = hosts
                sentinelMaster = masterName
                sentinelUsername = query["sentinel_username"]
                sentinelPassword = query["sentinel_password"]
            }
        default:
            throw fail("unknown scheme '\(scheme)' (use redis://, rediss://, redis+cluster://, redis+sentinel:// or unix://)")
        }
    }

    /// `host[:port]` or `[v6]:port` of a `redis://` URL.
    private static func parseHost(_ text: Substring) throws -> Endpoint {
        func fail(_ why: String) -> RedisError { RedisError(.invalidURL, "invalid Redis URL: \(why)") }
        var host = String(text)
        var port = 6379
        if host.hasPrefix("[") {
            guard let close = host.firstIndex(of: "]") else { throw fail("unterminated IPv6 address") }
            let after = host[host.index(after: close)...]
            let inner = String(host[host.index(after: host.startIndex)..<close])
            if after.hasPrefix(":") {
                guard let p = Int(after.dropFirst()), (1...65535).contains(p) else { throw fail("port must be 1-65535") }
                port = p
            }
            host = inner
        } else if let colon = host.lastIndex(of: ":") {
            guard let p = Int(host[host.index(after: colon)...]), (1...65535).contains(p) else {
                throw fail("port must be 1-65535")
            }
            port = p
            host = String(host[..<colon])
        }
        guard !host.isEmpty else { throw fail("missing host") }
        return .tcp(host: host, port: port)
    }

    /// The URL with the password replaced by `***`.
    public var description: String {
        var credentials = ""
        if username != nil || password != nil {
            credentials = (username ?? "") + (password != nil ? ":***" : "") + "@"
        }
        func hostText(_ host: String, _ port: Int) -> String { (host.contains(":") ? "[\(host)]" : host) + ":\(port)" }
        if isCluster {
            let hosts = clusterSeeds.map { e -> String in
                if case .tcp(let host, let port) = e { return hostText(host, port) }
                return "\(e)"
            }
            return "\(tls == nil ? "redis" : "rediss")+cluster://\(credentials)\(hosts.joined(separator: ","))"
                + (readFromReplicas ? "?read_from_replicas=true" : "")
        }
        if isSentinel {
            let hosts = sentinels.map { e -> String in
                if case .tcp(let host, let port) = e { return hostText(host, port) }
                return "\(e)"
            }
            return "\(tls == nil ? "redis" : "rediss")+sentinel://\(credentials)\(hosts.joined(separator: ","))/\(sentinelMaster ?? "")?db=\(database)"
                + (sentinelPassword != nil ? "&sentinel_password=***" : "")
        }
        switch endpoint {
        case .tcp(let host, let port):
            return "\(tls == nil ? "redis" : "rediss")://\(credentials)\(hostText(host, port))/\(database)"
        case .unixSocket(let path):
            return "unix://\(path)?db=\(database)" + (password != nil ? "&password=***" : "")
        }
    }
}

extension String {
    /// Minimal percent-decoding (Foundation-free).
    var removingPercentEncoding: String? {
        guard contains("%") else { return self }
        var bytes: [UInt8] = []
        var it = utf8.makeIterator()
        while let c = it.next() {
            if c == UInt8(ascii: "%") {
                guard let h = it.next(), let l = it.next(), let hv = hexValue(h), let lv = hexValue(l) else { return nil }
                bytes.append(hv << 4 | lv)
            } else {
                bytes.append(c)
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}

private func hexValue(_ c: UInt8) -> UInt8? {
    switch c {
    case UInt8(ascii: "0")...UInt8(ascii: "9"): return c - UInt8(ascii: "0")
    case UInt8(ascii: "a")...UInt8(ascii: "f"): return c - UInt8(ascii: "a") + 10
    case UInt8(ascii: "A")...UInt8(ascii: "F"): return c - UInt8(ascii: "A") + 10
    default: return nil
    }
}
