import Foundation

/// Our plans ↔ Stripe prices, from `STRIPE_PLANS=individual:price_…,family:price_…` (`free` has no price).
public struct StripePlans: Sendable, Equatable {
    public let priceByPlan: [String: String]
    public let planByPrice: [String: String]

    /// No plans.
    public init() {
        priceByPlan = [:]
        planByPrice = [:]
    }

    /// - Throws: ``StripeConfigurationError`` for an entry that is not `plan:price` or a plan or price given twice.
    public init(_ text: String) throws {
        var byPlan: [String: String] = [:]
        var byPrice: [String: String] = [:]
        for entry in text.split(separator: ",").map({ $0.trimmingCharacters(in: .whitespaces) }) where !entry.isEmpty {
            let parts = entry.split(separator: ":", maxSplits: 1).map(String.init)
            guard parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty else {
                throw StripeConfigurationError("STRIPE_PLANS entry '\(entry)' is not plan:price")
            }
            guard byPlan[parts[0]] == nil, byPrice[parts[1]] == nil else {
                throw StripeConfigurationError("STRIPE_PLANS names plan '\(parts[0])' or price '\(parts[1])' twice")
            }
            byPlan[parts[0]] = parts[1]
            byPrice[parts[1]] = parts[0]
        }
        priceByPlan = byPlan
        planByPrice = byPrice
    }

    /// `STRIPE_PLANS`, or no plans.
    public static func fromEnvironment(_ env: [String: String] = ProcessInfo.processInfo.environment) throws -> StripePlans {
        try StripePlans(env["STRIPE_PLANS"] ?? "")
    }

    /// Our plan for a Stripe price (or, on older API versions, plan) id; the id itself when unmapped.
    public func plan(forPrice price: String?) -> String? { price.map { planByPrice[$0] ?? $0 } }
}

/// A Stripe setting that cannot work.
public struct StripeConfigurationError: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}
