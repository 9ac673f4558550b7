import JobKitTestSupport
import NIOCore
import Testing

@testable import JobKit

enum RESPGen {
    static func bytes(_ rng: inout SplitMix64, maxLength: Int = 40) -> ByteBuffer {
        let n = Int.random(in: 0...maxLength, using: &rng)
        return ByteBuffer(bytes: (0..<n).map { _ in UInt8.random(in: 0...255, using: &rng) })
    }

    static func line(_ rng: inout SplitMix64) -> ByteBuffer {
        let n = Int.random(in: 0...20, using: &rng)
        let alphabet = Array("abcdefghijklmnopqrstuvwxyz ABC-_:0123456789".utf8)
        return ByteBuffer(bytes: (0..<n).map { _ in alphabet.randomElement(using: &rng)! })
    }

    /// A random RESP2 value (what hiredis 0.14 understands).
    static func resp2(_ rng: inout SplitMix64, depth: Int = 0) -> RESPValue {
        let pick = Int.random(in: 0..<(depth < 4 ? 8 : 6), using: &rng)
        switch pick {
        case 0: return .simpleString(line(&rng))
        case 1: return .error(line(&rng))
        case 2: return .integer(Int64.random(in: Int64.min...Int64.max, using: &rng))
        case 3: return .bulkString(bytes(&rng))
        case 4: return .bulkString(nil)
        case 5: return .integer(Int64.random(in: -1000...1000, using: &rng))
        case 6: return .array(nil)
        default:
            let n = Int.random(in: 0...5, using: &rng)
            return .array((0..<n).map { _ in resp2(&rng, depth: depth + 1) })
        }
    }

    /// A random RESP3 value.
    static func resp3(_ rng: inout SplitMix64, depth: Int = 0) -> RESPValue {
        let pick = Int.random(in: 0..<(depth < 4 ? 14 : 9), using: &rng)
        switch pick {
        case 0...2: return resp2(&rng, depth: 4)
        case 3: return .null
        case 4: return .boolean(Bool.random(using: &rng))
        case 5: return .double(Double(Int.random(in: -100_000...100_000, using: &rng)) / 64)
        case 6: return .bigNumber(String(UInt64.random(in: 0...UInt64.max, using: &rng)) + "123456789")
        case 7: return .verbatimString(format: "txt", bytes(&rng))
        case 8: return .double(.infinity)
        case 9:
            let n = Int.random(in: 0...4, using: &rng)
            return .map((0..<n).map { _ in RESPPair(resp3(&rng, depth: depth + 1), resp3(&rng, depth: depth + 1)) })
        case 10:
            let n = Int.random(in: 0...4, using: &rng)
            return .set((0..<n).map { _ in resp3(&rng, depth: depth + 1) })
        case 11:
            let n = Int.random(in: 1...4, using: &rng)
            return .push((0..<n).map { _ in resp3(&rng, depth: depth + 1) })
        case 12:
            return .attributed([RESPPair(.bulk("ttl"), .integer(3))], resp3(&rng, depth: depth + 1))
        default:
            let n = Int.random(in: 0...4, using: &rng)
            return .array((0..<n).map { _ in resp3(&rng, depth: depth + 1) })
        }
    }

    static func encode(_ values: [RESPValue]) -> ByteBuffer {
        var buffer = ByteBuffer()
        for v in values { RESPEncoder.encode(v, into: &buffer) }
        return buffer
    }
}

/// Decodes `stream` fed in the given chunks, as a connection would see it.
func decodeChunked(_ stream: ByteBuffer, cuts: [Int], limits: RESPDecoder.Limits = .init()) throws -> [RESPValue] {
    let decoder = RESPDecoder(limits: limits)
    var pending = ByteBuffer()
    var out: [RESPValue] = []
    var previous = 0
    for cut in cuts + [stream.readableBytes] {
        var chunk = stream.getSlice(at: stream.readerIndex + previous, length: cut - previous)!
        previous = cut
        pending.writeBuffer(&chunk)
        while let v = try decoder.next(from: &pending) { out.append(v) }
    }
    return out
}

