import Foundation
import Testing

@testable import JobKit

/// One expected run of fire times: the expression, the zone, the instant to search after, and the fire
/// times that follow it (as local time with offset).
struct FireCase: Sendable, CustomTestStringConvertible {
    var expression: String
    var zone = "UTC"
    var after: String
    var policy = CronExpression.DSTGapPolicy.fireAfterGap
    var expected: [String]

    var testDescription: String {
        "'\(expression)' in \(zone) after \(after)\(policy == .skip ? " (skip)" : "")"
    }

    /// The expression's fire times, formatted like `expected`.
    func actual() throws -> [String] {
        let cron = try CronExpression(expression)
        let timeZone = CronTestTime.zone(zone)
        return cron.nextFireTimes(
            after: CronTestTime.date(after), in: timeZone, count: expected.count, skippedTimes: policy
        ).map { CronTestTime.string($0, in: timeZone) }
    }
}

@Suite("Cron expressions")
struct CronExpressionTests {
    // MARK: - Field forms

    static let fieldForms: [FireCase] = [
        FireCase(
            expression: "* * * * *", after: "2026-01-01T00:00:30Z",
            expected: ["2026-01-01T00:01:00+00:00", "2026-01-01T00:02:00+00:00", "2026-01-01T00:03:00+00:00"]),
        FireCase(
            expression: "5 * * * *", after: "2026-01-01T00:00:00Z",
            expected: ["2026-01-01T00:05:00+00:00", "2026-01-01T01:05:00+00:00", "2026-01-01T02:05:00+00:00"]),
        FireCase(
            expression: "*/20 * * * *", after: "2026-01-01T00:00:00Z",
            expected: [
                "2026-01-01T00:20:00+00:00", "2026-01-01T00:40:00+00:00", "2026-01-01T01:00:00+00:00",
                "2026-01-01T01:20:00+00:00",
            ]),
        FireCase(
            expression: "10/20 * * * *", after: "2026-01-01T00:00:00Z",
            expected: [
                "2026-01-01T00:10:00+00:00", "2026-01-01T00:30:00+00:00", "2026-01-01T00:50:00+00:00",
                "2026-01-01T01:10:00+00:00",
            ]),
        FireCase(
            expression: "0-10/5 * * * *", after: "2026-01-01T00:00:00Z",
            expected: [
                "2026-01-01T00:05:00+00:00", "2026-01-01T00:10:00+00:00", "2026-01-01T01:00:00+00:00",
                "2026-01-01T01:05:00+00:00",
            ]),
        FireCase(
            expression: "1,2,30-31 * * * *", after: "2026-01-01T00:00:00Z",
            expected: [
                "2026-01-01T00:01:00+00:00", "2026-01-01T00:02:00+00:00", "2026-01-01T00:30:00+00:00",
                "2026-01-01T00:31:00+00:00", "2026-01-01T01:01:00+00:00",
            ]),
        FireCase(
            expression: "0 9-17/4 * * *", after: "2026-01-01T00:00:00Z",
            expected: [
                "2026-01-01T09:00:00+00:00", "2026-01-01T13:00:00+00:00", "2026-01-01T17:00:00+00:00",
                "2026-01-02T09:00:00+00:00",
            ]),
        FireCase(
            expression: "0 0 1 */3 *", after: "2026-01-15T00:00:00Z",
            expected: ["2026-04-01T00:00:00+00:00", "2026-07-01T00:00:00+00:00", "2026-10-01T00:00:00+00:00"]),
        FireCase(
            expression: "0 0 1 JAN,jul *", after: "2026-01-15T00:00:00Z",
            expected: ["2026-07-01T00:00:00+00:00", "2027-01-01T00:00:00+00:00", "2027-07-01T00:00:00+00:00"]),
        FireCase(
            expression: "0 0 1 Feb-Apr *", after: "2026-01-15T00:00:00Z",
            expected: [
                "2026-02-01T00:00:00+00:00", "2026-03-01T00:00:00+00:00", "2026-04-01T00:00:00+00:00",
                "2027-02-01T00:00:00+00:00",
            ]),
        FireCase(
            expression: "0 12 * * MON-FRI", after: "2026-01-01T00:00:00Z",
            expected: [
                "2026-01-01T12:00:00+00:00", "2026-01-02T12:00:00+00:00", "2026-01-05T12:00:00+00:00",
                "2026-01-06T12:00:00+00:00",
            ]),
        FireCase(
            expression: "0 12 * * sat", after: "2026-01-01T00:00:00Z",
            expected: ["2026-01-03T12:00:00+00:00", "2026-01-10T12:00:00+00:00"]),
        FireCase(
            expression: "0 12 * * 7", after: "2026-01-01T00:00:00Z",
            expected: ["2026-01-04T12:00:00+00:00", "2026-01-11T12:00:00+00:00"]),
        FireCase(
            expression: "0 12 * * 0", after: "2026-01-01T00:00:00Z",
            expected: ["2026-01-04T12:00:00+00:00", "2026-01-11T12:00:00+00:00"]),
        FireCase(
            expression: "0 12 * * 5-7", after: "2026-01-01T00:00:00Z",
            expected: [
                "2026-01-02T12:00:00+00:00", "2026-01-03T12:00:00+00:00", "2026-01-04T12:00:00+00:00",
                "2026-01-09T12:00:00+00:00",
            ]),
        FireCase(
            expression: "0 12 * * 1/2", after: "2026-01-01T00:00:00Z",
            expected: [
                "2026-01-02T12:00:00+00:00", "2026-01-05T12:00:00+00:00", "2026-01-07T12:00:00+00:00",
                "2026-01-09T12:00:00+00:00",
            ]),
        FireCase(
            expression: "0 12 ? * WED", after: "2026-01-01T00:00:00Z",
            expected: ["2026-01-07T12:00:00+00:00", "2026-01-14T12:00:00+00:00"]),
        FireCase(
            expression: "0 12 15 * ?", after: "2026-01-01T00:00:00Z",
            expected: ["2026-01-15T12:00:00+00:00", "2026-02-15T12:00:00+00:00"]),
        FireCase(
            expression: "\t0  12\t15 * *  ", after: "2026-01-01T00:00:00Z",
            expected: ["2026-01-15T12:00:00+00:00", "2026-02-15T12:00:00+00:00"]),
        FireCase(
            expression: "0 9 * * *", zone: "Asia/Kolkata", after: "2026-03-01T00:00:00Z",
            expected: ["2026-03-01T09:00:00+05:30", "2026-03-02T09:00:00+05:30"]),
    ]

