import Foundation

/// How the dashboard writes numbers, durations and times.
enum DashboardFormat {
    /// `3s`, `4m 05s`, `2h 10m`, `3d 4h`.
    static func age(ms: Int64) -> String {
        let s = max(0, ms) / 1000
        if s < 60 { return "\(s)s" }
        if s < 3600 { return "\(s / 60)m \(String(format: "%02d", s % 60))s" }
        if s < 86_400 { return "\(s / 3600)h \(String(format: "%02d", (s % 3600) / 60))m" }
        return "\(s / 86_400)d \((s % 86_400) / 3600)h"
    }

    /// A duration in ms for tables: `0 ms`, `12 ms`, `1.5 s`, `2.0 min`.
    static func duration(ms: Int64?) -> String {
        guard let ms else { return "–" }
        if ms < 1000 { return "\(ms) ms" }
        if ms < 60_000 { return String(format: "%.1f s", Double(ms) / 1000) }
        return String(format: "%.1f min", Double(ms) / 60_000)
    }

    /// `12,345`.
    static func count(_ n: Int) -> String {
        let digits = String(abs(n))
        var out = ""
        for (i, c) in digits.enumerated() {
            if i > 0 && (digits.count - i) % 3 == 0 { out.append(",") }
            out.append(c)
        }
        return n < 0 ? "-" + out : out
    }

    /// `4.2 %`, or `–` with nothing finished.
    static func rate(_ part: Int, of whole: Int) -> String {
        guard whole > 0 else { return "–" }
        return String(format: "%.1f %%", Double(part) * 100 / Double(whole))
    }

    private static let timeFormatter: DateFormatter = {
        let f = DateFormatter()
        f.locale = Locale(identifier: "en_US_POSIX")
        f.timeZone = TimeZone(identifier: "UTC")
        f.dateFormat = "yyyy-MM-dd HH:mm:ss 'UTC'"
        return f
    }()
    private static let lock = NSLock()

    /// A Redis time in ms as UTC text.
    static func time(ms: Int64?) -> String {
        guard let ms, ms > 0 else { return "–" }
        return lock.withLock { timeFormatter.string(from: Date(timeIntervalSince1970: Double(ms) / 1000)) }
    }

    /// A job's payload pretty-printed, with the values of keys named like secrets replaced by `[redacted]`.
    static func payload(_ text: String) -> String {
        guard let data = text.data(using: .utf8), let value = try? JSONSerialization.jsonObject(with: data, options: [.fragmentsAllowed]) else {
            return text
        }
        let redacted = redact(value)
        guard let out = try? JSONSerialization.data(withJSONObject: redacted, options: [.prettyPrinted, .sortedKeys, .fragmentsAllowed, .withoutEscapingSlashes]) else {
            return text
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Key names whose values are never shown: tokens, secrets, passwords, keys.
    static func isSecret(_ key: String) -> Bool {
        let k = key.lowercased()
        return ["token", "secret", "password", "passwd", "key", "authorization", "cookie", "credential"].contains { k.contains($0) }
    }

    static func redact(_ value: Any) -> Any {
        if let dict = value as? [String: Any] {
            var out: [String: Any] = [:]
            for (k, v) in dict { out[k] = isSecret(k) ? "[redacted]" : redact(v) }
            return out
        }
        if let array = value as? [Any] { return array.map(redact) }
        return value
    }
}

/// Charts as inline SVG, drawn on the server (no script, no inline style: attributes only).
enum SVGChart {
    /// Bars of `values` (oldest first), failures stacked in red on top of successes.
    static func bars(done: [Int], failed: [Int], width: Int = 240, height: Int = 36, label: String) -> String {
        let n = max(done.count, 1)
        let maxValue = max(1, zip(done, failed).map { $0 + $1 }.max() ?? 1)
        let w = Double(width) / Double(n)
        var out = "<svg class=\"spark\" width=\"\(width)\" height=\"\(height)\" viewBox=\"0 0 \(width) \(height)\" role=\"img\" aria-label=\"\(escape(label))\">"
        out += "<line x1=\"0\" y1=\"\(height - 1)\" x2=\"\(width)\" y2=\"\(height - 1)\" stroke=\"#d0d5dd\" stroke-width=\"1\"/>"
        for i in 0..<done.count {
            let d = Double(done[i]) / Double(maxValue) * Double(height - 2)
            let f = Double(i < failed.count ? failed[i] : 0) / Double(maxValue) * Double(height - 2)
            let x = Double(i) * w
            if d > 0 {
                out += String(format: "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"#4f7df3\"/>", x + 0.5, Double(height - 1) - d, max(w - 1, 0.8), d)
            }
            if f > 0 {
                out += String(format: "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"#e5484d\"/>", x + 0.5, Double(height - 1) - d - f, max(w - 1, 0.8), f)
            }
        }
        return out + "</svg>"
    }

    static func escape(_ text: String) -> String {
        var out = ""
        for c in text {
            switch c {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            default: out.append(c)
            }
        }
        return out
    }
}