@Suite("RESP decoder")
struct RESPDecoderTests {
    @Test(
        "decodes each reply type",
        arguments: [
            ("+OK\r\n", RESPValue.simple("OK")),
            ("-ERR bad thing\r\n", .error(ByteBuffer(string: "ERR bad thing"))),
            (":-42\r\n", .integer(-42)),
            ("$3\r\nfoo\r\n", .bulk("foo")),
            ("$0\r\n\r\n", .bulk("")),
            ("$-1\r\n", .bulkString(nil)),
            ("*-1\r\n", .array(nil)),
            ("*2\r\n$1\r\na\r\n:1\r\n", .array([.bulk("a"), .integer(1)])),
            ("_\r\n", .null),
            ("#t\r\n", .boolean(true)),
            (",3.5\r\n", .double(3.5)),
            (",-inf\r\n", .double(-.infinity)),
            ("(12345678901234567890123\r\n", .bigNumber("12345678901234567890123")),
            ("!5\r\nOOPS!\r\n", .error(ByteBuffer(string: "OOPS!"))),
            ("=7\r\ntxt:abc\r\n", .verbatimString(format: "txt", ByteBuffer(string: "abc"))),
            ("%1\r\n+k\r\n:1\r\n", .map([RESPPair(.simple("k"), .integer(1))])),
            ("~1\r\n#f\r\n", .set([.boolean(false)])),
            (">2\r\n+message\r\n+x\r\n", .push([.simple("message"), .simple("x")])),
            ("|1\r\n+a\r\n:1\r\n:7\r\n", .attributed([RESPPair(.simple("a"), .integer(1))], .integer(7))),
        ])
    func decodesType(wire: String, expected: RESPValue) throws {
        var buffer = ByteBuffer(string: wire)
        let value = try RESPDecoder().next(from: &buffer)
        #expect(value == expected)
        #expect(buffer.readableBytes == 0)
    }

    @Test("a stream split at every byte boundary decodes the same")
    func everySplit() throws {
        var rng = SplitMix64(seed: 7)
        let values = (0..<20).map { _ in RESPGen.resp3(&rng) }
        let stream = RESPGen.encode(values)
        for cut in 0...stream.readableBytes {
            #expect(try decodeChunked(stream, cuts: [cut]) == values, "cut at \(cut)")
        }
    }

    @Test("random splits of random valid streams decode to the encoded values", arguments: 0..<20)
    func randomSplits(seed: UInt64) throws {
        var rng = SplitMix64(seed: seed &* 7919)
        let values = (0..<50).map { _ in RESPGen.resp3(&rng) }
        let stream = RESPGen.encode(values)
        for _ in 0..<20 {
            let cuts = (0..<Int.random(in: 1...12, using: &rng))
                .map { _ in Int.random(in: 0...stream.readableBytes, using: &rng) }.sorted()
            let decoded = try decodeChunked(stream, cuts: cuts)
            #expect(decoded == values, "seed \(seed), cuts \(cuts)")
        }
    }

    @Test("a truncated frame asks for more bytes and consumes nothing")
    func truncated() throws {
        var rng = SplitMix64(seed: 99)
        for _ in 0..<200 {
            let value = RESPGen.resp3(&rng)
            let full = RESPGen.encode([value])
            for length in 0..<full.readableBytes {
                var prefix = full.getSlice(at: 0, length: length)!
                #expect(try RESPDecoder().next(from: &prefix) == nil)
                #expect(prefix.readableBytes == length)
            }
        }
    }

    @Test("random garbage gives values or errors, never a crash", arguments: 0..<10)
    func garbage(seed: UInt64) {
        var rng = SplitMix64(seed: seed &+ 1000)
        let typeBytes = Array("+-:$*_#,(!=%~>|\r\n0123456789-".utf8)
        for _ in 0..<2000 {
            let n = Int.random(in: 1...64, using: &rng)
            var buffer = ByteBuffer(bytes: (0..<n).map { _ in
                Bool.random(using: &rng) ? typeBytes.randomElement(using: &rng)! : UInt8.random(in: 0...255, using: &rng)
            })
            var limits = RESPDecoder.Limits()
            limits.maxLineLength = 128
            let decoder = RESPDecoder(limits: limits)
            var steps = 0
            while steps < 100 {
                steps += 1
                do {
                    guard try decoder.next(from: &buffer) != nil else { break }
                } catch let error as RedisError {
                    #expect(error.code == .protocolViolation)
                    break
                } catch {
                    Issue.record("unexpected error type \(error)")
                    break
                }
            }
        }
    }