    @Test("each field form selects the values it names", arguments: fieldForms)
    func fieldForm(_ c: FireCase) throws {
        #expect(try c.actual() == c.expected)
    }

    // MARK: - Invalid expressions

    static let invalid: [(String, CronParseError.Code, String)] = [
        ("*/0 * * * *", .invalidStep, "minute field '*/0': step must be at least 1"),
        ("60 * * * *", .outOfRange, "minute field '60': value 60 is out of range 0-59"),
        ("5,60 * * * *", .outOfRange, "minute field '5,60': value 60 is out of range 0-59"),
        ("* 24 * * *", .outOfRange, "hour field '24': value 24 is out of range 0-23"),
        ("* * 0 * *", .outOfRange, "day-of-month field '0': value 0 is out of range 1-31"),
        ("* * * 13 *", .outOfRange, "month field '13': value 13 is out of range 1-12"),
        ("* * * * 8", .outOfRange, "day-of-week field '8': value 8 is out of range 0-7"),
        ("60 * * * * *", .outOfRange, "second field '60': value 60 is out of range 0-59"),
        (
            "99999999999999999999 * * * *", .outOfRange,
            "minute field '99999999999999999999': value 99999999999999999999 is out of range 0-59"
        ),
        ("*/61 * * * *", .invalidStep, "minute field '*/61': step 61 is larger than the field's span 0-59"),
        ("5/x * * * *", .invalidStep, "minute field '5/x': step 'x' is not a number"),
        ("5/ * * * *", .invalidStep, "minute field '5/': step '' is not a number"),
        ("10-5 * * * *", .invalidRange, "minute field '10-5': range 10-5 runs backwards"),
        ("* * * * SAT-SUN", .invalidRange, "day-of-week field 'SAT-SUN': range SAT-SUN runs backwards"),
        ("* * * FOO *", .invalidValue, "month field 'FOO': 'FOO' is not a number or a month name (JAN-DEC)"),
        (
            "* * * * FUNDAY", .invalidValue,
            "day-of-week field 'FUNDAY': 'FUNDAY' is not a number or a day name (SUN-SAT)"
        ),
        ("* * * MON *", .invalidValue, "month field 'MON': 'MON' is not a number or a month name (JAN-DEC)"),
        ("MON * * * *", .invalidValue, "minute field 'MON': 'MON' is not a number"),
        ("* * 5L * *", .invalidValue, "day-of-month field '5L': '5L' is not a number"),
        ("-5 * * * *", .invalidValue, "minute field '-5': '-5' is not a value or a range a-b"),
        ("1,,2 * * * *", .invalidValue, "minute field '1,,2': empty list item"),
        (
            "? * * * *", .invalidValue,
            "minute field '?': '?' is only allowed in the day-of-month and day-of-week fields"
        ),
        ("* * ?/2 * *", .invalidValue, "day-of-month field '?/2': '?' must be the whole field"),
        (
            "@reboot", .invalidValue,
            "unknown macro '@reboot': use @yearly, @annually, @monthly, @weekly, @daily, @midnight or @hourly"
        ),
        ("* * 31 2 *", .neverFires, "day-of-month 31 never occurs in month 2: the expression never fires"),
        ("* * 30,31 FEB *", .neverFires, "day-of-month 30,31 never occurs in month 2: the expression never fires"),
        (
            "* * 31 4,6,9,11 *", .neverFires,
            "day-of-month 31 never occurs in months 4,6,9,11: the expression never fires"
        ),
        ("0 0 30 2 */2", .neverFires, "day-of-month 30 never occurs in month 2: the expression never fires"),
        (
            "", .wrongFieldCount,
            "expected 5 fields (minute hour day-of-month month day-of-week) or 6 with a leading seconds field, got 0 in ''"
        ),
        (
            "* * * *", .wrongFieldCount,
            "expected 5 fields (minute hour day-of-month month day-of-week) or 6 with a leading seconds field, "
                + "got 4 in '* * * *'"
        ),
        (
            "* * * * * * *", .wrongFieldCount,
            "expected 5 fields (minute hour day-of-month month day-of-week) or 6 with a leading seconds field, "
                + "got 7 in '* * * * * * *'"
        ),
    ]

