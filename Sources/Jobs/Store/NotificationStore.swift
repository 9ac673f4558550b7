import Foundation
import JobKit
import Logging
import PostgresNIO

/// The notifications half of the store: each tenant's (or user's) channels and opt-outs, the inbox, and the
/// delivery of every notification on every channel. Every function takes the tenant.
public struct NotificationStore: Sendable {
    public let database: StoreDatabase
    let logger: Logger

    public init(database: StoreDatabase, logger: Logger) {
        self.database = database
        self.logger = logger
    }

    var client: PostgresClient { database.client }

    /// Where a tenant's (or, with `user`, one user's) notifications go. A user without a row of their own gets the
    /// tenant's; a tenant without one gets the inbox only.
    public struct Channels: Sendable, Codable, Equatable {
        public var inbox: Bool
        @Nullable public var email: String?
        @Nullable public var webhookURL: String?
        public init(inbox: Bool = true, email: String? = nil, webhookURL: String? = nil) {
            self.inbox = inbox
            self.email = email
            self.webhookURL = webhookURL
        }
    }

    /// One inbox entry (`jobnode notifications list --json`).
    public struct InboxRow: Sendable, Codable, Equatable {
        public var notification: String
        public var tenant: String
        public var user: String
        public var kind: String
        public var title: String
        public var body: String
        public var outcome: String
        public var createdAtMs: Int64
        @Nullable public var readAtMs: Int64?
    }

    public func setChannels(tenant: String, user: String? = nil, _ channels: Channels) async throws {
        try await client.query("INSERT INTO tenants (id) VALUES (\(tenant)) ON CONFLICT (id) DO NOTHING", logger: logger)
        try await client.query(
            """
            INSERT INTO notification_channels (tenant_id, user_id, inbox, email, webhook_url)
            VALUES (\(tenant), \(user ?? ""), \(channels.inbox), \(channels.email), \(channels.webhookURL))
            ON CONFLICT (tenant_id, user_id) DO UPDATE SET inbox = EXCLUDED.inbox, email = EXCLUDED.email,
              webhook_url = EXCLUDED.webhook_url, updated_at = now()
            """, logger: logger)
    }

    public func channels(tenant: String, user: String?) async throws -> Channels {
        for try await (inbox, email, url) in try await client.query(
            """
            SELECT inbox, email, webhook_url FROM notification_channels
            WHERE tenant_id = \(tenant) AND user_id IN (\(user ?? ""), '') ORDER BY user_id DESC LIMIT 1
            """, logger: logger
        ).decode((Bool, String?, String?).self) {
            return Channels(inbox: inbox, email: email, webhookURL: url)
        }
        return Channels()
    }

    /// Stops (or, `optedOut` false, restarts) one kind for one user.
    public func setOptOut(tenant: String, user: String, kind: String, optedOut: Bool = true) async throws {
        try await client.query("INSERT INTO tenants (id) VALUES (\(tenant)) ON CONFLICT (id) DO NOTHING", logger: logger)
        if optedOut {
            try await client.query(
                "INSERT INTO notification_optouts (tenant_id, user_id, kind) VALUES (\(tenant), \(user), \(kind)) ON CONFLICT DO NOTHING",
                logger: logger)
        } else {
            try await client.query(
                "DELETE FROM notification_optouts WHERE tenant_id = \(tenant) AND user_id = \(user) AND kind = \(kind)", logger: logger)
        }
    }

    /// The tenant's (or user's) inbox, newest first: the notifications delivered to the inbox channel. With `all`
    /// (operators), every notification, also those collapsed, opted out, failed or sent on other channels only.
    public func inbox(tenant: String, user: String? = nil, limit: Int = 50, all: Bool = false) async throws -> [InboxRow] {
        var out: [InboxRow] = []
        for try await (id, t, u, kind, title, body, outcome, created, read) in try await client.query(
            """
            SELECT notification_id, tenant_id, user_id, kind, title, body, outcome, (extract(epoch FROM created_at) * 1000)::bigint,
                   (extract(epoch FROM read_at) * 1000)::bigint
            FROM notifications n WHERE tenant_id = \(tenant) AND (\(user)::text IS NULL OR user_id = \(user))
              AND (\(all) OR EXISTS (SELECT 1 FROM notification_deliveries d WHERE d.tenant_id = n.tenant_id
                                        AND d.notification_id = n.notification_id AND d.channel = 'inbox' AND d.status = 'sent'))
            ORDER BY created_at DESC, notification_id LIMIT \(limit)
            """, logger: logger
        ).decode((String, String, String, String, String, String, String, Int64, Int64?).self) {
            out.append(
                InboxRow(
                    notification: id, tenant: t, user: u, kind: kind, title: title, body: body, outcome: outcome, createdAtMs: created,
                    readAtMs: read))
        }
        return out
    }

    /// Marks one of the tenant's notifications read; false when the tenant has no such notification.
    public func markRead(tenant: String, notification: String) async throws -> Bool {
        let rows = try await client.query(
            """
            UPDATE notifications SET read_at = COALESCE(read_at, now()) WHERE tenant_id = \(tenant) AND notification_id = \(notification)
            RETURNING notification_id
            """, logger: logger)
        for try await _ in rows { return true }
        return false
    }

