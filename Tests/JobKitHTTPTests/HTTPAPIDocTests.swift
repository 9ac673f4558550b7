import Foundation
import HTTPTypes
import JobKit
import JobKitHTTP
import JobKitTestSupport
import Testing

/// Runs every request example of docs/http-api.md against a live server, in order, and checks the status, the
/// `X-Request-Id` header where shown, and that the response has exactly the field names of the example.
@Suite("docs/http-api.md")
struct HTTPAPIDocTests {
    struct Example {
        var method: HTTPRequest.Method
        var path: String
        var headers: [(String, String)]
        var body: String?
        var status: Int
        var responseHeaders: [(String, String)]
        var responseBody: String
    }

    static func docPath() -> String {
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { url.deleteLastPathComponent() }
        return url.appendingPathComponent("docs/http-api.md").path
    }

    /// The ```http blocks of the doc, paired request → response.
    static func examples() throws -> [Example] {
        let text = try String(contentsOfFile: docPath(), encoding: .utf8)
        var blocks: [String] = []
        var current: [String]?
        for line in text.components(separatedBy: "\n") {
            if current == nil, line == "```http" {
                current = []
            } else if current != nil, line == "```" {
                blocks.append(current!.joined(separator: "\n"))
                current = nil
            } else if current != nil {
                current!.append(line)
            }
        }
        func split(_ block: String) -> (String, [(String, String)], String) {
            let parts = block.components(separatedBy: "\n\n")
            let head = parts[0].components(separatedBy: "\n")
            let headers = head.dropFirst().compactMap { line -> (String, String)? in
                guard let colon = line.firstIndex(of: ":") else { return nil }
                return (String(line[..<colon]), line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces))
            }
            return (head[0], Array(headers), parts.dropFirst().joined(separator: "\n\n"))
        }
        var out: [Example] = []
        var i = 0
        while i + 1 < blocks.count {
            let (requestLine, headers, body) = split(blocks[i])
            let (statusLine, responseHeaders, responseBody) = split(blocks[i + 1])
            let request = requestLine.split(separator: " ")
            let status = statusLine.split(separator: " ")
            guard request.count == 2, status.count >= 2, status[0] == "HTTP/1.1", let code = Int(status[1]) else {
                throw TestEnvironment.Missing(description: "docs/http-api.md: http blocks must pair a request and a response near '\(requestLine)'")
            }
            out.append(
                Example(
                    method: HTTPRequest.Method(String(request[0]))!, path: String(request[1]), headers: headers,
                    body: body.isEmpty ? nil : body, status: code, responseHeaders: responseHeaders, responseBody: responseBody))
            i += 2
        }
        return out
    }

    /// Where `live` and `documented` differ in shape: object keys (recursively), arrays by their first elements
    /// (an empty array matches any), scalars by nothing; `nil` when they agree.
    static func difference(_ live: Any, _ documented: Any, at path: String = "$") -> String? {
        switch (live, documented) {
        case (let l as [String: Any], let d as [String: Any]):
            if Set(l.keys) != Set(d.keys) {
                return "\(path): keys \(l.keys.sorted()) vs documented \(d.keys.sorted())"
            }
            for key in d.keys.sorted() {
                if let diff = difference(l[key]!, d[key]!, at: "\(path).\(key)") { return diff }
            }
            return nil
        case (let l as [Any], let d as [Any]):
            guard let lf = l.first, let df = d.first else { return nil }
            return difference(lf, df, at: "\(path)[0]")
        case (is [String: Any], _), (_, is [String: Any]), (is [Any], _), (_, is [Any]):
            return "\(path): an object or array on one side only"
        default:
            return nil
        }
    }

    @Test("every example in docs/http-api.md matches the live server's status and field names")
    func examplesMatchServer() async throws {
        let examples = try Self.examples()
        #expect(examples.count >= 15)
        try await HTTPHarness.with(configure: { $0.apiKeys = try! APIKeySet(parsing: "ops:s3cr3t") }) { (h: HTTPHarness) async throws in
            let store = ScheduleStore(redis: h.queue.redis, namespace: h.namespace)
            _ = try await store.save(.cron("nightly-report", "0 3 * * *", job: "reports.build", queue: "reports"))
            var ids: [String: String] = [:]  // the doc's ids → this run's
            for example in examples {
                var path = example.path
                var body = example.body
                for (docID, liveID) in ids {
                    path = path.replacingOccurrences(of: docID, with: liveID)
                    body = body?.replacingOccurrences(of: docID, with: liveID)
                }
                var headers = HTTPFields()
                for (name, value) in example.headers { headers[HTTPField.Name(name)!] = value }
                let reply = try await h.request(example.method, path, body: body, headers: headers)
                let label = "\(example.method) \(example.path)"
                #expect(reply.status == example.status, "\(label): \(reply.body)")
                for (name, value) in example.responseHeaders {
                    #expect(reply.headers[HTTPField.Name(name)!] == value, "\(label): header \(name)")
                }
                let documented = try JSONSerialization.jsonObject(with: Data(example.responseBody.utf8), options: [.fragmentsAllowed])
                let live = try JSONSerialization.jsonObject(with: Data(reply.body.utf8), options: [.fragmentsAllowed])
                let difference = Self.difference(live, documented)
                #expect(difference == nil, "\(label): \(difference ?? "")")
                // Learn ids, so that later examples address this run's jobs.
                func learn(_ doc: Any, _ live: Any) {
                    if let d = doc as? [String: Any], let l = live as? [String: Any] {
                        if let di = d["id"] as? String, let li = l["id"] as? String { ids[di] = li }
                        if let dj = d["jobs"] as? [Any], let lj = l["jobs"] as? [Any] { for (a, b) in zip(dj, lj) { learn(a, b) } }
                    }
                }
                learn(documented, live)
            }
        }
    }
}
