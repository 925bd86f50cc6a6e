/// Reads the `Retry-After` response header (RFC 9110 §10.2.3).
public enum RetryAfter {
    /// The longest wait `parse` returns: 2147483647 seconds, the cap RFC 9111 suggests for oversized
    /// delta values. Longer delays and later dates give this. A caller still caps it to what it can
    /// wait (`Backoff.retryAfterCap`).
    public static let longest: Duration = .seconds(maximumDeltaSeconds)

    static let maximumDeltaSeconds: Int64 = 2_147_483_647

    /// How long to wait before retrying, or nil when the header is absent or not a valid value.
    ///
    /// Accepts delta-seconds (`120`) and an HTTP-date: the IMF-fixdate form
    /// (`Sun, 06 Nov 1994 08:49:37 GMT`) and the obsolete RFC 850 and asctime forms every recipient
    /// must also read. A date is measured from `now`; one in the past gives zero. Surrounding spaces
    /// are ignored; anything else (negative or fractional numbers, unknown formats) gives nil.
    /// Total: any text and any `now` give a result in `0...longest` or nil, never a trap.
    public static func parse(_ value: String?, now: Timestamp) -> Duration? {
        guard let value else { return nil }
        var bytes = Array(value.utf8)[...]
        while let first = bytes.first, first == 0x20 || first == 0x09 { bytes = bytes.dropFirst() }
        while let last = bytes.last, last == 0x20 || last == 0x09 { bytes = bytes.dropLast() }
        guard !bytes.isEmpty else { return nil }

        if bytes.allSatisfy(isDigit) {
            var seconds: Int64 = 0
            for digit in bytes {
                seconds = seconds * 10 + Int64(digit - 0x30)
                if seconds > maximumDeltaSeconds { return longest }
            }
            return .seconds(seconds)
        }

        guard let date = HTTPDate.parse(bytes, now: now) else { return nil }
        guard date > now else { return .zero }
        let (milliseconds, overflow) = date.milliseconds.subtractingReportingOverflow(now.milliseconds)
        guard !overflow, milliseconds <= maximumDeltaSeconds * 1000 else { return longest }
        return .milliseconds(milliseconds)
    }

    fileprivate static func isDigit(_ byte: UInt8) -> Bool { byte >= 0x30 && byte <= 0x39 }
}