    /// The channels' states of one of the tenant's notifications (`sending`, `sent`, `failed`).
    public func deliveries(tenant: String, _ notification: String) async throws -> [String: String] {
        var out: [String: String] = [:]
        for try await (channel, status) in try await client.query(
            "SELECT channel, status FROM notification_deliveries WHERE tenant_id = \(tenant) AND notification_id = \(notification)",
            logger: logger
        ).decode((String, String).self) {
            out[channel] = status
        }
        return out
    }

    // MARK: The job's steps

    /// What a notification's first step decided.
    enum Admission: Equatable {
        /// Deliver it (new, or a re-run of one being delivered).
        case deliver
        /// Already settled by an earlier run: `sent`, `opted_out`, `collapsed`.
        case settled(String)
    }

    /// Records the notification (once per id) and decides, in one transaction under a per-subject lock: a user
    /// who opted out of the kind gets nothing (`opted_out`); one of the same kind and subject delivered within
    /// `window` makes this one `collapsed` into it; otherwise it is delivered.
    func admit(
        id: String, tenant: String, user: String, kind: String, subject: String, title: String, body: String, data: String,
        window: Duration
    ) async throws -> Admission {
        try await database.transaction(logger: logger) { c in
            try await c.query("INSERT INTO tenants (id) VALUES (\(tenant)) ON CONFLICT (id) DO NOTHING", logger: logger)
            try await c.query(
                "SELECT pg_advisory_xact_lock(hashtextextended('notify:' || \(tenant) || ':' || \(user) || ':' || \(kind) || ':' || \(subject), 0))",
                logger: logger)
            for try await (outcome,) in try await c.query(
                "SELECT outcome FROM notifications WHERE tenant_id = \(tenant) AND notification_id = \(id) FOR UPDATE", logger: logger
            ).decode((String,).self) {
                return outcome == "delivering" ? .deliver : .settled(outcome)
            }
            var outcome = "delivering"
            var collapsedInto: String?
            // The user's own opt-out, or the tenant's (user '': every user).
            for try await _ in try await c.query(
                "SELECT 1 FROM notification_optouts WHERE tenant_id = \(tenant) AND user_id IN (\(user), '') AND kind = \(kind) LIMIT 1",
                logger: logger)
            {
                outcome = "opted_out"
            }
            if outcome == "delivering", !subject.isEmpty {
                let seconds = Double(window.milliseconds) / 1000
                for try await (other,) in try await c.query(
                    """
                    SELECT notification_id FROM notifications
                    WHERE tenant_id = \(tenant) AND user_id = \(user) AND kind = \(kind) AND subject = \(subject)
                      AND outcome IN ('delivering', 'sent', 'failed') AND created_at > now() - make_interval(secs => \(seconds))
                    ORDER BY created_at LIMIT 1
                    """, logger: logger
                ).decode((String,).self) {
                    outcome = "collapsed"
                    collapsedInto = other
                }
            }
            try await c.query(
                """
                INSERT INTO notifications (notification_id, tenant_id, user_id, kind, subject, title, body, data, outcome, collapsed_into)
                VALUES (\(id), \(tenant), \(user), \(kind), \(subject), \(title), \(body), \(data)::jsonb, \(outcome), \(collapsedInto))
                """, logger: logger)
            return outcome == "delivering" ? .deliver : .settled(outcome)
        }
    }

    /// Takes a channel of a notification for this run: true when no other run is sending it (a claim older than
    /// `stale` is taken over: its run died) and it is not sent yet.
    func claimDelivery(tenant: String, _ id: String, channel: String, run: String, stale: Duration = .seconds(300)) async throws -> Bool {
        let rows = try await client.query(
            """
            INSERT INTO notification_deliveries (tenant_id, notification_id, channel, status, claimed_by, claimed_at)
            VALUES (\(tenant), \(id), \(channel), 'sending', \(run), now())
            ON CONFLICT (tenant_id, notification_id, channel) DO UPDATE SET status = 'sending', claimed_by = EXCLUDED.claimed_by,
              claimed_at = now()
            WHERE notification_deliveries.status = 'failed'
               OR (notification_deliveries.status = 'sending'
                   AND (notification_deliveries.claimed_by = EXCLUDED.claimed_by
                        OR notification_deliveries.claimed_at < now() - make_interval(secs => \(Double(stale.milliseconds) / 1000))))
            RETURNING channel
            """, logger: logger)
        for try await _ in rows { return true }
        return false
    }

    func recordDelivery(tenant: String, _ id: String, channel: String, sent: Bool, error: String?, providerID: String?) async throws {
        try await client.query(
            """
            UPDATE notification_deliveries SET status = \(sent ? "sent" : "failed"), attempts = attempts + 1, last_error = \(error),
              provider_id = COALESCE(\(providerID), provider_id), sent_at = CASE WHEN \(sent) THEN now() END
            WHERE tenant_id = \(tenant) AND notification_id = \(id) AND channel = \(channel) AND status <> 'sent'
            """, logger: logger)
    }

    func finish(tenant: String, _ id: String, outcome: String) async throws {
        try await client.query(
            "UPDATE notifications SET outcome = \(outcome) WHERE tenant_id = \(tenant) AND notification_id = \(id)", logger: logger)
    }
}
