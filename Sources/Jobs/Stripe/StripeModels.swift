import Foundation

// Stripe's wire shapes as far as the event handling reads them. Both the current API (prices; the period on the
// subscription's items; the invoice's subscription under `parent.subscription_details`) and older accounts'
// versions (plans; the period on the subscription; `invoice.subscription`) decode, because an account's webhook
// events come in the API version the account is pinned to. Unknown fields are ignored; statuses stay text.

/// An event (`event`): its id, type, creation time and the object it carries.
public struct StripeEventEnvelope: Sendable, Decodable {
    public var id: String
    public var type: String
    public var created: Int
    public var livemode: Bool?
    public var data: DataField
    public struct DataField: Sendable, Decodable {
        public var object: StripeObjectHeader
    }
}

/// The fields every Stripe object has.
public struct StripeObjectHeader: Sendable, Decodable {
    public var id: String?
    public var object: String?
}

/// `{"data": {"object": T}}`.
struct StripeEventObject<T: Decodable & Sendable>: Decodable, Sendable {
    struct DataField: Decodable, Sendable { var object: T }
    var data: DataField
}

/// `subscription`.
public struct StripeSubscription: Sendable, Decodable {
    public var id: String
    public var customer: String
    public var status: String
    public var cancelAtPeriodEnd: Bool
    public var canceledAt: Int?
    /// The end of the current period: the subscription's own field on older API versions, else its first item's.
    public var currentPeriodEnd: Int?
    /// The price (or, on older versions, plan) of its first item.
    public var priceID: String?
    /// Its first item's id (a plan change names the item it changes).
    public var itemID: String?
    public var metadata: [String: String]

    enum CodingKeys: String, CodingKey {
        case id, customer, status, cancelAtPeriodEnd = "cancel_at_period_end", canceledAt = "canceled_at"
        case currentPeriodEnd = "current_period_end", items, plan, metadata
    }
    struct Items: Decodable { var data: [Item] }
    struct Item: Decodable {
        var id: String?
        var currentPeriodEnd: Int?
        var price: Ref?
        var plan: Ref?
        enum CodingKeys: String, CodingKey { case id, currentPeriodEnd = "current_period_end", price, plan }
    }
    struct Ref: Decodable { var id: String }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        id = try c.decode(String.self, forKey: .id)
        customer = try StripeExpandable.id(c, .customer)
        status = try c.decode(String.self, forKey: .status)
        cancelAtPeriodEnd = try c.decodeIfPresent(Bool.self, forKey: .cancelAtPeriodEnd) ?? false
        canceledAt = try c.decodeIfPresent(Int.self, forKey: .canceledAt)
        let first = try c.decodeIfPresent(Items.self, forKey: .items)?.data.first
        let ownEnd = try c.decodeIfPresent(Int.self, forKey: .currentPeriodEnd)
        currentPeriodEnd = ownEnd ?? first?.currentPeriodEnd
        let ownPlan = try c.decodeIfPresent(Ref.self, forKey: .plan)
        priceID = first?.price?.id ?? first?.plan?.id ?? ownPlan?.id
        itemID = first?.id
        metadata = (try? c.decodeIfPresent([String: String].self, forKey: .metadata)) ?? [:]
    }
}

/// `invoice`.
public struct StripeInvoice: Sendable, Decodable {
    public var id: String
    public var customer: String
    public var status: String?
    public var amountDue: Int64
    public var amountPaid: Int64
    public var currency: String
    public var hostedInvoiceURL: String?
    public var subscription: String?

    enum CodingKeys: String, CodingKey {
        case id, customer, status, amountDue = "amount_due", amountPaid = "amount_paid", currency
        case hostedInvoiceURL = "hosted_invoice_url", subscription, parent
    }
    struct Parent: Decodable {
        struct Details: Decodable { var subscription: String? }
        var subscriptionDetails: Details?
        enum CodingKeys: String, CodingKey { case subscriptionDetails = "subscription_details" }
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        id = try c.decode(String.self, forKey: .id)
        customer = try StripeExpandable.id(c, .customer)
        status = try c.decodeIfPresent(String.self, forKey: .status)
        amountDue = try c.decodeIfPresent(Int64.self, forKey: .amountDue) ?? 0
        amountPaid = try c.decodeIfPresent(Int64.self, forKey: .amountPaid) ?? 0
        currency = try c.decode(String.self, forKey: .currency)
        hostedInvoiceURL = try c.decodeIfPresent(String.self, forKey: .hostedInvoiceURL)
        subscription =
            (try? StripeExpandable.id(c, .subscription))
            ?? (try? c.decodeIfPresent(Parent.self, forKey: .parent))??.subscriptionDetails?.subscription
    }
}

/// `customer` (or `deleted_customer`).
public struct StripeCustomer: Sendable, Decodable {
    public var id: String
    public var email: String?
    public var metadata: [String: String]
    public var deleted: Bool
    /// `invoice_settings.default_payment_method`: what its subscriptions' invoices charge.
    public var defaultPaymentMethod: String?
    enum CodingKeys: String, CodingKey { case id, email, metadata, deleted, invoiceSettings = "invoice_settings" }
    struct InvoiceSettings: Decodable {
        var defaultPaymentMethod: String?
        enum CodingKeys: String, CodingKey { case defaultPaymentMethod = "default_payment_method" }
        init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            defaultPaymentMethod = try? StripeExpandable.id(c, .defaultPaymentMethod)
        }
    }
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        id = try c.decode(String.self, forKey: .id)
        defaultPaymentMethod = (try? c.decodeIfPresent(InvoiceSettings.self, forKey: .invoiceSettings))??.defaultPaymentMethod
        email = try c.decodeIfPresent(String.self, forKey: .email)
        metadata = (try? c.decodeIfPresent([String: String].self, forKey: .metadata)) ?? [:]
        deleted = try c.decodeIfPresent(Bool.self, forKey: .deleted) ?? false
    }
}

/// Objects with a `customer` (payment methods, setup intents).
public struct StripeCustomerOwned: Sendable, Decodable {
    public var id: String
    public var customer: String?
    enum CodingKeys: String, CodingKey { case id, customer }
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        id = try c.decode(String.self, forKey: .id)
        customer = try? StripeExpandable.id(c, .customer)
    }
}

/// A field that is an id, or the expanded object with one.
enum StripeExpandable {
    struct Expanded: Decodable { var id: String }
    static func id<K: CodingKey>(_ c: KeyedDecodingContainer<K>, _ key: K) throws -> String {
        if let id = try? c.decode(String.self, forKey: key) { return id }
        return try c.decode(Expanded.self, forKey: key).id
    }
}
