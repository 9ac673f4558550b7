import JobKit

/// Registers every domain job of the personal-finance backend. Any jobnode can run any of them.
///
/// The domain jobs (Plaid, Stripe, notifications, reports, maintenance) arrive with their issues; until
/// then a node runs the diagnostic `jobkit.*` jobs that every worker registers.
public enum JobCatalog {
    public static func register(in registry: JobRegistry) {
        _ = registry
    }
}