/// The three HTTP-date forms of RFC 9110 §5.6.7.
enum HTTPDate {
    private static let dayNames = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]
    private static let longDayNames = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
    private static let monthNames = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]

    /// The instant an HTTP-date names, or nil when `bytes` is not one. `now` resolves the two-digit
    /// years of the RFC 850 form.
    static func parse(_ bytes: ArraySlice<UInt8>, now: Timestamp) -> Timestamp? {
        var scanner = Scanner(bytes)
        if let result = imfFixdate(&scanner) { return result }
        scanner = Scanner(bytes)
        if let result = rfc850(&scanner, now: now) { return result }
        scanner = Scanner(bytes)
        return asctime(&scanner)
    }

    /// `Sun, 06 Nov 1994 08:49:37 GMT`
    private static func imfFixdate(_ s: inout Scanner) -> Timestamp? {
        guard s.word(from: dayNames) != nil, s.literal(", "),
            let day = s.number(digits: 2), s.literal(" "),
            let month = s.word(from: monthNames), s.literal(" "),
            let year = s.number(digits: 4), s.literal(" "),
            let time = s.timeOfDay(), s.literal(" GMT"), s.atEnd
        else { return nil }
        return timestamp(year: year, month: month + 1, day: day, time: time)
    }

    /// `Sunday, 06-Nov-94 08:49:37 GMT`
    private static func rfc850(_ s: inout Scanner, now: Timestamp) -> Timestamp? {
        guard s.word(from: longDayNames) != nil, s.literal(", "),
            let day = s.number(digits: 2), s.literal("-"),
            let month = s.word(from: monthNames), s.literal("-"),
            let twoDigitYear = s.number(digits: 2), s.literal(" "),
            let time = s.timeOfDay(), s.literal(" GMT"), s.atEnd
        else { return nil }
        // RFC 9110: a date that appears more than 50 years in the future is in the past century.
        let currentYear = year(of: now)
        var year = currentYear - currentYear % 100 + twoDigitYear
        if year > currentYear + 50 { year -= 100 }
        return timestamp(year: year, month: month + 1, day: day, time: time)
    }

    /// `Sun Nov  6 08:49:37 1994`
    private static func asctime(_ s: inout Scanner) -> Timestamp? {
        guard s.word(from: dayNames) != nil, s.literal(" "),
            let month = s.word(from: monthNames), s.literal(" ")
        else { return nil }
        let day: Int
        if s.literal(" ") {
            guard let digit = s.number(digits: 1) else { return nil }
            day = digit
        } else {
            guard let digits = s.number(digits: 2) else { return nil }
            day = digits
        }
        guard s.literal(" "), let time = s.timeOfDay(), s.literal(" "),
            let year = s.number(digits: 4), s.atEnd
        else { return nil }
        return timestamp(year: year, month: month + 1, day: day, time: time)
    }

    private static func timestamp(year: Int, month: Int, day: Int, time: (Int, Int, Int)) -> Timestamp? {
        guard day >= 1, day <= daysInMonth(year: year, month: month),
            time.0 <= 23, time.1 <= 59, time.2 <= 60
        else { return nil }
        let days = daysFromCivil(year: Int64(year), month: Int64(month), day: Int64(day))
        // Only a year far outside the four digits of the grammar (an RFC 850 year near an absurd
        // `now`) can overflow; such a date is no date.
        let (daySeconds, overflow) = days.multipliedReportingOverflow(by: 86_400)
        let (seconds, overflow2) = daySeconds.addingReportingOverflow(Int64(time.0 * 3600 + time.1 * 60 + time.2))
        let (milliseconds, overflow3) = seconds.multipliedReportingOverflow(by: 1000)
        guard !overflow, !overflow2, !overflow3 else { return nil }
        return Timestamp(milliseconds: milliseconds)
    }

    private static func daysInMonth(year: Int, month: Int) -> Int {
        switch month {
        case 2:
            let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
            return leap ? 29 : 28
        case 4, 6, 9, 11:
            return 30
        default:
            return 31
        }
    }

    /// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's days_from_civil).
    static func daysFromCivil(year: Int64, month: Int64, day: Int64) -> Int64 {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yearOfEra = y - era * 400
        let shiftedMonth = month > 2 ? month - 3 : month + 9
        let dayOfYear = (153 * shiftedMonth + 2) / 5 + day - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        return era * 146_097 + dayOfEra - 719_468
    }

    /// The UTC calendar year of a timestamp.
    static func year(of timestamp: Timestamp) -> Int {
        let days = floorDivide(floorDivide(timestamp.milliseconds, 1000), 86_400) + 719_468
        let era = (days >= 0 ? days : days - 146_096) / 146_097
        let dayOfEra = days - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let shiftedMonth = (5 * dayOfYear + 2) / 153
        return Int(yearOfEra + era * 400) + (shiftedMonth >= 10 ? 1 : 0)
    }

    /// `value / divisor` rounded towards negative infinity; no overflow for a positive divisor above 1.
    private static func floorDivide(_ value: Int64, _ divisor: Int64) -> Int64 {
        let quotient = value / divisor
        return value % divisor < 0 ? quotient - 1 : quotient
    }

    /// Reads ASCII tokens off the front of a byte slice.
    private struct Scanner {
        private var rest: ArraySlice<UInt8>

        init(_ bytes: ArraySlice<UInt8>) { rest = bytes }

        var atEnd: Bool { rest.isEmpty }

        /// Consumes `text` exactly.
        mutating func literal(_ text: StaticString) -> Bool {
            let count = text.utf8CodeUnitCount
            guard rest.count >= count else { return false }
            let matches = text.withUTF8Buffer { expected in
                zip(rest.prefix(count), expected).allSatisfy { $0 == $1 }
            }
            if matches { rest = rest.dropFirst(count) }
            return matches
        }

        /// Consumes exactly `digits` decimal digits.
        mutating func number(digits: Int) -> Int? {
            guard rest.count >= digits else { return nil }
            var value = 0
            for byte in rest.prefix(digits) {
                guard RetryAfter.isDigit(byte) else { return nil }
                value = value * 10 + Int(byte - 0x30)
            }
            rest = rest.dropFirst(digits)
            return value
        }

        /// Consumes one of `words` (exact case, as the grammar requires); returns its index.
        mutating func word(from words: [String]) -> Int? {
            for (index, word) in words.enumerated() {
                let utf8 = word.utf8
                if rest.count >= utf8.count, rest.prefix(utf8.count).elementsEqual(utf8) {
                    rest = rest.dropFirst(utf8.count)
                    return index
                }
            }
            return nil
        }

        /// Consumes `HH:MM:SS`.
        mutating func timeOfDay() -> (Int, Int, Int)? {
            guard let hour = number(digits: 2), literal(":"), let minute = number(digits: 2), literal(":"),
                let second = number(digits: 2)
            else { return nil }
            return (hour, minute, second)
        }
    }
}
