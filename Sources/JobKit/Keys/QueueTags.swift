import Foundation

/// Operators' queue → hash-tag pins, for Redis Cluster: a queue's keys normally share the hash tag `{<queue>}`, so
/// its slot (and shard) is the hash of its name. A pin gives a hot queue a slot an operator chooses: by a tag of
/// their own (`emails=mail`, its slot is `CLUSTER KEYSLOT mail`), or by slot number (`emails=@1234`, JobKit finds
/// a tag that hashes there). Several queues pinned to one tag share a slot.
///
/// Every process reads `JOBKIT_QUEUE_TAGS` (comma-separated `queue=tag` or `queue=@slot`) once, through
/// ``environment``; `jobnode --queue-tags` sets it for that process. Producers, nodes, the CLI and the HTTP surface
/// must agree, as with `JOBKIT_ROUTES`: a pinned queue's keys are `<namespace>:{<tag>}=<queue>:…`, other keys
/// than the unpinned queue's. Pinning a queue that holds jobs does not move them: drain it first (or move its slot
/// with `redis-cli --cluster reshard` instead, which keeps the keys).
public struct QueueTags: Sendable, Equatable {
    /// Queue → tag.
    public var tags: [String: String]

    public init(_ tags: [String: String] = [:]) {
        self.tags = tags
    }

    /// No pins.
    public static let none = QueueTags()

    /// The name of the environment variable read by ``environment``.
    public static let variable = "JOBKIT_QUEUE_TAGS"

    /// The pins of this process's `JOBKIT_QUEUE_TAGS`, read once (none when it is unset, empty, or does not parse;
    /// `jobnode` refuses to start when it does not parse).
    public static let environment: QueueTags = {
        guard let text = ProcessInfo.processInfo.environment[variable] else { return .none }
        return (try? parse(text)) ?? .none
    }()

    /// The tag pinned for `queue`, if any.
    public func tag(for queue: String) -> String? { tags.isEmpty ? nil : tags[queue] }

    /// Parses `queue=tag|@slot[,…]` (spaces around entries are ignored; an empty text is no pins).
    ///
    /// - Throws: ``QueueError`` `invalidOptions` naming the entry: no `=`, a queue or tag name that is not 1-100
    ///   characters of `a-z A-Z 0-9 . _ -`, a slot outside 0-16383, or a queue pinned twice.
    public static func parse(_ text: String) throws -> QueueTags {
        var tags: [String: String] = [:]
        for (queue, pin) in try AssignmentList.parse(text, variable: variable, shape: "queue=tag or queue=@slot", twice: "is pinned twice") {
            guard QueueName.isValid(queue) else {
                throw QueueError(.invalidOptions, "\(variable): queue name '\(queue)' must be 1-100 characters of a-z A-Z 0-9 . _ -")
            }
            var tag = pin
            if pin.hasPrefix("@") {
                guard let slot = Int(pin.dropFirst()), (0..<HashSlot.count).contains(slot) else {
                    throw QueueError(.invalidOptions, "\(variable): '\(pin)' is not a slot @0-@16383")
                }
                tag = Self.tag(forSlot: slot)
            }
            guard QueueName.isValid(tag) else {
                throw QueueError(.invalidOptions, "\(variable): tag '\(tag)' must be 1-100 characters of a-z A-Z 0-9 . _ -")
            }
            tags[queue] = tag
        }
        return QueueTags(tags)
    }

    /// The smallest decimal number whose hash slot is `slot` (every slot has one below 110,000).
    public static func tag(forSlot slot: Int) -> String {
        var n = 0
        while HashSlot.of(String(n)) != slot { n += 1 }
        return String(n)
    }
}
