/// Why a billing operation was refused before or instead of reaching Stripe. Stripe's own refusals are
/// ``StripeAPIError``s.
public enum BillingError: Error, Sendable, CustomStringConvertible, Equatable {
    /// The plan is not one of `STRIPE_PLANS` (or is `free`, which has no Stripe subscription).
    case unknownPlan(String, known: [String])
    /// The subscription or payment method does not exist or is not this tenant's (the same answer for both, so a
    /// tenant learns nothing of another's).
    case notFound(String)
    /// The tenant already has a live subscription: its plan is changed, not a second one created.
    case alreadySubscribed(tenant: String, subscription: String)
    /// The tenant has no Stripe customer yet (nothing to list or manage).
    case noCustomer(String)
    /// A field that cannot be used.
    case invalid(String)

    public var description: String {
        switch self {
        case .unknownPlan(let plan, let known):
            plan == "free"
                ? "plan 'free' has no Stripe subscription: cancel the paid subscription instead"
                : "unknown plan '\(plan)' (STRIPE_PLANS has: \(known.isEmpty ? "none" : known.joined(separator: ", ")))"
        case .notFound(let what): "\(what) not found for this tenant"
        case .alreadySubscribed(let tenant, let subscription):
            "tenant \(tenant) already has subscription \(subscription): change its plan instead of creating another"
        case .noCustomer(let tenant): "tenant \(tenant) has no Stripe customer yet"
        case .invalid(let why): why
        }
    }
}