    @Test("an invalid expression is rejected with a message naming the bad field", arguments: invalid)
    func rejects(_ text: String, _ code: CronParseError.Code, _ message: String) {
        #expect {
            _ = try CronExpression(text)
        } throws: { error in
            guard let error = error as? CronParseError else { return false }
            return error.code == code && error.message == message && error.description == message
        }
    }

    @Test(
        "February 29, or the 31st with day-of-week restricted, parses because it can fire",
        arguments: ["* * 29 2 *", "0 0 31 2 MON", "* * 30,31 2,4 *", "0 0 31 */2 *"])
    func possibleDays(_ text: String) throws {
        _ = try CronExpression(text)
    }

    // MARK: - Calendar edges

    static let calendarEdges: [FireCase] = [
        // Leap years, including 2100, which isn't one (8 years without a February 29).
        FireCase(
            expression: "0 0 29 2 *", after: "2025-01-01T00:00:00Z",
            expected: ["2028-02-29T00:00:00+00:00", "2032-02-29T00:00:00+00:00"]),
        FireCase(
            expression: "0 0 29 2 *", after: "2096-03-01T00:00:00Z",
            expected: ["2104-02-29T00:00:00+00:00", "2108-02-29T00:00:00+00:00"]),
        // The 31st skips months with 30 days (and February).
        FireCase(
            expression: "0 0 31 * *", after: "2026-01-01T00:00:00Z",
            expected: [
                "2026-01-31T00:00:00+00:00", "2026-03-31T00:00:00+00:00", "2026-05-31T00:00:00+00:00",
                "2026-07-31T00:00:00+00:00", "2026-08-31T00:00:00+00:00", "2026-10-31T00:00:00+00:00",
                "2026-12-31T00:00:00+00:00", "2027-01-31T00:00:00+00:00",
            ]),
        // Both day fields restricted: the 13th OR a Friday (13 April 2026 is a Monday).
        FireCase(
            expression: "0 0 13 * FRI", after: "2026-04-01T00:00:00Z",
            expected: [
                "2026-04-03T00:00:00+00:00", "2026-04-10T00:00:00+00:00", "2026-04-13T00:00:00+00:00",
                "2026-04-17T00:00:00+00:00", "2026-04-24T00:00:00+00:00", "2026-05-01T00:00:00+00:00",
            ]),
        // A field starting with `*` makes it AND: odd days that are Fridays.
        FireCase(
            expression: "0 0 */2 * FRI", after: "2026-02-01T00:00:00Z",
            expected: ["2026-02-13T00:00:00+00:00", "2026-02-27T00:00:00+00:00", "2026-03-13T00:00:00+00:00"]),
        // …and the first Sunday of each month (`*/7` is Sunday only). 1 Feb 2026 is excluded: not strictly after.
        FireCase(
            expression: "0 0 1-7 * */7", after: "2026-02-01T00:00:00Z",
            expected: ["2026-03-01T00:00:00+00:00", "2026-04-05T00:00:00+00:00", "2026-05-03T00:00:00+00:00"]),
        // A year boundary.
        FireCase(
            expression: "59 23 31 12 *", after: "2026-12-31T23:59:00Z",
            expected: ["2027-12-31T23:59:00+00:00"]),
    ]

    @Test("leap years, month ends and day-of-month/day-of-week combinations", arguments: calendarEdges)
    func calendarEdge(_ c: FireCase) throws {
        #expect(try c.actual() == c.expected)
    }

    // MARK: - Seconds field, macros, strictness

    static let secondsField: [FireCase] = [
        FireCase(
            expression: "*/15 * * * * *", after: "2026-01-01T00:00:00Z",
            expected: [
                "2026-01-01T00:00:15+00:00", "2026-01-01T00:00:30+00:00", "2026-01-01T00:00:45+00:00",
                "2026-01-01T00:01:00+00:00",
            ]),
        FireCase(
            expression: "5,10 * * * * *", after: "2026-01-01T00:00:00Z",
            expected: ["2026-01-01T00:00:05+00:00", "2026-01-01T00:00:10+00:00", "2026-01-01T00:01:05+00:00"]),
        FireCase(
            expression: "30 0 12 * * *", after: "2026-01-01T00:00:00Z",
            expected: ["2026-01-01T12:00:30+00:00", "2026-01-02T12:00:30+00:00"]),
        FireCase(
            expression: "0 0 12 * * MON", after: "2026-01-01T00:00:00Z",
            expected: ["2026-01-05T12:00:00+00:00", "2026-01-12T12:00:00+00:00"]),
        // Sub-second and exact starts: the result is a whole second strictly later.
        FireCase(
            expression: "* * * * * *", after: "2026-01-01T12:00:00.500Z",
            expected: ["2026-01-01T12:00:01+00:00", "2026-01-01T12:00:02+00:00"]),
        FireCase(
            expression: "* * * * * *", after: "2026-01-01T12:00:00Z",
            expected: ["2026-01-01T12:00:01+00:00"]),
        FireCase(
            expression: "0 12 * * *", after: "2026-01-01T12:00:00Z",
            expected: ["2026-01-02T12:00:00+00:00"]),
        FireCase(
            expression: "0 12 * * *", after: "2026-01-01T11:59:59.999Z",
            expected: ["2026-01-01T12:00:00+00:00"]),
    ]

    @Test("a leading seconds field, and results strictly after the start", arguments: secondsField)
    func seconds(_ c: FireCase) throws {
        #expect(try c.actual() == c.expected)
    }

    @Test(
        "a macro fires like the expression it stands for",
        arguments: [
            ("@yearly", "0 0 1 1 *"), ("@annually", "0 0 1 1 *"), ("@monthly", "0 0 1 * *"),
            ("@weekly", "0 0 * * 0"), ("@daily", "0 0 * * *"), ("@midnight", "0 0 * * *"),
            ("@hourly", "0 * * * *"), ("@DAILY", "0 0 * * *"), ("  @hourly ", "0 * * * *"),
        ])
    func macro(_ macro: String, _ expansion: String) throws {
        let zone = CronTestTime.zone("Europe/London")
        let start = CronTestTime.date("2026-03-15T10:20:30Z")
        let a = try CronExpression(macro)
        let b = try CronExpression(expansion)
        #expect(a.nextFireTimes(after: start, in: zone, count: 5) == b.nextFireTimes(after: start, in: zone, count: 5))
        #expect(a.source == macro && a.description == macro)
    }

    @Test("the source text, equality and Codable round trip")
    func sourceAndCodable() throws {
        let cron = try CronExpression("0 9 * * MON-FRI")
        #expect(cron.source == "0 9 * * MON-FRI")
        #expect(!cron.hasSecondsField)
        #expect(try CronExpression("0 0 9 * * MON-FRI").hasSecondsField)
        #expect(cron == (try CronExpression("0 9 * * MON-FRI")))
        #expect(cron != (try CronExpression("0 9 * * 1-5")))
        let data = try JSONEncoder().encode([cron])
        #expect(String(decoding: data, as: UTF8.self) == #"["0 9 * * MON-FRI"]"#)
        #expect(try JSONDecoder().decode([CronExpression].self, from: data) == [cron])
        #expect(throws: DecodingError.self) {
            try JSONDecoder().decode([CronExpression].self, from: Data(#"["61 * * * *"]"#.utf8))
        }
    }

    @Test("a count of zero returns nothing, and an unrepresentable start returns nothing")
    func emptyResults() throws {
        let cron = try CronExpression("* * * * *")
        let utc = CronTestTime.zone("UTC")
        #expect(cron.nextFireTimes(after: Date(), in: utc, count: 0).isEmpty)
        #expect(cron.nextFireTime(after: Date(timeIntervalSince1970: .nan), in: utc) == nil)
        #expect(cron.nextFireTime(after: Date(timeIntervalSince1970: 1e15), in: utc) == nil)
    }

    // MARK: - Daylight saving

    static let daylightSaving: [FireCase] = [
        // New York springs forward on 8 March 2026: 02:00 EST becomes 03:00 EDT.
        FireCase(
            expression: "30 2 * * *", zone: "America/New_York", after: "2026-03-07T12:00:00-05:00",
            expected: ["2026-03-08T03:00:00-04:00", "2026-03-09T02:30:00-04:00", "2026-03-10T02:30:00-04:00"]),
        FireCase(
            expression: "30 2 * * *", zone: "America/New_York", after: "2026-03-07T12:00:00-05:00",
            policy: .skip, expected: ["2026-03-09T02:30:00-04:00", "2026-03-10T02:30:00-04:00"]),
        FireCase(
            expression: "0 2 * * *", zone: "America/New_York", after: "2026-03-07T12:00:00-05:00",
            expected: ["2026-03-08T03:00:00-04:00", "2026-03-09T02:00:00-04:00"]),
        FireCase(
            expression: "0 3 * * *", zone: "America/New_York", after: "2026-03-07T12:00:00-05:00",
            expected: ["2026-03-08T03:00:00-04:00", "2026-03-09T03:00:00-04:00"]),
        // Several matches in the gap fire once, when it ends.
        FireCase(
            expression: "15,45 * * * *", zone: "America/New_York", after: "2026-03-08T01:00:00-05:00",
            expected: [
                "2026-03-08T01:15:00-05:00", "2026-03-08T01:45:00-05:00", "2026-03-08T03:00:00-04:00",
                "2026-03-08T03:15:00-04:00", "2026-03-08T03:45:00-04:00",
            ]),
        FireCase(
            expression: "15,45 * * * *", zone: "America/New_York", after: "2026-03-08T01:00:00-05:00",
            policy: .skip,
            expected: [
                "2026-03-08T01:15:00-05:00", "2026-03-08T01:45:00-05:00", "2026-03-08T03:15:00-04:00",
                "2026-03-08T03:45:00-04:00",
            ]),
        // The spring-forward day every year (second Sunday of March): with .skip it never fires.
        FireCase(
            expression: "30 2 8-14 3 */7", zone: "America/New_York", after: "2026-01-01T00:00:00-05:00",
            expected: ["2026-03-08T03:00:00-04:00", "2027-03-14T03:00:00-04:00"]),
        FireCase(
            expression: "30 2 8-14 3 */7", zone: "America/New_York", after: "2026-01-01T00:00:00-05:00",
            policy: .skip, expected: []),
        // New York falls back on 1 November 2026: 02:00 EDT becomes 01:00 EST. 01:30 fires once.
        FireCase(
            expression: "30 1 * * *", zone: "America/New_York", after: "2026-10-31T12:00:00-04:00",
            expected: ["2026-11-01T01:30:00-04:00", "2026-11-02T01:30:00-05:00"]),
        FireCase(
            expression: "30 1 * * *", zone: "America/New_York", after: "2026-11-01T01:40:00-04:00",
            expected: ["2026-11-02T01:30:00-05:00"]),
        FireCase(
            expression: "30 1 * * *", zone: "America/New_York", after: "2026-11-01T01:10:00-05:00",
            expected: ["2026-11-02T01:30:00-05:00"]),
        FireCase(
            expression: "*/30 * * * *", zone: "America/New_York", after: "2026-11-01T00:45:00-04:00",
            expected: [
                "2026-11-01T01:00:00-04:00", "2026-11-01T01:30:00-04:00", "2026-11-01T02:00:00-05:00",
                "2026-11-01T02:30:00-05:00",
            ]),
        // London: 29 March 2026 01:00 GMT → 02:00 BST; 25 October 2026 02:00 BST → 01:00 GMT.
        FireCase(
            expression: "30 1 * * *", zone: "Europe/London", after: "2026-03-28T12:00:00+00:00",
            expected: ["2026-03-29T02:00:00+01:00", "2026-03-30T01:30:00+01:00"]),
        FireCase(
            expression: "30 1 * * *", zone: "Europe/London", after: "2026-03-28T12:00:00+00:00", policy: .skip,
            expected: ["2026-03-30T01:30:00+01:00"]),
        FireCase(
            expression: "30 1 * * *", zone: "Europe/London", after: "2026-10-24T12:00:00+01:00",
            expected: ["2026-10-25T01:30:00+01:00", "2026-10-26T01:30:00+00:00"]),
        // Lord Howe shifts by 30 minutes: 4 October 2026 02:00 (+10:30) → 02:30 (+11:00).
        FireCase(
            expression: "15 2 * * *", zone: "Australia/Lord_Howe", after: "2026-10-03T12:00:00+10:30",
            expected: ["2026-10-04T02:30:00+11:00", "2026-10-05T02:15:00+11:00"]),
        FireCase(
            expression: "15 2 * * *", zone: "Australia/Lord_Howe", after: "2026-10-03T12:00:00+10:30",
            policy: .skip, expected: ["2026-10-05T02:15:00+11:00"]),
        FireCase(
            expression: "*/15 * * * *", zone: "Australia/Lord_Howe", after: "2026-10-04T01:40:00+10:30",
            expected: [
                "2026-10-04T01:45:00+10:30", "2026-10-04T02:30:00+11:00", "2026-10-04T02:45:00+11:00",
                "2026-10-04T03:00:00+11:00",
            ]),
        // …and 5 April 2026 02:00 (+11:00) → 01:30 (+10:30): 01:30–01:59 happens twice and fires once.
        FireCase(
            expression: "45 1 * * *", zone: "Australia/Lord_Howe", after: "2026-04-04T12:00:00+11:00",
            expected: ["2026-04-05T01:45:00+11:00", "2026-04-06T01:45:00+10:30"]),
        FireCase(
            expression: "*/15 * * * *", zone: "Australia/Lord_Howe", after: "2026-04-05T01:20:00+11:00",
            expected: [
                "2026-04-05T01:30:00+11:00", "2026-04-05T01:45:00+11:00", "2026-04-05T02:00:00+10:30",
                "2026-04-05T02:15:00+10:30",
            ]),
    ]

    @Test(
        "a skipped local time fires once after the gap (or not, with .skip); a repeated one fires once",
        arguments: daylightSaving)
    func daylightSavingTransition(_ c: FireCase) throws {
        #expect(try c.actual() == c.expected)
    }

    @Test("in every known time zone, quarter-hourly fire times stay on the quarter hour across transitions")
    func everyZone() throws {
        let cron = try CronExpression("*/15 * * * *")
        var calendar = Calendar(identifier: .gregorian)
        var checkedTransitions = 0
        for identifier in TimeZone.knownTimeZoneIdentifiers {
            let zone = try #require(TimeZone(identifier: identifier))
            calendar.timeZone = zone
            var cursor = CronTestTime.date("2026-01-01T00:00:00Z")
            for _ in 0..<2 {
                guard let transition = zone.nextDaylightSavingTimeTransition(after: cursor) else { break }
                cursor = transition
                checkedTransitions += 1
                let start = transition.addingTimeInterval(-3 * 3600 - 7)
                let times = cron.nextFireTimes(after: start, in: zone, count: 30)
                #expect(times.count == 30, "\(identifier)")
                var previousWall: DateComponents?
                var previous = start
                for time in times {
                    let wall = calendar.dateComponents([.year, .month, .day, .hour, .minute, .second], from: time)
                    let isGapEnd =
                        zone.secondsFromGMT(for: time.addingTimeInterval(-1)) < zone.secondsFromGMT(for: time)
                    // On the quarter hour, or the end of a spring-forward gap.
                    #expect(
                        (wall.minute! % 15 == 0 && wall.second == 0) || isGapEnd,
                        "\(identifier): \(CronTestTime.string(time, in: zone))")
                    // Increasing in real time and in local time (a repeated local time fires once).
                    #expect(time > previous, "\(identifier)")
                    if let p = previousWall {
                        #expect(
                            [p.year!, p.month!, p.day!, p.hour!, p.minute!, p.second!].lexicographicallyPrecedes(
                                [wall.year!, wall.month!, wall.day!, wall.hour!, wall.minute!, wall.second!]),
                            "\(identifier): \(CronTestTime.string(time, in: zone)) repeats or goes back")
                    }
                    // Never more than 15 min apart, plus at most the transition's shift (3 h covers them all).
                    #expect(time.timeIntervalSince(previous) <= 3 * 3600, "\(identifier)")
                    previous = time
                    previousWall = wall
                }
            }
        }
        #expect(checkedTransitions > 100)
    }

    // MARK: - Internals and speed

    @Test("civil-date conversion agrees with Foundation's Gregorian calendar from 1600 to 2400")
    func civilDates() {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = CronTestTime.zone("UTC")
        for days in stride(from: -135_000, through: 157_000, by: 997) {
            let civil = CivilDate(days: days)
            let c = calendar.dateComponents(
                [.year, .month, .day, .weekday], from: Date(timeIntervalSince1970: Double(days) * 86_400))
            #expect(civil == CivilDate(year: c.year!, month: c.month!, day: c.day!))
            #expect(civil.daysSince1970 == days)
            #expect(civil.weekday == c.weekday! - 1)
        }
    }

    @Test(
        "100 fire times take well under 50 ms",
        arguments: [
            ("* * * * * *", "UTC"), ("*/15 * * * *", "America/New_York"), ("0 0 29 2 *", "UTC"),
            ("0 0 13 * FRI", "Australia/Lord_Howe"), ("15,45 1-3 * * *", "Europe/London"),
            ("0 0 1-7 * */7", "Asia/Kolkata"),
        ])
    func speed(_ expression: String, _ zone: String) throws {
        let cron = try CronExpression(expression)
        let timeZone = CronTestTime.zone(zone)
        let start = CronTestTime.date("2026-01-01T00:00:00Z")
        _ = cron.nextFireTimes(after: start, in: timeZone, count: 1)  // warm up the zone's data
        var times: [Date] = []
        let elapsed = ContinuousClock().measure {
            times = cron.nextFireTimes(after: start, in: timeZone, count: 100)
        }
        #expect(times.count == 100)
        #expect(zip(times, times.dropFirst()).allSatisfy { $0 < $1 })
        #expect(elapsed < .milliseconds(50))
    }
}

