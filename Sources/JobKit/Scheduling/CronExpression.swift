/// A cron schedule parsed from text, such as `*/15 9-17 * * MON-FRI`.
///
/// An expression has five fields, `minute hour day-of-month month day-of-week`, or six with a leading
/// seconds field, `second minute hour day-of-month month day-of-week`. Five-field expressions fire at
/// second 0. Each field accepts:
///
/// - `*` (every value), and `?` as a synonym for `*` in the day-of-month and day-of-week fields;
/// - a value, such as `5`; month names `JAN`–`DEC` and day names `SUN`–`SAT`, in any case;
/// - a range `a-b`, which must not run backwards;
/// - a step `*/n`, `a-b/n` or `a/n` (from `a` to the field's maximum), with `n` at least 1 and no larger
///   than the field's span;
/// - a list of the above, `a,b,c`.
///
/// Day-of-week runs 0–7, where 0 and 7 are both Sunday. The macros `@yearly` (`@annually`), `@monthly`,
/// `@weekly`, `@daily` (`@midnight`) and `@hourly` stand for `0 0 1 1 *`, `0 0 1 * *`, `0 0 * * 0`,
/// `0 0 * * *` and `0 * * * *`.
///
/// Day-of-month and day-of-week combine as in Vixie cron: when both fields are restricted (neither
/// starts with `*` or `?`), a day matches if *either* field matches, so `0 0 13 * FRI` fires on the 13th
/// and on every Friday. When either field starts with `*` or `?`, a day must match both, which for a
/// plain `*` means only the other field applies.
///
/// Create one with ``init(_:)``, and compute fire times in a time zone with
/// ``nextFireTime(after:in:skippedTimes:)`` or ``nextFireTimes(after:in:count:skippedTimes:)``.
/// Two expressions are equal when their source text is equal.
public struct CronExpression: Sendable, Hashable, CustomStringConvertible {
    /// The text the expression was parsed from, exactly as given.
    public let source: String

    // Each field is a bit set: bit n is set when value n is selected.
    /// Seconds 0–59 (only bit 0 for a five-field expression).
    let seconds: UInt64
    /// Minutes 0–59.
    let minutes: UInt64
    /// Hours 0–23.
    let hours: UInt64
    /// Days of the month 1–31.
    let daysOfMonth: UInt64
    /// Months 1–12.
    let months: UInt64
    /// Days of the week 0–6, Sunday = 0 (a 7 in the source is stored as 0).
    let daysOfWeek: UInt64
    /// The day-of-month field starts with `*` or `?` (Vixie cron's `DOM_STAR`).
    let dayOfMonthIsStar: Bool
    /// The day-of-week field starts with `*` or `?` (Vixie cron's `DOW_STAR`).
    let dayOfWeekIsStar: Bool

    /// Whether the expression has a leading seconds field (six fields).
    public let hasSecondsField: Bool

    /// The source text.
    public var description: String { source }

    public static func == (lhs: CronExpression, rhs: CronExpression) -> Bool { lhs.source == rhs.source }
    public func hash(into hasher: inout Hasher) { hasher.combine(source) }
}

extension CronExpression: Codable {
    /// Decodes an expression from its source text, parsing it.
    ///
    /// - Throws: `DecodingError.dataCorrupted` wrapping the ``CronParseError`` when the text is invalid.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        let text = try container.decode(String.self)
        do {
            self = try CronExpression(text)
        } catch {
            throw DecodingError.dataCorruptedError(
                in: container, debugDescription: "invalid cron expression: \(error)")
        }
    }

    /// Encodes the expression as its source text.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(source)
    }
}
