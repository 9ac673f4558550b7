import Foundation

/// Converts between `Date` and ISO 8601 text with a UTC offset (`2026-03-08T03:00:00-04:00`) for cron
/// tests, using Foundation's calendar rather than the code under test.
enum CronTestTime {
    /// Parses `yyyy-MM-ddTHH:mm:ss[.fff](Z|±HH:MM)`.
    static func date(_ text: String) -> Date {
        let chars = Array(text)
        func number(_ range: Range<Int>) -> Int { Int(String(chars[range]))! }
        var components = DateComponents()
        components.year = number(0..<4)
        components.month = number(5..<7)
        components.day = number(8..<10)
        components.hour = number(11..<13)
        components.minute = number(14..<16)
        components.second = number(17..<19)
        var index = 19
        var fraction = 0.0
        if index < chars.count, chars[index] == "." {
            var end = index + 1
            while end < chars.count, chars[end].isNumber { end += 1 }
            fraction = Double("0" + String(chars[index..<end]))!
            index = end
        }
        var offset = 0
        if chars[index] != "Z" {
            let sign = chars[index] == "-" ? -1 : 1
            offset = sign * (number(index + 1..<index + 3) * 3600 + number(index + 4..<index + 6) * 60)
        }
        var utc = Calendar(identifier: .gregorian)
        utc.timeZone = TimeZone(identifier: "UTC")!
        let wall = utc.date(from: components)!
        return wall.addingTimeInterval(-Double(offset) + fraction)
    }

    /// Formats a date as local time in `timeZone` with its offset, such as `2026-11-01T01:30:00-04:00`.
    static func string(_ date: Date, in timeZone: TimeZone) -> String {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = timeZone
        let c = calendar.dateComponents([.year, .month, .day, .hour, .minute, .second], from: date)
        let offset = timeZone.secondsFromGMT(for: date)
        func two(_ n: Int) -> String { n < 10 ? "0\(n)" : "\(n)" }
        let sign = offset < 0 ? "-" : "+"
        let zone = "\(sign)\(two(abs(offset) / 3600)):\(two(abs(offset) % 3600 / 60))"
        return "\(c.year!)-\(two(c.month!))-\(two(c.day!))T\(two(c.hour!)):\(two(c.minute!)):\(two(c.second!))\(zone)"
    }

    /// A time zone that must exist.
    static func zone(_ identifier: String) -> TimeZone { TimeZone(identifier: identifier)! }
}
