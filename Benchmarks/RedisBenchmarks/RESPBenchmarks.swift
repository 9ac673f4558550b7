import Benchmark
import JobKit
import NIOCore

/// Codec micro benchmarks: no server, so they run anywhere (`--filter 'RESP:.*'`).
///
/// Each iteration repeats the operation `scalingFactor` (1,000) times, so the scaled figures the table marks
/// with `*` are per operation: mallocs and instructions per decoded buffer or per encoded command.
func registerRESPBenchmarks() {
    let configuration = Benchmark.Configuration(
        metrics: [.wallClock, .throughput, .mallocCountTotal, .instructions],
        scalingFactor: .kilo,
        maxDuration: .seconds(2)
    )

    let replies = pipelinedReplies(count: 100)
    Benchmark("RESP: decode | 100 pipelined replies", configuration: configuration) { benchmark in
        let decoder = RESPDecoder()
        for _ in benchmark.scaledIterations {
            // Copying the buffer copies no bytes: decoding only moves the copy's reader index.
            var buffer = replies
            var decoded = 0
            while let value = try decoder.next(from: &buffer) {
                blackHole(value)
                decoded += 1
            }
            precondition(decoded == 100 && buffer.readableBytes == 0, "decoded \(decoded) of 100 replies")
        }
    }

    let key = "bench:key:0"
    let value = "abc"
    Benchmark("RESP: encode | SET key value", configuration: configuration) { benchmark in
        for _ in benchmark.scaledIterations {
            blackHole(RedisCommand("SET", key, value))
        }
    }

    Benchmark("RESP: encode | SET key value | strings", configuration: configuration) { benchmark in
        for _ in benchmark.scaledIterations {
            blackHole(RedisCommand("SET", strings: [key, value]))
        }
    }
}

/// `count` replies back to back, as a pipelined read delivers them: bulk strings (GET hits), integers (INCR),
/// `+OK` (SET), arrays of bulk strings (HMGET) and nested arrays (SCAN), in turn.
func pipelinedReplies(count: Int) -> ByteBuffer {
    var buffer = ByteBuffer()
    for i in 0..<count {
        let reply: RESPValue
        switch i % 5 {
        case 0:
            reply = .bulkString(ByteBuffer(string: "value-\(i)"))
        case 1:
            reply = .integer(Int64(i) * 1_000_003)
        case 2:
            reply = .simpleString(ByteBuffer(string: "OK"))
        case 3:
            reply = .array([
                .bulkString(ByteBuffer(string: "field-a-\(i)")),
                .bulkString(ByteBuffer(string: "field-b-\(i)")),
                .bulkString(nil),
            ])
        default:
            reply = .array([
                .bulkString(ByteBuffer(string: "\(i * 17)")),
                .array((0..<4).map { RESPValue.bulkString(ByteBuffer(string: "bench:key:\(i)-\($0)")) }),
            ])
        }
        RESPEncoder.encode(reply, into: &buffer)
    }
    return buffer
}
