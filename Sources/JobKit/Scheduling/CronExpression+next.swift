import Foundation

extension CronExpression {
    /// What a cron schedule does with a local time that a daylight-saving change skips.
    ///
    /// When clocks spring forward, some local times don't exist that day: in New York on 8 March 2026,
    /// 02:00–02:59 is skipped. A schedule for `30 2 * * *` then either fires once when the gap ends
    /// (``fireAfterGap``, the default, as Vixie cron and cronie run a skipped job right after the clock
    /// change) or not at all that day (``skip``). Local times repeated when clocks fall back always fire
    /// once, at their first occurrence, whatever the policy.
    public struct DSTGapPolicy: Sendable, Hashable, CustomStringConvertible {
        enum Base: String, Sendable { case fireAfterGap, skip }
        let base: Base

        /// Fire once at the first instant after the gap (03:00 local in the New York example), however
        /// many times the expression matches inside the gap. This is the default.
        public static let fireAfterGap = DSTGapPolicy(base: .fireAfterGap)
        /// Don't fire for local times inside the gap; the next fire time is the next one that exists.
        public static let skip = DSTGapPolicy(base: .skip)

        public var description: String { base.rawValue }
    }

    /// How far ahead a search goes before it gives up, in years.
    ///
    /// Every expression that parses fires within this horizon except with ``DSTGapPolicy/skip`` when it
    /// only matches skipped times. It is this long because `0 0 29 2 *` can go 8 years without firing
    /// (2096 to 2104), and February 29 on a given weekday can take decades.
    static let searchHorizonYears = 50

    /// The first time strictly after a date at which the expression fires, in a time zone.
    ///
    /// The fields are matched against the local wall-clock time in `timeZone`. When a daylight-saving
    /// change skips the matching local time, `skippedTimes` decides whether it fires when the gap ends or
    /// not at all. When clocks fall back, a repeated local time fires once, at its first occurrence; the
    /// repeated hour's second pass doesn't fire again, so `0 * * * *` in New York on 1 November 2026 fires
    /// at 01:00 EDT and next at 02:00 EST, two hours later. Sub-second parts of `date` are allowed: the
    /// result is a whole second strictly later than `date`.
    ///
    /// - Parameters:
    ///   - date: The instant to search after. The result is strictly later.
    ///   - timeZone: The zone whose local time the fields describe, such as `America/New_York`.
    ///   - skippedTimes: What to do with local times a spring-forward skips. The default fires once at the
    ///     end of the gap.
    /// - Returns: The next fire time, or `nil` if nothing fires within 50 years of `date` (only possible
    ///   with ``DSTGapPolicy/skip`` when every match falls in a gap) or `date` isn't a finite date between
    ///   the years 1 and 9999.
    public func nextFireTime(
        after date: Date, in timeZone: TimeZone, skippedTimes: DSTGapPolicy = .fireAfterGap
    ) -> Date? {
        nextFireTimes(after: date, in: timeZone, count: 1, skippedTimes: skippedTimes).first
    }

    /// The next fire times strictly after a date, in a time zone, in increasing order.
    ///
    /// Each result follows the rules of ``nextFireTime(after:in:skippedTimes:)``, applied from the previous
    /// result, so a run of matches inside a spring-forward gap yields one fire time.
    ///
    /// - Parameters:
    ///   - date: The instant to search after. Every result is strictly later.
    ///   - timeZone: The zone whose local time the fields describe.
    ///   - count: How many fire times to return.
    ///   - skippedTimes: What to do with local times a spring-forward skips.
    /// - Returns: Up to `count` fire times; fewer if 50 years pass after one of them without another,
    ///   and none if `count` is 0 or less.
    public func nextFireTimes(
        after date: Date, in timeZone: TimeZone, count: Int, skippedTimes: DSTGapPolicy = .fireAfterGap
    ) -> [Date] {
        let t = date.timeIntervalSince1970
        // Years 1 through 9999; outside that (or NaN) there's nothing sensible to compute.
        guard count > 0, t.isFinite, t > -62_135_596_800, t < 253_402_300_799 else { return [] }
        var after = Int(t.rounded(.down))
        let zone = ZoneOffsets(timeZone)
        var results: [Date] = []
        results.reserveCapacity(count)
        while results.count < count, let next = nextFireInstant(after: after, zone: zone, policy: skippedTimes) {
            results.append(Date(timeIntervalSince1970: Double(next)))
            after = next
        }
        return results
    }

