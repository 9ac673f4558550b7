/// An error from parsing a cron expression or an interval.
///
/// The message names the field and the text that is wrong, for example
/// `minute field '60': value 60 is out of range 0-59`, so you can show it to whoever wrote the schedule.
public struct CronParseError: Error, Sendable, CustomStringConvertible {
    /// What kind of mistake the text has.
    public struct Code: Sendable, Hashable, CustomStringConvertible {
        enum Base: String, Sendable {
            case wrongFieldCount, invalidValue, outOfRange, invalidRange, invalidStep, neverFires, invalidInterval
        }
        let base: Base
        /// The expression doesn't have 5 or 6 fields and isn't a known macro.
        public static let wrongFieldCount = Code(base: .wrongFieldCount)
        /// A value is neither a number nor a name the field accepts (or it's an unknown macro).
        public static let invalidValue = Code(base: .invalidValue)
        /// A number is outside the field's range, such as minute 60.
        public static let outOfRange = Code(base: .outOfRange)
        /// A range runs backwards, such as `10-5`.
        public static let invalidRange = Code(base: .invalidRange)
        /// A step is zero, not a number, or larger than the field's span.
        public static let invalidStep = Code(base: .invalidStep)
        /// The fields are valid one by one, but no date matches them all, such as February 31.
        public static let neverFires = Code(base: .neverFires)
        /// An interval isn't a duration such as `30s`, or is shorter than 1 s.
        public static let invalidInterval = Code(base: .invalidInterval)
        public var description: String { base.rawValue }
    }

    /// What kind of mistake the text has.
    public var code: Code
    /// What is wrong, naming the field and its text.
    public var message: String
    /// The error that caused this one, if any.
    public var underlying: (any Error)?
    /// The file that threw the error.
    public var file: String
    /// The line that threw the error.
    public var line: Int

    /// Creates an error.
    ///
    /// - Parameters:
    ///   - code: What kind of mistake the text has.
    ///   - message: What is wrong, naming the field and its text.
    ///   - underlying: The error that caused this one, if any.
    public init(
        _ code: Code, _ message: String, underlying: (any Error)? = nil, file: String = #fileID, line: Int = #line
    ) {
        self.code = code
        self.message = message
        self.underlying = underlying
        self.file = file
        self.line = line
    }

    /// The message (schedule text is configuration, not a secret, so it's safe to print).
    public var description: String { message }
}

