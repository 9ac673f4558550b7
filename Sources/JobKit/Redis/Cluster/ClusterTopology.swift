/// Which primary serves each of the 16,384 slots, and which replicas copy each primary, as `CLUSTER SHARDS`
/// (Redis 7.0+) or `CLUSTER SLOTS` says.
public struct ClusterTopology: Sendable, Equatable {
    /// A node's address.
    public struct Node: Sendable, Hashable, CustomStringConvertible {
        public var host: String
        public var port: Int
        public init(host: String, port: Int) {
            self.host = host
            self.port = port
        }
        public var description: String { "\(host):\(port)" }

        /// Parses `host:port` (the form `MOVED` and `ASK` replies use).
        public init?(_ text: Substring) {
            guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]) else { return nil }
            self.host = String(text[..<colon])
            self.port = port
        }
    }

    /// The primary of each slot; `nil` for a slot no primary serves.
    public private(set) var owners: [Node?]

    /// The online replicas of each primary (primaries without replicas are absent).
    public private(set) var replicas: [Node: [Node]]

    public init(owners: [Node?], replicas: [Node: [Node]] = [:]) {
        self.owners = owners
        self.replicas = replicas.filter { !$0.value.isEmpty }
    }

    /// The online replicas of `primary`, in the order the cluster listed them; empty when it has none.
    public func replicas(of primary: Node) -> [Node] { replicas[primary] ?? [] }

    /// The primary serving `slot`.
    public func primary(for slot: Int) -> Node? { owners[slot] }

    /// Every primary serving at least one slot, sorted.
    public var primaries: [Node] {
        Array(Set(owners.compactMap { $0 })).sorted { ($0.host, $0.port) < ($1.host, $1.port) }
    }

    /// True when every slot has a primary.
    public var isComplete: Bool { !owners.contains(nil) }

    /// Records that `slot` now lives at `node` (after a `MOVED`).
    public mutating func move(slot: Int, to node: Node) {
        guard (0..<HashSlot.count).contains(slot) else { return }
        owners[slot] = node
    }

    /// From `CLUSTER SHARDS`: `[[ "slots", [start, end, …], "nodes", [[ "ip", …, "port", …, "role", "master", …], …]], …]`
    /// (flat arrays in RESP2, maps in RESP3). A shard's primary is its first `master` whose health is `online`
    /// (else its first `master` not `failed`); its replicas are its `replica` nodes whose health is `online` (one
    /// still loading its copy is left out). A node's address is the `endpoint` clients should use (else `ip`), and
    /// its `tls-port` when `tls`. A node that does not know its own address (empty `ip` and `endpoint`, as a lone
    /// node that never met another reports itself) is at `askedHost`, the host the reply came from. `nil` when the
    /// reply has another shape.
    public static func parse(shards reply: RESPValue, tls: Bool = false, askedHost: String = "") -> ClusterTopology? {
        guard let shards = reply.array else { return nil }
        var owners = [Node?](repeating: nil, count: HashSlot.count)
        var replicas: [Node: [Node]] = [:]
        for shard in shards {
            let fields = pairs(shard)
            guard let ranges = fields["slots"]?.array, let nodes = fields["nodes"]?.array else { return nil }
            var online: Node?
            var usable: Node?
            var copies: [Node] = []
            for node in nodes {
                let f = pairs(node)
                let role = f["role"]?.string
                guard role == "master" || role == "replica", f["health"]?.string != "failed" else { continue }
                let endpoint = f["endpoint"]?.string ?? ""
                var host = endpoint.isEmpty || endpoint == "?" ? (f["ip"]?.string ?? "") : endpoint
                if host.isEmpty { host = askedHost }
                let port = tls ? (f["tls-port"]?.int ?? f["port"]?.int) : (f["port"]?.int ?? f["tls-port"]?.int)
                guard let port, !host.isEmpty else { continue }
                let candidate = Node(host: host, port: port)
                if role == "replica" {
                    if f["health"]?.string == "online" { copies.append(candidate) }
                    continue
                }
                if f["health"]?.string == "online" {
                    if online == nil { online = candidate }
                    continue
                }
                if usable == nil { usable = candidate }
            }
            guard let primary = online ?? usable else { continue }
            if !copies.isEmpty { replicas[primary] = copies }
            var i = 0
            while i + 1 < ranges.count {
                guard let start = ranges[i].int, let end = ranges[i + 1].int, start >= 0, end < HashSlot.count, start <= end else { return nil }
                for slot in start...end { owners[slot] = primary }
                i += 2
            }
        }
        return ClusterTopology(owners: owners, replicas: replicas)
    }

    /// From `CLUSTER SLOTS`: `[[start, end, [ip, port, id], [ip, port, id] of each replica…], …]`; an empty `ip` is
    /// `askedHost`.
    public static func parse(slots reply: RESPValue, askedHost: String = "") -> ClusterTopology? {
        guard let ranges = reply.array else { return nil }
        var owners = [Node?](repeating: nil, count: HashSlot.count)
        var replicas: [Node: [Node]] = [:]
        func address(_ value: RESPValue) -> Node? {
            guard let node = value.array, node.count >= 2, let host = node[0].string, let port = node[1].int else { return nil }
            return Node(host: host.isEmpty || host == "?" ? askedHost : host, port: port)
        }
        for range in ranges {
            guard let v = range.array, v.count >= 3, let start = v[0].int, let end = v[1].int, let primary = address(v[2]),
                start >= 0, end < HashSlot.count, start <= end
            else { return nil }
            for slot in start...end { owners[slot] = primary }
            for copy in v.dropFirst(3).compactMap(address) where replicas[primary]?.contains(copy) != true {
                replicas[primary, default: []].append(copy)
            }
        }
        return ClusterTopology(owners: owners, replicas: replicas)
    }

    /// A flat `[name, value, name, value, …]` array (or a RESP3 map) as a dictionary.
    static func pairs(_ value: RESPValue) -> [String: RESPValue] {
        value.fields
    }
}