    /// The first fire time strictly after `after` (Unix seconds), as Unix seconds, searching up to
    /// ``searchHorizonYears`` ahead.
    private func nextFireInstant(after: Int, zone: ZoneOffsets, policy: DSTGapPolicy) -> Int? {
        var start = after + zone.offset(at: after) + 1
        let limitYear = CivilDate(days: floorDivide(start, 86_400)).year + Self.searchHorizonYears
        while let wall = nextWallTime(from: start, limitYear: limitYear) {
            switch zone.resolve(wall) {
            case .unique(let instant):
                if instant > after { return instant }
                start = wall + 1
            case .repeated(let first, let endWall):
                // The first occurrence fires; if it's already past, so is every match up to the overlap's end.
                if first > after { return first }
                start = max(wall + 1, endWall)
            case .skipped(let gapEnd, let endWall):
                if policy == .fireAfterGap && gapEnd > after { return gapEnd }
                start = max(wall + 1, endWall)
            }
        }
        return nil
    }

    /// The first local wall-clock time at or after `wall` that matches every field, as seconds since
    /// 1970-01-01T00:00:00 local, or `nil` past the end of `limitYear`.
    ///
    /// It moves field by field, from months down to seconds, jumping to the next selected value and
    /// resetting the smaller fields, so a search across a year takes a handful of steps.
    func nextWallTime(from wall: Int, limitYear: Int) -> Int? {
        let days = floorDivide(wall, 86_400)
        let secondOfDay = wall - days * 86_400
        var date = CivilDate(days: days)
        var (year, month, day) = (date.year, date.month, date.day)
        var hour = secondOfDay / 3600
        var minute = secondOfDay / 60 % 60
        var second = secondOfDay % 60

        func startMonth(_ m: Int, of y: Int) {
            (year, month, day, hour, minute, second) = (y, m, 1, 0, 0, 0)
        }
        func nextDay() {
            (day, hour, minute, second) = (day + 1, 0, 0, 0)
            if day > CivilDate.daysIn(month: month, year: year) {
                month == 12 ? startMonth(1, of: year + 1) : startMonth(month + 1, of: year)
            }
        }
        func nextHour() {
            (hour, minute, second) = (hour + 1, 0, 0)
            if hour == 24 { nextDay() }
        }
        func nextMinute() {
            (minute, second) = (minute + 1, 0)
            if minute == 60 { nextHour() }
        }

        while year <= limitYear {
            if months & (1 << month) == 0 {
                if let m = Self.firstBit(months, from: month + 1) {
                    startMonth(m, of: year)
                } else {
                    startMonth(Self.firstBit(months, from: 1)!, of: year + 1)
                }
                continue
            }
            let dayBits = matchingDays(year: year, month: month)
            if dayBits & (1 << day) == 0 {
                guard let d = Self.firstBit(dayBits, from: day + 1) else {
                    month == 12 ? startMonth(1, of: year + 1) : startMonth(month + 1, of: year)
                    continue
                }
                (day, hour, minute, second) = (d, 0, 0, 0)
            }
            if hours & (1 << hour) == 0 {
                guard let h = Self.firstBit(hours, from: hour + 1) else {
                    nextDay()
                    continue
                }
                (hour, minute, second) = (h, 0, 0)
            }
            if minutes & (1 << minute) == 0 {
                guard let m = Self.firstBit(minutes, from: minute + 1) else {
                    nextHour()
                    continue
                }
                (minute, second) = (m, 0)
            }
            if seconds & (1 << second) == 0 {
                guard let s = Self.firstBit(seconds, from: second + 1) else {
                    nextMinute()
                    continue
                }
                second = s
            }
            date = CivilDate(year: year, month: month, day: day)
            return date.daysSince1970 * 86_400 + hour * 3600 + minute * 60 + second
        }
        return nil
    }

    /// The days of a month that match the day-of-month and day-of-week fields, as a bit set (bit d set
    /// when day d matches).
    func matchingDays(year: Int, month: Int) -> UInt64 {
        let length = CivilDate.daysIn(month: month, year: year)
        let allDays: UInt64 = (1 << (length + 1)) - 2
        let byMonthDay = daysOfMonth & allDays
        var byWeekday: UInt64 = 0
        let firstWeekday = CivilDate(year: year, month: month, day: 1).weekday
        var weekdays = daysOfWeek
        while weekdays != 0 {
            let weekday = weekdays.trailingZeroBitCount
            weekdays &= weekdays - 1
            var d = 1 + (weekday - firstWeekday + 7) % 7
            while d <= length {
                byWeekday |= 1 << d
                d += 7
            }
        }
        // Vixie cron: if either field starts with `*`, a day must match both; otherwise either.
        return dayOfMonthIsStar || dayOfWeekIsStar ? byMonthDay & byWeekday : byMonthDay | byWeekday
    }

    /// The smallest set bit at or above `from` (below 64), or `nil`.
    static func firstBit(_ bits: UInt64, from: Int) -> Int? {
        guard from < 64 else { return nil }
        let rest = bits & ~((UInt64(1) << from) - 1)
        return rest == 0 ? nil : rest.trailingZeroBitCount
    }
}