extension CronExpression {
    /// Parses a cron expression.
    ///
    /// Leading and trailing whitespace is ignored, and fields are separated by spaces or tabs. See
    /// ``CronExpression`` for the syntax. Parsing also rejects expressions that can never fire: when
    /// day-of-week doesn't restrict the day (it starts with `*` or `?`), some selected day of the month must
    /// exist in some selected month, counting February as 29 days, so `* * 31 2 *` is an error.
    ///
    /// - Parameter source: The expression, such as `0 9 * * MON-FRI` or `@daily`.
    /// - Throws: ``CronParseError`` with code ``CronParseError/Code/wrongFieldCount``,
    ///   ``CronParseError/Code/invalidValue``, ``CronParseError/Code/outOfRange``,
    ///   ``CronParseError/Code/invalidRange``, ``CronParseError/Code/invalidStep`` or
    ///   ``CronParseError/Code/neverFires``. The message names the field, such as
    ///   `minute field '*/0': step must be at least 1`.
    public init(_ source: String) throws {
        var text = Substring(source)
        while let first = text.first, first == " " || first == "\t" { text = text.dropFirst() }
        while let last = text.last, last == " " || last == "\t" || last == "\n" || last == "\r" {
            text = text.dropLast()
        }

        if text.first == "@" {
            guard let expansion = Self.macros[text.lowercased()] else {
                throw CronParseError(
                    .invalidValue,
                    "unknown macro '\(text)': use @yearly, @annually, @monthly, @weekly, @daily, @midnight or @hourly")
            }
            text = Substring(expansion)
        }

        let fields = text.split(whereSeparator: { $0 == " " || $0 == "\t" })
        let secondsText: Substring?
        let rest: ArraySlice<Substring>
        switch fields.count {
        case 5:
            secondsText = nil
            rest = fields[...]
        case 6:
            secondsText = fields[0]
            rest = fields.dropFirst()
        default:
            throw CronParseError(
                .wrongFieldCount,
                "expected 5 fields (minute hour day-of-month month day-of-week) or 6 with a leading seconds field, "
                    + "got \(fields.count) in '\(source)'")
        }
        let f = Array(rest)

        seconds = try secondsText.map { try CronField.second.parse($0) } ?? 1
        minutes = try CronField.minute.parse(f[0])
        hours = try CronField.hour.parse(f[1])
        daysOfMonth = try CronField.dayOfMonth.parse(f[2])
        months = try CronField.month.parse(f[3])
        daysOfWeek = try CronField.dayOfWeek.parse(f[4])
        dayOfMonthIsStar = f[2].first == "*" || f[2].first == "?"
        dayOfWeekIsStar = f[4].first == "*" || f[4].first == "?"
        hasSecondsField = secondsText != nil
        self.source = source

        // With AND semantics the day-of-week can't rescue a day of the month that no selected month has.
        if dayOfMonthIsStar || dayOfWeekIsStar {
            let selectedMonths = (1...12).filter { months & (1 << $0) != 0 }
            let longestMonth: Int = selectedMonths.map { Self.maximumDays[$0] }.max() ?? 0
            let possibleDays: UInt64 = (1 << (longestMonth + 1)) - 2  // bits 1...longestMonth
            if daysOfMonth & possibleDays == 0 {
                let monthWord = selectedMonths.count == 1 ? "month" : "months"
                throw CronParseError(
                    .neverFires,
                    "day-of-month \(f[2]) never occurs in \(monthWord) "
                        + "\(selectedMonths.map(String.init).joined(separator: ",")): the expression never fires")
            }
        }
    }

    /// The macros and the five-field expressions they stand for.
    static let macros: [String: String] = [
        "@yearly": "0 0 1 1 *", "@annually": "0 0 1 1 *", "@monthly": "0 0 1 * *", "@weekly": "0 0 * * 0",
        "@daily": "0 0 * * *", "@midnight": "0 0 * * *", "@hourly": "0 * * * *",
    ]

    /// The most days each month can have (index 1–12), counting February as 29.
    static let maximumDays = [0, 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]
}

/// One field of a cron expression: its name in messages, its range and the names it accepts.
struct CronField: Sendable {
    /// The name used in error messages, such as `day-of-month`.
    let name: String
    /// The smallest value the field accepts.
    let minimum: Int
    /// The largest value the field accepts (7 for day-of-week, where 7 means Sunday).
    let maximum: Int
    /// The end of `*` and of `a/n` (6 for day-of-week).
    let starMaximum: Int
    /// Names the field accepts, upper-cased, with their values.
    let names: [String: Int]
    /// What the names are, for messages.
    let nameKind: String?
    /// Whether a lone `?` means `*`.
    let acceptsQuestionMark: Bool

    static let second = CronField(
        name: "second", minimum: 0, maximum: 59, starMaximum: 59, names: [:], nameKind: nil, acceptsQuestionMark: false)
    static let minute = CronField(
        name: "minute", minimum: 0, maximum: 59, starMaximum: 59, names: [:], nameKind: nil, acceptsQuestionMark: false)
    static let hour = CronField(
        name: "hour", minimum: 0, maximum: 23, starMaximum: 23, names: [:], nameKind: nil, acceptsQuestionMark: false)
    static let dayOfMonth = CronField(
        name: "day-of-month", minimum: 1, maximum: 31, starMaximum: 31, names: [:], nameKind: nil,
        acceptsQuestionMark: true)
    static let month = CronField(
        name: "month", minimum: 1, maximum: 12, starMaximum: 12,
        names: [
            "JAN": 1, "FEB": 2, "MAR": 3, "APR": 4, "MAY": 5, "JUN": 6,
            "JUL": 7, "AUG": 8, "SEP": 9, "OCT": 10, "NOV": 11, "DEC": 12,
        ],
        nameKind: "a month name (JAN-DEC)", acceptsQuestionMark: false)
    static let dayOfWeek = CronField(
        name: "day-of-week", minimum: 0, maximum: 7, starMaximum: 6,
        names: ["SUN": 0, "MON": 1, "TUE": 2, "WED": 3, "THU": 4, "FRI": 5, "SAT": 6],
        nameKind: "a day name (SUN-SAT)", acceptsQuestionMark: true)

