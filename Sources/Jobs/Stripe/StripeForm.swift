/// A Stripe request's parameters, encoded as Stripe expects them: `application/x-www-form-urlencoded` with nested
/// keys (`metadata[tenant]=t1`, `items[0][price]=price_x`, `expand[]=…` for arrays of strings given as `.list`).
public indirect enum StripeParam: Sendable, Equatable, ExpressibleByStringLiteral {
    case string(String)
    /// Keys in order (the encoding keeps it, so a request's body is stable for its idempotency key).
    case dictionary([(String, StripeParam)])
    /// Indexed: `key[0][…]`.
    case array([StripeParam])
    /// Unindexed: `key[]=a&key[]=b` (Stripe's `expand[]`).
    case list([String])

    public init(stringLiteral value: String) { self = .string(value) }

    public static func == (a: StripeParam, b: StripeParam) -> Bool {
        a.pairs(prefix: "").map { "\($0.0)=\($0.1)" } == b.pairs(prefix: "").map { "\($0.0)=\($0.1)" }
    }

    /// `key=value` pairs, keys nested under `prefix`.
    func pairs(prefix: String) -> [(String, String)] {
        switch self {
        case .string(let value): return [(prefix, value)]
        case .dictionary(let entries):
            return entries.flatMap { key, value in value.pairs(prefix: prefix.isEmpty ? key : "\(prefix)[\(key)]") }
        case .array(let items):
            return items.enumerated().flatMap { i, value in value.pairs(prefix: "\(prefix)[\(i)]") }
        case .list(let items):
            return items.map { ("\(prefix)[]", $0) }
        }
    }
}

/// The body (or query) of a Stripe request.
public struct StripeForm: Sendable, Equatable {
    public var entries: [(String, StripeParam)]
    public init(_ entries: [(String, StripeParam)] = []) { self.entries = entries }

    public static func == (a: StripeForm, b: StripeForm) -> Bool { a.encoded == b.encoded }

    /// Adds `key`, unless `value` is nil.
    public mutating func add(_ key: String, _ value: StripeParam?) {
        if let value { entries.append((key, value)) }
    }

    /// The encoded form: `a=1&b[c]=2`, percent-encoded as `application/x-www-form-urlencoded` (brackets included).
    public var encoded: String {
        StripeParam.dictionary(entries).pairs(prefix: "").map { "\(Self.escape($0.0))=\(Self.escape($0.1))" }.joined(separator: "&")
    }

    static func escape(_ text: String) -> String {
        var out = ""
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
                UInt8(ascii: "-"), UInt8(ascii: "_"), UInt8(ascii: "."), UInt8(ascii: "~"):
                out.unicodeScalars.append(Unicode.Scalar(byte))
            default:
                out += "%" + String(byte, radix: 16, uppercase: true).leftPadded(to: 2)
            }
        }
        return out
    }
}

extension String {
    func leftPadded(to width: Int) -> String { count >= width ? self : String(repeating: "0", count: width - count) + self }
}
