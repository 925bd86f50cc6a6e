#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// A point in time with millisecond precision, rendered as RFC 3339 UTC (`2026-01-15T10:30:00.000Z`).
public struct Timestamp: Hashable, Comparable, Sendable, Codable, CustomStringConvertible {
    /// Milliseconds since 1970-01-01T00:00:00Z.
    public var milliseconds: Int64

    /// A time `milliseconds` after the Unix epoch, clamped to years 0000–9999 so no later arithmetic or
    /// rendering can overflow, whatever a vendor sent.
    public init(milliseconds: Int64) { self.milliseconds = min(max(milliseconds, Self.earliest), Self.latest) }

    /// 0000-01-01T00:00:00.000Z.
    static let earliest: Int64 = -62_167_219_200_000
    /// 9999-12-31T23:59:59.999Z.
    static let latest: Int64 = 253_402_300_799_999

    /// The current wall-clock time.
    public static func now() -> Timestamp {
        Timestamp(milliseconds: Int64((Date().timeIntervalSince1970 * 1000).rounded(.down)))
    }

    public static func < (lhs: Timestamp, rhs: Timestamp) -> Bool { lhs.milliseconds < rhs.milliseconds }

    /// `self` moved by a duration (may be negative).
    public func adding(_ duration: Duration) -> Timestamp {
        let (sum, overflow) = milliseconds.addingReportingOverflow(duration.milliseconds)
        return Timestamp(milliseconds: overflow ? (duration < .zero ? Self.earliest : Self.latest) : sum)
    }

    /// The duration from `self` to `later`.
    public func duration(to later: Timestamp) -> Duration { .milliseconds(later.milliseconds - milliseconds) }  // both clamped: no overflow

    /// RFC 3339 in UTC with exactly three fractional digits.
    public var rfc3339: String {
        let ms = milliseconds
        let seconds = ms >= 0 ? ms / 1000 : (ms - 999) / 1000
        let millis = Int(ms - seconds * 1000)
        var days = seconds >= 0 ? seconds / 86_400 : (seconds - 86_399) / 86_400
        let secondOfDay = Int(seconds - days * 86_400)
        // Civil-from-days (Howard Hinnant), valid for the proleptic Gregorian calendar.
        days += 719_468
        let era = (days >= 0 ? days : days - 146_096) / 146_097
        let dayOfEra = days - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let mp = (5 * dayOfYear + 2) / 153
        let day = Int(dayOfYear - (153 * mp + 2) / 5 + 1)
        let month = Int(mp < 10 ? mp + 3 : mp - 9)
        let year = Int(yearOfEra + era * 400) + (month <= 2 ? 1 : 0)
        var out = ""
        out.reserveCapacity(24)
        func pad(_ value: Int, _ width: Int) {
            let text = String(value)
            if text.count < width { out += String(repeating: "0", count: width - text.count) }
            out += text
        }
        pad(year, 4)
        out += "-"
        pad(month, 2)
        out += "-"
        pad(day, 2)
        out += "T"
        pad(secondOfDay / 3600, 2)
        out += ":"
        pad(secondOfDay / 60 % 60, 2)
        out += ":"
        pad(secondOfDay % 60, 2)
        out += "."
        pad(millis, 3)
        out += "Z"
        return out
    }

    public var description: String { rfc3339 }

    public init(from decoder: any Decoder) throws {
        self.init(milliseconds: try decoder.singleValueContainer().decode(Int64.self))
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(milliseconds)
    }
}

extension Duration {
    /// Whole milliseconds, rounded towards zero; saturates at the ends of `Int64` instead of overflowing.
    public var milliseconds: Int64 {
        let (seconds, attoseconds) = components
        let (scaled, overflow) = seconds.multipliedReportingOverflow(by: 1000)
        if overflow { return seconds < 0 ? .min : .max }
        let (sum, overflowAgain) = scaled.addingReportingOverflow(attoseconds / 1_000_000_000_000_000)
        if overflowAgain { return seconds < 0 ? .min : .max }
        return sum
    }

    /// Seconds as a floating-point number.
    public var seconds: Double {
        let (seconds, attoseconds) = components
        return Double(seconds) + Double(attoseconds) / 1e18
    }
}
