import Foundation

/// A schedule that fires every fixed interval, on a grid anchored at a point in time.
///
/// Fire times are `anchor + k × every` for whole numbers `k`, so they never drift: however late a tick
/// is handled, the next one is still on the grid. The anchor fixes the phase of the grid, not its start;
/// asking for the next fire time before the anchor returns a grid point before the anchor.
/// Interval triggers ignore time zones and daylight saving: `every: .seconds(86_400)` is 24 hours of
/// elapsed time, not "the same local time tomorrow" (use a ``CronExpression`` for that).
public struct IntervalTrigger: Sendable, Hashable {
    /// The time between fire times, at least 1 s.
    public let every: Duration
    /// A fire time that fixes the grid's phase.
    public let anchor: Date

    /// Creates a trigger that fires every `every`, on a grid through `anchor`.
    ///
    /// - Parameters:
    ///   - every: The time between fire times, at least 1 s.
    ///   - anchor: A point on the grid, such as when the schedule was created.
    /// - Throws: ``CronParseError`` with code ``CronParseError/Code/invalidInterval`` if `every` is shorter
    ///   than 1 s.
    public init(every: Duration, anchor: Date) throws {
        guard every >= .seconds(1) else {
            throw CronParseError(.invalidInterval, "interval \(every) is shorter than the minimum of 1 s")
        }
        self.every = every
        self.anchor = anchor
    }

    /// The first grid point strictly after a date: `anchor + k × every` for the smallest `k` with a result
    /// later than `date`.
    ///
    /// Each result is computed from the anchor, not from the previous result, so rounding never
    /// accumulates.
    ///
    /// - Parameter date: The instant to search after.
    /// - Returns: The next fire time, strictly later than `date`.
    public func nextFireTime(after date: Date) -> Date {
        let (wholeSeconds, attoseconds) = every.components
        let step = Double(wholeSeconds) + Double(attoseconds) * 1e-18
        var k = ((date.timeIntervalSince(anchor)) / step).rounded(.down) + 1
        // Floating-point division can land one step off either way; settle on the smallest k that works.
        while anchor.addingTimeInterval(k * step) <= date { k += 1 }
        while anchor.addingTimeInterval((k - 1) * step) > date { k -= 1 }
        return anchor.addingTimeInterval(k * step)
    }

    /// Parses an interval such as `30s`, `5m`, `2h`, `1d` or `1h30m`.
    ///
    /// The text is one or more whole numbers, each followed by a unit: `ms`, `s`, `m` (minutes), `h` or
    /// `d` (24 hours). Units are case-insensitive; surrounding whitespace is ignored.
    ///
    /// - Parameter text: The interval.
    /// - Returns: The total duration.
    /// - Throws: ``CronParseError`` with code ``CronParseError/Code/invalidInterval`` if the text isn't in
    ///   that form or adds up to less than 1 s (such as `500ms`).
    public static func parse(_ text: String) throws -> Duration {
        let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
        let invalid = CronParseError(
            .invalidInterval, "interval '\(text)' is not a duration such as 30s, 5m, 2h, 1d or 1h30m")
        var totalMilliseconds: Int64 = 0
        var rest = Substring(trimmed.lowercased())
        guard !rest.isEmpty else { throw invalid }
        while !rest.isEmpty {
            let digits = rest.prefix(while: { $0.isASCII && $0.isNumber })
            rest = rest.dropFirst(digits.count)
            let unit = rest.prefix(while: { $0.isASCII && $0.isLetter })
            rest = rest.dropFirst(unit.count)
            let millisecondsPerUnit: Int64
            switch unit {
            case "ms": millisecondsPerUnit = 1
            case "s": millisecondsPerUnit = 1000
            case "m": millisecondsPerUnit = 60_000
            case "h": millisecondsPerUnit = 3_600_000
            case "d": millisecondsPerUnit = 86_400_000
            default: throw invalid
            }
            guard !digits.isEmpty, let n = Int64(digits) else { throw invalid }
            let (part, overflow1) = n.multipliedReportingOverflow(by: millisecondsPerUnit)
            let (sum, overflow2) = totalMilliseconds.addingReportingOverflow(part)
            guard !overflow1, !overflow2 else {
                throw CronParseError(.invalidInterval, "interval '\(text)' is too long")
            }
            totalMilliseconds = sum
        }
        guard totalMilliseconds >= 1000 else {
            throw CronParseError(.invalidInterval, "interval '\(text)' is shorter than the minimum of 1 s")
        }
        return .milliseconds(totalMilliseconds)
    }
}