    @Test(
        "hostile lengths and depths are refused before allocating",
        arguments: [
            "$999999999999\r\n",
            "*99999999999\r\n",
            "%99999999999\r\n",
            "$-5\r\n",
            "*-2\r\n",
            ":99999999999999999999999\r\n",
            "?what\r\n",
            "$3\r\nfoobar\r\n",
            "+OK\rX",
            "#x\r\n",
            ",notanumber\r\n",
        ])
    func hostile(wire: String) {
        var buffer = ByteBuffer(string: wire)
        #expect(throws: RedisError.self) { _ = try RESPDecoder().next(from: &buffer) }
    }

    @Test("nesting deeper than the limit is refused")
    func depth() {
        var limits = RESPDecoder.Limits()
        limits.maxDepth = 8
        var buffer = ByteBuffer(string: String(repeating: "*1\r\n", count: 50) + ":1\r\n")
        #expect(throws: RedisError.self) { _ = try RESPDecoder(limits: limits).next(from: &buffer) }
        var ok = ByteBuffer(string: String(repeating: "*1\r\n", count: 8) + ":1\r\n")
        #expect(throws: Never.self) { _ = try RESPDecoder(limits: limits).next(from: &ok) }
    }

    @Test("a line without CRLF longer than the limit is refused instead of buffered forever")
    func longLine() {
        var limits = RESPDecoder.Limits()
        limits.maxLineLength = 16
        var buffer = ByteBuffer(string: "+" + String(repeating: "a", count: 100))
        #expect(throws: RedisError.self) { _ = try RESPDecoder(limits: limits).next(from: &buffer) }
    }

    @Test("a bulk string over the length limit is refused")
    func bulkLimit() {
        var limits = RESPDecoder.Limits()
        limits.maxBulkLength = 10
        var buffer = ByteBuffer(string: "$11\r\n")
        #expect(throws: RedisError.self) { _ = try RESPDecoder(limits: limits).next(from: &buffer) }
    }
}

@Suite("RESP encoder and commands")
struct RESPEncoderTests {
    @Test("commands encode as arrays of bulk strings")
    func command() {
        let command = RedisCommand("SET", "key", 42, ByteBuffer(string: "v"), -7, 1.5)
        #expect(String(buffer: command.bytes) == "*6\r\n$3\r\nSET\r\n$3\r\nkey\r\n$2\r\n42\r\n$1\r\nv\r\n$2\r\n-7\r\n$3\r\n1.5\r\n")
    }

    @Test("integers encode exactly", arguments: [0, 9, 10, -1, Int.max, Int.min, 1234567890])
    func integers(value: Int) {
        var buffer = ByteBuffer()
        value.writeBulk(into: &buffer)
        #expect(String(buffer: buffer) == "$\(String(value).utf8.count)\r\n\(value)\r\n")
    }

    @Test("SHA1 matches the reference vectors")
    func sha1() {
        #expect(SHA1.hex(Array("abc".utf8)) == "a9993e364706816aba3e25717850c26c9cd0d89d")
        #expect(SHA1.hex([]) == "da39a3ee5e6b4b0d3255bfef95601890afd80709")
        #expect(
            SHA1.hex(Array("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq".utf8))
                == "84983e441c3bd26ebaae4aa1f95129e5e54670f1")
        #expect(SHA1.hex(Array("return 1".utf8)) == "e0e1f9fabfc9d4800c877a703b823ac0578ff8db")
        let script = RedisScript("return 1")
        #expect(script.source == RedisScript.slotGuard + "return 1" && script.sha1 == SHA1.hex(Array(script.source.utf8)))
    }
}