/// A proleptic Gregorian date, converted to and from days since 1970-01-01 with Howard Hinnant's
/// `days_from_civil` algorithms.
struct CivilDate: Sendable, Hashable {
    var year: Int
    var month: Int
    var day: Int

    init(year: Int, month: Int, day: Int) {
        (self.year, self.month, self.day) = (year, month, day)
    }

    init(days: Int) {
        let z = days + 719_468
        let era = floorDivide(z, 146_097)
        let dayOfEra = z - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let shiftedMonth = (5 * dayOfYear + 2) / 153  // March = 0
        day = dayOfYear - (153 * shiftedMonth + 2) / 5 + 1
        month = shiftedMonth < 10 ? shiftedMonth + 3 : shiftedMonth - 9
        year = yearOfEra + era * 400 + (month <= 2 ? 1 : 0)
    }

    var daysSince1970: Int {
        let y = month <= 2 ? year - 1 : year
        let era = floorDivide(y, 400)
        let yearOfEra = y - era * 400
        let shiftedMonth = (month + 9) % 12  // March = 0
        let dayOfYear = (153 * shiftedMonth + 2) / 5 + day - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        return era * 146_097 + dayOfEra - 719_468
    }

    /// 0 = Sunday … 6 = Saturday.
    var weekday: Int {
        let r = (daysSince1970 + 4) % 7  // 1970-01-01 was a Thursday
        return r < 0 ? r + 7 : r
    }

    static func isLeap(_ year: Int) -> Bool { year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) }

    static func daysIn(month: Int, year: Int) -> Int {
        month == 2 ? (isLeap(year) ? 29 : 28) : CronExpression.maximumDays[month]
    }
}

/// Division rounding towards negative infinity.
func floorDivide(_ a: Int, _ b: Int) -> Int {
    let q = a / b
    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q
}

/// A time zone's UTC offsets, and the instants a local wall-clock time maps to.
struct ZoneOffsets {
    /// How a local wall-clock time maps to instants.
    enum Resolution: Equatable {
        /// The local time happens once.
        case unique(Int)
        /// A fall-back repeats the local time; `first` is its first occurrence, and the repeated range
        /// ends at local time `endWall`.
        case repeated(first: Int, endWall: Int)
        /// A spring-forward skips the local time; the gap ends at instant `gapEnd`, which is local time
        /// `endWall`.
        case skipped(gapEnd: Int, endWall: Int)
    }

    let timeZone: TimeZone

    init(_ timeZone: TimeZone) { self.timeZone = timeZone }

    /// The zone's offset from UTC at a Unix time, in seconds.
    func offset(at instant: Int) -> Int {
        timeZone.secondsFromGMT(for: Date(timeIntervalSince1970: Double(instant)))
    }

    /// The instants at which the zone's clocks show `wall` (seconds since 1970-01-01T00:00:00 local).
    ///
    /// It assumes at most one offset change within a day either side, which holds for every zone in use.
    func resolve(_ wall: Int) -> Resolution {
        // Offsets a day either side bracket any transition that could affect this wall time.
        let before = offset(at: wall - 86_400)
        let after = offset(at: wall + 86_400)
        if before == after {
            if offset(at: wall - before) == before { return .unique(wall - before) }
            // Two transitions within two days (no zone does this today): trust the offset found there.
            return .unique(wall - offset(at: wall - before))
        }
        let earlier = wall - before  // the instant if the pre-transition offset applies
        let later = wall - after  // the instant if the post-transition offset applies
        let earlierValid = offset(at: earlier) == before
        let laterValid = offset(at: later) == after
        switch (earlierValid, laterValid) {
        case (true, true):
            // Fall-back: `earlier` < `later`, and the transition lies between them.
            let transition = firstInstant(from: earlier, to: later) { offset(at: $0) != before }
            return .repeated(first: min(earlier, later), endWall: transition + before)
        case (true, false):
            return .unique(earlier)
        case (false, true):
            return .unique(later)
        case (false, false):
            // Spring-forward: no instant shows this time. The gap ends at the transition.
            let lo = min(earlier, later)
            let hi = max(earlier, later)
            let transition = firstInstant(from: lo, to: hi) { offset(at: $0) != before }
            return .skipped(gapEnd: transition, endWall: transition + offset(at: transition))
        }
    }

    /// The first instant in `(from, to]` where `changed` holds, by bisection; `changed(from)` is false
    /// and `changed(to)` is true.
    private func firstInstant(from: Int, to: Int, _ changed: (Int) -> Bool) -> Int {
        var (lo, hi) = (from, to)
        while hi - lo > 1 {
            let mid = lo + (hi - lo) / 2
            if changed(mid) { hi = mid } else { lo = mid }
        }
        return hi
    }
}
