import CHiredis
import JobKitTestSupport
import NIOCore
import Testing

@testable import JobKit

#if canImport(Glibc)
import Glibc
#endif

/// hiredis's reply tree, converted to our value type for comparison.
private func convert(_ pointer: UnsafeMutablePointer<redisReply>) -> RESPValue {
    let r = pointer.pointee
    func bytes() -> ByteBuffer {
        guard let str = r.str else { return ByteBuffer() }
        return str.withMemoryRebound(to: UInt8.self, capacity: Int(r.len)) {
            ByteBuffer(bytes: UnsafeBufferPointer(start: $0, count: Int(r.len)))
        }
    }
    switch r.type {
    case REDIS_REPLY_STRING: return .bulkString(bytes())
    case REDIS_REPLY_STATUS: return .simpleString(bytes())
    case REDIS_REPLY_ERROR: return .error(bytes())
    case REDIS_REPLY_INTEGER: return .integer(r.integer)
    case REDIS_REPLY_NIL: return .bulkString(nil)
    case REDIS_REPLY_ARRAY:
        var values: [RESPValue] = []
        for i in 0..<Int(r.elements) { values.append(convert(r.element[i]!)) }
        return .array(values)
    default: return .simple("unknown hiredis type \(r.type)")
    }
}

/// Decodes `stream` with hiredis's reader, fed in the given chunks.
private func hiredisDecode(_ stream: [UInt8], cuts: [Int]) -> [RESPValue]? {
    guard let reader = redisReaderCreate() else { return nil }
    defer { redisReaderFree(reader) }
    var out: [RESPValue] = []
    var previous = 0
    for cut in cuts + [stream.count] {
        let chunk = Array(stream[previous..<cut])
        previous = cut
        let fed = chunk.withUnsafeBufferPointer { b in
            b.withMemoryRebound(to: CChar.self) { redisReaderFeed(reader, $0.baseAddress, $0.count) }
        }
        guard fed == REDIS_OK else { return nil }
        while true {
            var reply: UnsafeMutableRawPointer?
            guard redisReaderGetReply(reader, &reply) == REDIS_OK else { return nil }
            guard let reply else { break }
            out.append(convert(reply.assumingMemoryBound(to: redisReply.self)))
            freeReplyObject(reply)
        }
    }
    return out
}

/// hiredis maps both `$-1` and `*-1` to NIL; so do we, for the comparison.
private func normalized(_ value: RESPValue) -> RESPValue {
    switch value {
    case .array(nil): return .bulkString(nil)
    case .array(.some(let values)): return .array(values.map(normalized))
    default: return value
    }
}

@Suite("RESP2 decoder against hiredis")
struct HiredisDifferentialTests {
    @Test("random valid streams decode the same as hiredis's reader, at random split points", arguments: 0..<25)
    func sameAsHiredis(seed: UInt64) throws {
        var rng = SplitMix64(seed: seed &* 104_729 &+ 11)
        for round in 0..<20 {
            // hiredis 0.14 nests at most 7 deep; the generator stays within 5.
            let values = (0..<Int.random(in: 1...40, using: &rng)).map { _ in RESPGen.resp2(&rng) }
            let stream = RESPGen.encode(values)
            let bytes = Array(stream.readableBytesView)
            let cuts = (0..<Int.random(in: 0...6, using: &rng)).map { _ in Int.random(in: 0...bytes.count, using: &rng) }
                .sorted()
            let ours = try decodeChunked(stream, cuts: cuts).map(normalized)
            let reference = try #require(hiredisDecode(bytes, cuts: cuts), "hiredis rejected seed \(seed) round \(round)")
            #expect(ours == reference.map(normalized), "seed \(seed) round \(round) cuts \(cuts)")
            #expect(ours.count == values.count)
        }
    }

    @Test("inputs hiredis rejects, we reject too", arguments: ["?x\r\n", "$abc\r\n", ":12a\r\n", "*x\r\n"])
    func bothReject(wire: String) {
        let bytes = Array(wire.utf8)
        #expect(hiredisDecode(bytes, cuts: []) == nil)
        var buffer = ByteBuffer(bytes: bytes)
        #expect(throws: RedisError.self) { _ = try RESPDecoder().next(from: &buffer) }
    }
}