// MARK: - Interval triggers

extension CronExpressionTests {
    @Suite("Interval triggers")
    struct IntervalTriggerTests {
        @Test("the next fire time is the next point on the anchor's grid")
        func grid() throws {
            let anchor = CronTestTime.date("2026-01-01T00:00:00Z")
            let trigger = try IntervalTrigger(every: .seconds(3600), anchor: anchor)
            #expect(trigger.nextFireTime(after: anchor) == anchor.addingTimeInterval(3600))
            #expect(trigger.nextFireTime(after: anchor.addingTimeInterval(3599.9)) == anchor.addingTimeInterval(3600))
            #expect(trigger.nextFireTime(after: anchor.addingTimeInterval(3600)) == anchor.addingTimeInterval(7200))
            // Before the anchor the grid continues backwards.
            #expect(trigger.nextFireTime(after: anchor.addingTimeInterval(-5400)) == anchor.addingTimeInterval(-3600))
        }

        @Test("ticks never drift, however far from the anchor or however late they're handled")
        func noDrift() throws {
            let anchor = CronTestTime.date("2026-01-01T00:00:00Z")
            let trigger = try IntervalTrigger(every: .milliseconds(1500), anchor: anchor)
            // A million ticks later, still exactly on the grid.
            let far = anchor.addingTimeInterval(1_000_000 * 1.5 + 0.25)
            #expect(trigger.nextFireTime(after: far) == anchor.addingTimeInterval(1_000_001 * 1.5))
            // Chaining from late handling times lands on the grid, not on "late + interval".
            var tick = anchor
            for _ in 0..<1000 {
                tick = trigger.nextFireTime(after: tick.addingTimeInterval(0.7))
            }
            let k = tick.timeIntervalSince(anchor) / 1.5
            #expect(k == k.rounded())
            #expect(tick == anchor.addingTimeInterval(k * 1.5))
        }

        @Test("an interval shorter than 1 s is rejected")
        func minimum() {
            #expect(throws: CronParseError.self) {
                try IntervalTrigger(every: .milliseconds(999), anchor: Date())
            }
        }

        @Test(
            "interval text parses to a duration",
            arguments: [
                ("30s", Duration.seconds(30)), ("5m", .seconds(300)), ("2h", .seconds(7200)),
                ("1d", .seconds(86_400)), ("1h30m", .seconds(5400)), ("1500ms", .milliseconds(1500)),
                (" 10S ", .seconds(10)), ("1s", .seconds(1)),
            ])
        func parse(_ text: String, _ expected: Duration) throws {
            #expect(try IntervalTrigger.parse(text) == expected)
        }

        @Test(
            "invalid or too-short interval text is rejected",
            arguments: [
                "500ms", "0s", "999ms", "", "5", "m", "5x", "-5s", "5 m", "1.5s", "s5", "99999999999999999999d",
            ])
        func rejects(_ text: String) {
            #expect {
                _ = try IntervalTrigger.parse(text)
            } throws: { error in
                (error as? CronParseError)?.code == .invalidInterval
            }
        }
    }
}
