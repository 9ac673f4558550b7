import Foundation
import NIOCore
import JobKit
import JobKitTestSupport
import Testing

@testable import JobKitHTTP

/// The job API's own JSON parser and payload writer against Foundation's `JSONDecoder` and `JSONEncoder`, on
/// random documents and on hand-picked edge cases.
@Suite("JSON scanner")
struct JSONScannerTests {
    static let alphabet: [String] = ["a", "B", "z", "_", "0", "9", "/", "\"", "\\", "\n", "\t", "\u{1}", "\u{8}", "\u{c}", "\u{1f}", "é", "€", "😀", " ", "\u{7f}", "\u{2028}"]

    static func string(_ r: inout SplitMix64) -> String {
        (0..<Int.random(in: 0..<6, using: &r)).map { _ in alphabet[Int.random(in: 0..<alphabet.count, using: &r)] }.joined()
    }

    static func value(_ r: inout SplitMix64, depth: Int, numbers: Bool) -> JSONValue {
        switch Int.random(in: 0..<(depth > 3 ? 5 : 7), using: &r) {
        case 0: return .null
        case 1: return .bool(Int.random(in: 0..<2, using: &r) == 0)
        case 2: return .integer([0, 1, -1, 42, Int64.max, Int64.min, Int64(Int.random(in: 0..<1_000_000, using: &r)) - 500_000][Int.random(in: 0..<7, using: &r)])
        case 3: return numbers ? .number([0.5, -2.25, 6.02e-23, 1.5e-7, 3.14159][Int.random(in: 0..<5, using: &r)]) : .string(string(&r))
        case 4: return .string(string(&r))
        case 5: return .array((0..<Int.random(in: 0..<4, using: &r)).map { _ in value(&r, depth: depth + 1, numbers: numbers) })
        default:
            var o: [String: JSONValue] = [:]
            for _ in 0..<Int.random(in: 0..<5, using: &r) { o[string(&r)] = value(&r, depth: depth + 1, numbers: numbers) }
            return .object(o)
        }
    }

    @Test("2,000 random documents: the scanner reads JSONEncoder's text back to the same value, and writes the same bytes as JSONOutput")
    func differential() throws {
        var r = SplitMix64(seed: 20261207)
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
        var r = SplitMix64(seed: 7)
        func maybe(_ s: String) -> String? { s.isEmpty ? nil : s }
        func maybeInt(_ r: inout SplitMix64) -> Int64? { Int.random(in: 0..<3, using: &r) == 0 ? nil : Int64(Int.random(in: 0..<2_000_000_000, using: &r)) * 1000 }
        for n in 0..<500 {
            var history: [AttemptFields] = []
            for k in 0..<Int.random(in: 0..<3, using: &r) {
                history.append(AttemptFields(attempt: k + 1, at: Int64(Int.random(in: 0..<1 << 30, using: &r)), node: Self.string(&r), error: Self.string(&r), kind: "error"))
            }
            let record = try JSONDecoder().decode(JobRecord.self, from: JSONOutput.data(RecordFields(
                id: Self.string(&r), name: Self.string(&r), queue: Self.string(&r), state: JobState.allCases[Int.random(in: 0..<JobState.allCases.count, using: &r)].rawValue,
                priority: Int.random(in: 0..<1999, using: &r) - 999, attempts: Int.random(in: 0..<5, using: &r), maxAttempts: 1 + Int.random(in: 0..<9, using: &r), enqueuedAtMs: maybeInt(&r),
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
