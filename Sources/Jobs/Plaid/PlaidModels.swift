import Foundation

// Plaid's `2020-09-14` wire shapes, as far as the jobs read them. Decoding is lenient where Plaid says it may
// grow (extra fields are ignored, enum-like strings become ``PlaidEnum`` with an unknown case, nullable where the
// spec says nullable) and strict where correctness needs it: ids, amounts (`Decimal`, decoded from the number's
// digits, never through a float) and dates (`YYYY-MM-DD`, checked).

/// A string Plaid documents as an enum that may gain values: the known ones compare as usual; any other value
/// is kept as it came (``isKnown`` false) rather than failing the whole response.
public struct PlaidEnum<Known: RawRepresentable & CaseIterable & Sendable>: Sendable, Hashable, Codable
where Known.RawValue == String {
    public let rawValue: String
    public init(_ rawValue: String) { self.rawValue = rawValue }
    public init(_ known: Known) { self.rawValue = known.rawValue }
    /// The known case, or nil for a value this build does not know.
    public var known: Known? { Known(rawValue: rawValue) }
    public var isKnown: Bool { known != nil }
    public init(from decoder: any Decoder) throws { rawValue = try decoder.singleValueContainer().decode(String.self) }
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(rawValue)
    }
}

/// `AccountType`.
public enum PlaidAccountType: String, CaseIterable, Sendable {
    case investment, credit, depository, loan, brokerage, other
}

/// `TransactionsUpdateStatus`.
public enum PlaidTransactionsUpdateStatus: String, CaseIterable, Sendable {
    case notReady = "NOT_READY", initialUpdateComplete = "INITIAL_UPDATE_COMPLETE"
    case historicalUpdateComplete = "HISTORICAL_UPDATE_COMPLETE"
}

/// A calendar date as Plaid writes it (`YYYY-MM-DD`), checked on decode.
public struct PlaidDate: Sendable, Hashable, Codable, Comparable, CustomStringConvertible {
    public let text: String
    public init(_ text: String) throws {
        let u = Array(text.utf8)
        func digits(_ r: Range<Int>) -> Int? {
            var v = 0
            for i in r { guard u[i] >= 0x30 && u[i] <= 0x39 else { return nil }; v = v * 10 + Int(u[i] - 0x30) }
            return v
        }
        guard u.count == 10, u[4] == 0x2D, u[7] == 0x2D, let m = digits(5..<7), let d = digits(8..<10), digits(0..<4) != nil,
            (1...12).contains(m), (1...31).contains(d)
        else { throw PlaidDecodingError("not a YYYY-MM-DD date: '\(text.prefix(40))'") }
        self.text = text
    }
    public init(from decoder: any Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        do { try self.init(text) } catch let error as PlaidDecodingError {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: error.message))
        }
    }
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(text)
    }
    public var description: String { text }
    public static func < (a: PlaidDate, b: PlaidDate) -> Bool { a.text < b.text }
}

struct PlaidDecodingError: Error { var message: String; init(_ m: String) { message = m } }

/// `AccountBalance`.
public struct PlaidBalances: Sendable, Hashable, Codable {
    public var current: Decimal?
    public var available: Decimal?
    public var limit: Decimal?
    public var isoCurrencyCode: String?
    public var unofficialCurrencyCode: String?
    /// The currency: the ISO code, else Plaid's unofficial one (crypto and the like).
    public var currency: String? { isoCurrencyCode ?? unofficialCurrencyCode }

    enum CodingKeys: String, CodingKey {
        case current, available, limit
        case isoCurrencyCode = "iso_currency_code", unofficialCurrencyCode = "unofficial_currency_code"
    }
}

/// `AccountBase`.
public struct PlaidAccount: Sendable, Hashable, Codable {
    public var accountID: String
    public var balances: PlaidBalances
    public var mask: String?
    public var name: String
    public var officialName: String?
    public var type: PlaidEnum<PlaidAccountType>
    public var subtype: String?

    enum CodingKeys: String, CodingKey {
        case accountID = "account_id", balances, mask, name, officialName = "official_name", type, subtype
    }
}

/// `PersonalFinanceCategory`.
public struct PlaidPersonalFinanceCategory: Sendable, Hashable, Codable {
    public var primary: String
    public var detailed: String
    public var confidenceLevel: String?
    enum CodingKeys: String, CodingKey { case primary, detailed, confidenceLevel = "confidence_level" }
}

/// `Transaction` (the fields the store keeps).
public struct PlaidTransaction: Sendable, Hashable, Codable {
    public var transactionID: String
    public var accountID: String
    /// Positive for money leaving the account, as Plaid signs it.
    public var amount: Decimal
    public var isoCurrencyCode: String?
    public var unofficialCurrencyCode: String?
    public var date: PlaidDate
    public var datetime: String?
    public var authorizedDate: PlaidDate?
    public var name: String
    public var merchantName: String?
    public var pending: Bool
    public var pendingTransactionID: String?
    public var personalFinanceCategory: PlaidPersonalFinanceCategory?
    public var currency: String? { isoCurrencyCode ?? unofficialCurrencyCode }