    /// Parses the field's text into a bit set (bit n set when value n is selected; day-of-week 7 sets bit 0).
    func parse(_ text: Substring) throws -> UInt64 {
        if text == "?" {
            guard acceptsQuestionMark else {
                throw error(text, .invalidValue, "'?' is only allowed in the day-of-month and day-of-week fields")
            }
            return try parseItem("*", in: text)
        }
        var bits: UInt64 = 0
        for item in text.split(separator: ",", omittingEmptySubsequences: false) {
            bits |= try parseItem(item, in: text)
        }
        return bits
    }

    /// Parses one list item: `*`, `a`, `a-b`, each optionally followed by `/n`.
    private func parseItem(_ item: Substring, in text: Substring) throws -> UInt64 {
        guard !item.isEmpty else { throw error(text, .invalidValue, "empty list item") }
        guard !item.contains("?") else { throw error(text, .invalidValue, "'?' must be the whole field") }
        let parts = item.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false)
        let base = parts[0]
        var step: Int?
        if parts.count == 2 {
            let stepText = parts[1]
            guard !stepText.isEmpty, stepText.allSatisfy({ $0.isASCII && $0.isNumber }) else {
                throw error(text, .invalidStep, "step '\(stepText)' is not a number")
            }
            guard let n = Int(stepText), n <= starMaximum - minimum + 1 else {
                throw error(
                    text, .invalidStep, "step \(stepText) is larger than the field's span \(minimum)-\(starMaximum)")
            }
            guard n >= 1 else { throw error(text, .invalidStep, "step must be at least 1") }
            step = n
        }

        let low: Int
        let high: Int
        if base == "*" {
            (low, high) = (minimum, starMaximum)
        } else if let dash = base.firstIndex(of: "-") {
            let first = base[..<dash]
            let second = base[base.index(after: dash)...]
            guard !first.isEmpty, !second.isEmpty else {
                throw error(text, .invalidValue, "'\(base)' is not a value or a range a-b")
            }
            low = try value(first, in: text)
            high = try value(second, in: text)
            guard low <= high else { throw error(text, .invalidRange, "range \(base) runs backwards") }
        } else {
            low = try value(base, in: text)
            // `a/n` runs from a to the end of the field.
            high = step == nil ? low : max(low, starMaximum)
        }

        var bits: UInt64 = 0
        for v in stride(from: low, through: high, by: step ?? 1) {
            bits |= 1 << (v == 7 && maximum == 7 ? 0 : v)
        }
        return bits
    }

    /// Parses a number or a name and checks its range.
    private func value(_ token: Substring, in text: Substring) throws -> Int {
        if token.allSatisfy({ $0.isASCII && $0.isNumber }) {
            guard let v = Int(token), (minimum...maximum).contains(v) else {
                throw error(text, .outOfRange, "value \(token) is out of range \(minimum)-\(maximum)")
            }
            return v
        }
        if let v = names[token.uppercased()] { return v }
        let expected = nameKind.map { "a number or \($0)" } ?? "a number"
        throw error(text, .invalidValue, "'\(token)' is not \(expected)")
    }

    private func error(_ text: Substring, _ code: CronParseError.Code, _ detail: String) -> CronParseError {
        CronParseError(code, "\(name) field '\(text)': \(detail)")
    }
}
