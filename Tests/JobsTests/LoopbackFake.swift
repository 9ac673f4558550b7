import AsyncHTTPClient
import Foundation
import JobKitTestSupport
import NIOCore
import NIOFoundationCompat
import NIOHTTP1

/// Starting the loopback fakes (`scripts/fakes/*.py`) and talking HTTP to them and to nodes.
enum LoopbackFake {
    /// Starts `python3 <script> --port 0 <arguments>` with its output in `log`; returns it and the port from its first
    /// line, `LISTENING <port>`.
    static func start(script: String, arguments: [String], log: String) async throws -> (ChildProcess, Int) {
        let process = try ChildProcess("/usr/bin/env", ["python3", script, "--port", "0"] + arguments, outputPath: log)
        let deadline = ContinuousClock.now + .seconds(60)
        while true {
            let text = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
            if let line = text.split(separator: "\n").first(where: { $0.hasPrefix("LISTENING ") }),
                let port = Int(line.dropFirst("LISTENING ".count).trimmingCharacters(in: .whitespaces))
            {
                return (process, port)
            }
            guard process.isRunning, ContinuousClock.now < deadline else {
                throw TestEnvironment.Missing(description: "\(script) did not start: \(text)")
            }
            try await Task.sleep(for: .milliseconds(50))  // polling a child's output file: no event to await
        }
    }

    /// An HTTP call with a JSON answer (`[:]` when the answer is not a JSON object).
    static func request(
        _ method: HTTPMethod, _ url: String, body: [UInt8]? = nil, headers: [(String, String)] = []
    ) async throws -> (status: Int, json: [String: Any], any: Any?) {
        var request = HTTPClientRequest(url: url)
        request.method = method
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        if let body { request.body = .bytes(ByteBuffer(bytes: body)) }
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(60))
        let bytes = try await response.body.collect(upTo: 64 << 20)
        let any = try? JSONSerialization.jsonObject(with: Data(buffer: bytes), options: [.fragmentsAllowed])
        return (Int(response.status.code), any as? [String: Any] ?? [:], any)
    }

    /// A control call to a fake: JSON in, JSON out; throws on a non-2xx answer.
    @discardableResult
    static func control(_ method: HTTPMethod, _ url: String, _ body: [String: Any]?) async throws -> Any {
        let answer = try await request(
            method, url, body: try body.map { Array(try JSONSerialization.data(withJSONObject: $0)) },
            headers: body == nil ? [] : [("Content-Type", "application/json")])
        guard (200..<300).contains(answer.status) else {
            throw TestEnvironment.Missing(description: "\(url) → \(answer.status): \(String(describing: answer.any))")
        }
        return answer.any ?? NSNull()
    }

    /// POSTs a webhook body to a node with its signature header, if any.
    static func deliver(_ path: String, _ body: [UInt8], header: (String, String)?, port: Int) async throws -> (Int, [String: Any]) {
        let answer = try await request(
            .POST, "http://127.0.0.1:\(port)\(path)", body: body,
            headers: [("Content-Type", "application/json")] + (header.map { [$0] } ?? []))
        return (answer.status, answer.json)
    }
}