    enum CodingKeys: String, CodingKey {
        case transactionID = "transaction_id", accountID = "account_id", amount
        case isoCurrencyCode = "iso_currency_code", unofficialCurrencyCode = "unofficial_currency_code"
        case date, datetime, authorizedDate = "authorized_date", name, merchantName = "merchant_name", pending
        case pendingTransactionID = "pending_transaction_id", personalFinanceCategory = "personal_finance_category"
    }
}

/// `RemovedTransaction`.
public struct PlaidRemovedTransaction: Sendable, Hashable, Codable {
    public var transactionID: String
    public var accountID: String?
    enum CodingKeys: String, CodingKey { case transactionID = "transaction_id", accountID = "account_id" }
}

/// `TransactionsSyncResponse`.
public struct PlaidTransactionsSyncResponse: Sendable, Codable {
    public var transactionsUpdateStatus: PlaidEnum<PlaidTransactionsUpdateStatus>?
    public var accounts: [PlaidAccount]
    public var added: [PlaidTransaction]
    public var modified: [PlaidTransaction]
    public var removed: [PlaidRemovedTransaction]
    public var nextCursor: String
    public var hasMore: Bool
    public var requestID: String
    enum CodingKeys: String, CodingKey {
        case transactionsUpdateStatus = "transactions_update_status", accounts, added, modified, removed
        case nextCursor = "next_cursor", hasMore = "has_more", requestID = "request_id"
    }
}

/// `AccountsGetResponse` (also the answer of `/accounts/balance/get`).
public struct PlaidAccountsResponse: Sendable, Codable {
    public var accounts: [PlaidAccount]
    public var item: PlaidItem
    public var requestID: String
    enum CodingKeys: String, CodingKey { case accounts, item, requestID = "request_id" }
}

/// `ItemWithConsentFields` (what the jobs read of it).
public struct PlaidItem: Sendable, Codable {
    public var itemID: String
    public var institutionID: String?
    public var institutionName: String?
    public var webhook: String?
    public var error: PlaidErrorBody?
    public var consentExpirationTime: String?
    enum CodingKeys: String, CodingKey {
        case itemID = "item_id", institutionID = "institution_id", institutionName = "institution_name", webhook, error
        case consentExpirationTime = "consent_expiration_time"
    }
}

/// `ItemGetResponse`.
public struct PlaidItemGetResponse: Sendable, Codable {
    public var item: PlaidItem
    public var requestID: String
    enum CodingKeys: String, CodingKey { case item, requestID = "request_id" }
}

/// `Institution`.
public struct PlaidInstitution: Sendable, Codable {
    public var institutionID: String
    public var name: String
    public var countryCodes: [String]
    public var products: [String]
    public var url: String?
    /// Present when asked for (`options.include_status`); Plaid may leave it null.
    public var status: PlaidInstitutionStatus?
    enum CodingKeys: String, CodingKey {
        case institutionID = "institution_id", name, countryCodes = "country_codes", products, url, status
    }
}

/// `InstitutionStatus`, as far as item health reads it: logins and transactions updates.
public struct PlaidInstitutionStatus: Sendable, Codable {
    public var itemLogins: PlaidProductStatus?
    public var transactionsUpdates: PlaidProductStatus?
    enum CodingKeys: String, CodingKey { case itemLogins = "item_logins", transactionsUpdates = "transactions_updates" }
}

/// `ProductStatus`: `HEALTHY`, `DEGRADED` or `DOWN` (kept as text: Plaid may add values).
public struct PlaidProductStatus: Sendable, Codable {
    public var status: String?
}

/// `InstitutionsGetByIdResponse`.
public struct PlaidInstitutionResponse: Sendable, Codable {
    public var institution: PlaidInstitution
    public var requestID: String
    enum CodingKeys: String, CodingKey { case institution, requestID = "request_id" }
}

/// `ItemPublicTokenExchangeResponse`. Its `accessToken` is a secret: it goes to ``TokenCipher`` and nowhere else.
public struct PlaidExchangeResponse: Sendable, Codable {
    public var accessToken: String
    public var itemID: String
    public var requestID: String
    enum CodingKeys: String, CodingKey { case accessToken = "access_token", itemID = "item_id", requestID = "request_id" }
}

/// `SandboxPublicTokenCreateResponse`.
public struct PlaidSandboxPublicTokenResponse: Sendable, Codable {
    public var publicToken: String
    public var requestID: String
    enum CodingKeys: String, CodingKey { case publicToken = "public_token", requestID = "request_id" }
}

/// `JWKPublicKey`: a webhook verification key.
public struct PlaidWebhookKey: Sendable, Codable, Hashable {
    public var alg: String
    public var crv: String
    public var kid: String
    public var kty: String
    public var use: String
    public var x: String
    public var y: String
    public var createdAt: Int
    public var expiredAt: Int?
    enum CodingKeys: String, CodingKey {
        case alg, crv, kid, kty, use, x, y, createdAt = "created_at", expiredAt = "expired_at"
    }
}

/// `WebhookVerificationKeyGetResponse`.
public struct PlaidWebhookKeyResponse: Sendable, Codable {
    public var key: PlaidWebhookKey
    public var requestID: String
    enum CodingKeys: String, CodingKey { case key, requestID = "request_id" }
}
