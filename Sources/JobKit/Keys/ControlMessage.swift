import Foundation

/// A message on the control channel (`<namespace>:control`), JSON-encoded.
public struct ControlMessage: Codable, Sendable, Equatable {
    public enum Kind: String, Codable, Sendable {
        /// Cancel the running job `job` of queue `queue` (sent to the node that runs it).
        case cancel
        /// Shut down gracefully within `graceMs` (`node` = id, or `*` for every node).
        case shutdown
        /// Stop claiming, finish running jobs, exit.
        case drain
    }

    public var type: Kind
    /// The node addressed, or `*`.
    public var node: String
    public var job: String?
    public var queue: String?
    public var graceMs: Int64?

    public init(type: Kind, node: String, job: String? = nil, queue: String? = nil, graceMs: Int64? = nil) {
        self.type = type
        self.node = node
        self.job = job
        self.queue = queue
        self.graceMs = graceMs
    }

    /// The form kept in a node's command list for the heartbeat fallback.
    var encoded: String { String(decoding: (try? JSONEncoder().encode(self)) ?? Data(), as: UTF8.self) }

    static func decode(_ text: String) -> ControlMessage? {
        try? JSONDecoder().decode(ControlMessage.self, from: Data(text.utf8))
    }
}
