import Foundation
import NIOCore
import JobKit
import Testing

@testable import JobKitHTTP

/// The job API's own JSON parser and payload writer against Foundation's `JSONDecoder` and `JSONEncoder`, on
/// random documents and on hand-picked edge cases.
@Suite("JSON scanner")
struct JSONScannerTests {
    /// A deterministic generator (SplitMix64), so a failure names a reproducible seed.
    struct Random {
        var state: UInt64
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        mutating func below(_ n: Int) -> Int { Int(next() % UInt64(n)) }
    }

    static let alphabet: [String] = ["a", "B", "z", "_", "0", "9", "/", "\"", "\\", "\n", "\t", "\u{1}", "\u{8}", "\u{c}", "\u{1f}", "é", "€", "😀", " ", "\u{7f}", "\u{2028}"]

    static func string(_ r: inout Random) -> String {
        (0..<r.below(6)).map { _ in alphabet[r.below(alphabet.count)] }.joined()
    }

    static func value(_ r: inout Random, depth: Int, numbers: Bool) -> JSONValue {
        switch r.below(depth > 3 ? 5 : 7) {
        case 0: return .null
        case 1: return .bool(r.below(2) == 0)
        case 2: return .integer([0, 1, -1, 42, Int64.max, Int64.min, Int64(r.below(1_000_000)) - 500_000][r.below(7)])
        case 3: return numbers ? .number([0.5, -2.25, 6.02e-23, 1.5e-7, 3.14159][r.below(5)]) : .string(string(&r))
        case 4: return .string(string(&r))
        case 5: return .array((0..<r.below(4)).map { _ in value(&r, depth: depth + 1, numbers: numbers) })
        default:
            var o: [String: JSONValue] = [:]
            for _ in 0..<r.below(5) { o[string(&r)] = value(&r, depth: depth + 1, numbers: numbers) }
            return .object(o)
        }
    }

    @Test("2,000 random documents: the scanner reads JSONEncoder's text back to the same value, and writes the same bytes as JSONOutput")
    func differential() throws {
        var r = Random(state: 20261207)
        for n in 0..<2_000 {
            let v = Self.value(&r, depth: 0, numbers: n % 2 == 0)
            let text = try JSONOutput.encode(v)
            #expect(JSONScanner.parse(text) == v, "document \(n): \(String(buffer: text))")
            var written = ByteBuffer()
            if v.writeCompact(into: &written) {
                #expect(written == text, "document \(n): \(String(buffer: written)) vs \(String(buffer: text))")
            } else {
                #expect(n % 2 == 0, "only documents with non-integral numbers fall back")
            }
        }
    }

    @Test("edge cases: escapes and surrogate pairs read as JSONDecoder reads them; malformed, truncated, duplicate-key and over-deep documents are refused (nil), so the caller's JSONDecoder names the error")
    func edges() throws {
        func parse(_ s: String) -> JSONValue? { JSONScanner.parse(ByteBuffer(string: s)) }
        #expect(parse(#"{"a":"\u00e9\ud83d\ude00\/\b\f\n\r\t\"\\"}"#) == .object(["a": .string("é😀/\u{8}\u{c}\n\r\t\"\\")]))
        #expect(parse(" [1, -0, 2.5e-3, 9223372036854775807, 0.1] ")
            == .array([.integer(1), .integer(0), .number(0.0025), .integer(.max), .number(0.1)]))
        // Whole numbers written as fractions or exponents, and integers beyond 64 bits, go to JSONDecoder (which
        // reads an exact integer first): the fast path never stores them differently.
        for whole in ["2.5e3", "1e16", "2.0", "-0.0", "9007199254740993.0", "9223372036854775808", "1E2"] {
            #expect(parse(whole) == nil, "\(whole)")
            #expect(parse("{\"payload\":{\"n\":\(whole)}}") == nil, "\(whole)")
        }
        for bad in [
            "", "{", "[1,]", "{\"a\":1,}", "{\"a\" 1}", "01", "1.", "-", "1e", "tru", "nul", "\"\\x\"", "\"\\ud800\"", "\"\\udc00\"",
            "\"a\u{1}\"", "{\"a\":1,\"a\":2}", "[1] 2", "NaN", "\"\\u12g4\"",
        ] {
            #expect(parse(bad) == nil, "\(bad)")
        }
        #expect(parse(String(repeating: "[", count: 600) + String(repeating: "]", count: 600)) == nil)
        #expect(parse(String(repeating: "[", count: 100) + String(repeating: "]", count: 100)) != nil)
        var invalid = ByteBuffer(string: "\"")
        invalid.writeBytes([0xC3, 0x28])
        invalid.writeString("\"")
        #expect(JSONScanner.parse(invalid) == nil)
    }

    @Test("500 random job records: the direct writer gives JSONOutput's bytes, nulls and escapes included")
    func records() throws {
        var r = Random(state: 7)
        func maybe(_ s: String) -> String? { s.isEmpty ? nil : s }
        func maybeInt(_ r: inout Random) -> Int64? { r.below(3) == 0 ? nil : Int64(r.below(2_000_000_000)) * 1000 }
        for n in 0..<500 {
            var history: [AttemptFields] = []
            for k in 0..<r.below(3) {
                history.append(AttemptFields(attempt: k + 1, at: Int64(r.below(1 << 30)), node: Self.string(&r), error: Self.string(&r), kind: "error"))
            }
            let record = try JSONDecoder().decode(JobRecord.self, from: JSONOutput.data(RecordFields(
                id: Self.string(&r), name: Self.string(&r), queue: Self.string(&r), state: JobState.allCases[r.below(JobState.allCases.count)].rawValue,
                priority: r.below(1999) - 999, attempts: r.below(5), maxAttempts: 1 + r.below(9), enqueuedAtMs: maybeInt(&r),
                startedAtMs: maybeInt(&r), finishedAtMs: maybeInt(&r), runAtMs: maybeInt(&r), node: maybe(Self.string(&r)),
                lastError: maybe(Self.string(&r)), tenant: maybe(Self.string(&r)), correlation: maybe(Self.string(&r)),
                payload: Self.string(&r), result: maybe(Self.string(&r)), history: history)))
            var written = ByteBuffer()
            record.writeJSON(into: &written)
            let expected = try JSONOutput.encode(record)
            #expect(written == expected, "record \(n): \(String(buffer: written)) vs \(String(buffer: expected))")
        }
    }

    /// The record's fields, to build records through their Codable shape.
    struct RecordFields: Encodable {
        var id, name, queue, state: String
        var priority, attempts, maxAttempts: Int
        var enqueuedAtMs, startedAtMs, finishedAtMs, runAtMs: Int64?
        var node, lastError, tenant, correlation: String?
        var payload: String
        var result: String?
        var history: [AttemptFields]
    }

    struct AttemptFields: Encodable {
        var attempt: Int
        var at: Int64
        var node, error, kind: String
    }
}
