import Foundation
import Logging

/// `--log-format text`: the line `StreamLogHandler` writes (`<time> <level> <label>: k=v … [<source>] <message>`),
/// with the metadata formatted when a line is written rather than each time a key is set — request and job
/// loggers set several keys per request or job, and most of those loggers never write a line.
struct TextLogHandler: LogHandler {
    let label: String
    var logLevel: Logger.Level = .info
    var metadata: Logger.Metadata = [:]

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        let merged = event.metadata.map { metadata.merging($0) { $1 } } ?? metadata
        let pretty = merged.isEmpty ? "" : " " + merged.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
        let line = "\(Self.timestamp()) \(event.level) \(label):\(pretty) [\(event.source)] \(event.message)\n"
        FileHandle.standardError.write(Data(line.utf8))
    }

    /// Local time, as `StreamLogHandler` prints it: `2026-12-07T00:29:23+0000`.
    static func timestamp() -> String {
        var now = time(nil)
        var t = tm()
        localtime_r(&now, &t)
        var buffer = [CChar](repeating: 0, count: 64)
        let n = strftime(&buffer, buffer.count, "%Y-%m-%dT%H:%M:%S%z", &t)
        return String(decoding: buffer[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
