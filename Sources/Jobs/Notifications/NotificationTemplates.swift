import Foundation
import Synchronization

/// The message of each notification kind: a title and a plain-text body with `{{field}}` placeholders filled from
/// the notification's `data` (a missing field renders as empty). Built-in kinds: `payment_failed`,
/// `payment_succeeded`, `subscription_changed`, `item_login_required`, `item_pending_expiration`, `low_balance`,
/// `report_ready`. ``register(_:_:)`` adds or replaces a kind at run time; an unknown kind renders a generic message
/// that names it and lists its data.
public final class NotificationTemplates: Sendable {
    public struct Template: Sendable, Equatable {
        public var title: String
        public var body: String
        /// The `data` field naming what the notification is about: two of the same kind for the same subject
        /// within the collapse window are one notification.
        public var subjectField: String?
        public init(title: String, body: String, subjectField: String? = nil) {
            self.title = title
            self.body = body
            self.subjectField = subjectField
        }
    }

    let templates: Mutex<[String: Template]>

    public init() {
        templates = Mutex(Self.builtIn)
    }

    public static let builtIn: [String: Template] = [
        "payment_failed": Template(
            title: "Your payment failed",
            body: "We could not collect {{amountDue}} {{currency}} for invoice {{invoice}}. Please update your card to keep your plan.",
            subjectField: "invoice"),
        "payment_succeeded": Template(
            title: "Payment received", body: "Thank you: we received {{amountPaid}} {{currency}} for invoice {{invoice}}.",
            subjectField: "invoice"),
        "subscription_changed": Template(
            title: "Your subscription changed", body: "Your subscription is on the {{plan}} plan ({{status}}){{cancelNote}}."),
        "item_login_required": Template(
            title: "Reconnect your bank", body: "Your bank needs you to sign in again before we can update your accounts ({{errorCode}}).",
            subjectField: "item"),
        "item_pending_expiration": Template(
            title: "Your bank connection expires soon",
            body: "Your access to your bank expires soon. Reconnect it to keep your accounts up to date.", subjectField: "item"),
        "low_balance": Template(
            title: "Low balance", body: "{{account}} is at {{balance}} {{currency}}, under your threshold of {{threshold}}.",
            subjectField: "accountID"),
        "report_ready": Template(
            title: "Your monthly report is ready", body: "Your report for {{month}} is ready.", subjectField: "report"),
    ]

    /// Adds or replaces the template of a kind.
    public func register(_ kind: String, _ template: Template) {
        templates.withLock { $0[kind] = template }
    }

    public func template(_ kind: String) -> Template? { templates.withLock { $0[kind] } }

    /// The title and body of a notification, and its subject (from the template's subject field, else `data["subject"]`).
    public func render(kind: String, data: [String: String]) -> (title: String, body: String, subject: String) {
        guard let template = template(kind) else {
            let fields = data.keys.sorted().map { "\($0): \(data[$0] ?? "")" }.joined(separator: "\n")
            return ("Notification: \(kind)", fields.isEmpty ? kind : fields, data["subject"] ?? "")
        }
        let subject = template.subjectField.flatMap { data[$0] } ?? data["subject"] ?? ""
        return (Self.fill(template.title, data), Self.fill(template.body, data), subject)
    }

    /// `{{field}}` → `data[field]` (empty when missing). Text outside placeholders is kept as is.
    static func fill(_ text: String, _ data: [String: String]) -> String {
        var out = ""
        var rest = Substring(text)
        while let open = rest.range(of: "{{") {
            out += rest[..<open.lowerBound]
            guard let close = rest[open.upperBound...].range(of: "}}") else {
                out += rest[open.lowerBound...]
                return out
            }
            let field = rest[open.upperBound..<close.lowerBound].trimmingCharacters(in: .whitespaces)
            out += data[field] ?? ""
            rest = rest[close.upperBound...]
        }
        out += rest
        return out
    }
}
