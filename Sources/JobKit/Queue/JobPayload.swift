/// A job type: a `Codable & Sendable` value with a stable name.
///
/// The name, not the Swift type name, is what goes to Redis, so renaming the type never strands queued
/// jobs. Names are lowercase and dotted: `plaid.accounts.sync`.
///
/// ```swift
/// struct SendReceipt: JobPayload {
///     static let jobName = "notifications.receipt.send"
///     var userID: String
/// }
/// ```
public protocol JobPayload: Codable, Sendable {
    /// The stable name that binds enqueued jobs to their handler.
    static var jobName: String { get }
}
