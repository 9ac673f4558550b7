import Foundation

// The shapes of setup intents, payment methods, lists and billing portal sessions, as far as JobKit reads them
// (Stripe's current API; unknown fields are ignored, statuses and types stay text).

/// `setup_intent`.
public struct StripeSetupIntent: Sendable, Codable, Equatable {
    public var id: String
    /// For Stripe.js (`stripe.confirmCardSetup(clientSecret, …)`): give it to the tenant's own browser only.
    public var clientSecret: String?
    public var status: String
    public var customer: String?
    public var paymentMethod: String?

    enum CodingKeys: String, CodingKey {
        case id, clientSecret = "client_secret", status, customer, paymentMethod = "payment_method"
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        id = try c.decode(String.self, forKey: .id)
        clientSecret = try c.decodeIfPresent(String.self, forKey: .clientSecret)
        status = try c.decode(String.self, forKey: .status)
        customer = try? StripeExpandable.id(c, .customer)
        paymentMethod = try? StripeExpandable.id(c, .paymentMethod)
    }
}

/// `payment_method`: its id, type, owner and, for cards, what a tenant may see of the card.
public struct StripePaymentMethod: Sendable, Decodable, Equatable {
    public var id: String
    public var type: String
    public var customer: String?
    public var card: Card?
    public var created: Int?

    /// The card's brand, last four digits and expiry (never the number).
    public struct Card: Sendable, Codable, Equatable {
        public var brand: String?
        public var last4: String?
        public var expMonth: Int?
        public var expYear: Int?
        enum CodingKeys: String, CodingKey { case brand, last4, expMonth = "exp_month", expYear = "exp_year" }
    }

    enum CodingKeys: String, CodingKey { case id, type, customer, card, created }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        id = try c.decode(String.self, forKey: .id)
        type = try c.decodeIfPresent(String.self, forKey: .type) ?? "card"
        customer = try? StripeExpandable.id(c, .customer)
        card = try? c.decodeIfPresent(Card.self, forKey: .card)
        created = try c.decodeIfPresent(Int.self, forKey: .created)
    }
}

/// A list (`{"object": "list", "data": […], "has_more"}`).
public struct StripeList<Element: Decodable & Sendable>: Sendable, Decodable {
    public var data: [Element]
    public var hasMore: Bool
    enum CodingKeys: String, CodingKey { case data, hasMore = "has_more" }
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        data = try c.decode([Element].self, forKey: .data)
        hasMore = try c.decodeIfPresent(Bool.self, forKey: .hasMore) ?? false
    }
}

/// `billing_portal.session`: where to send the tenant to manage its billing.
public struct StripePortalSession: Sendable, Decodable, Equatable {
    public var id: String
    public var url: String
}
