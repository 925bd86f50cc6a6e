/// Parses an HTTP `Retry-After` header value (RFC 9110 §10.2.3) into a wait duration.
///
/// Pure and I/O-free so every provider adapter can share it without depending on the transport module.
public enum RetryAfterValue {
    /// The wait a `Retry-After` value asks for: delta-seconds, or the time from `now` until an HTTP-date
    /// (IMF-fixdate, RFC 850 or asctime form). A date in the past gives zero; anything unreadable gives nil.
    public static func parse(_ value: String, now: Timestamp) -> Duration? {
        let text = value.trimmingWhitespace()
        guard !text.isEmpty else { return nil }
        if text.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) {
            // Oversized delta-seconds are capped (RFC 9111 §1.2.2).
            return .seconds(Int64(text).map { min($0, Int64(Int32.max)) } ?? Int64(Int32.max))
        }
        guard let date = httpDate(text) else { return nil }
        let delta = date.milliseconds - now.milliseconds
        return delta > 0 ? .milliseconds(delta) : .zero
    }

    /// The instant an HTTP-date names, or nil when the text is not one.
    public static func httpDate(_ text: String) -> Timestamp? {
        let parts = text.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
        // IMF-fixdate: "Sun, 06 Nov 1994 08:49:37 GMT"
        if parts.count == 6, parts[0].hasSuffix(","), parts[5] == "GMT",
            let day = Int(parts[1]), let month = month(parts[2]), let year = Int(parts[3]), parts[3].count == 4
        {
            return timestamp(year: year, month: month, day: day, time: parts[4])
        }
        // RFC 850: "Sunday, 06-Nov-94 08:49:37 GMT"
        if parts.count == 4, parts[0].hasSuffix(","), parts[3] == "GMT" {
            let date = parts[1].split(separator: "-").map(String.init)
            guard date.count == 3, let day = Int(date[0]), let month = month(date[1]), let shortYear = Int(date[2]),
                date[2].count == 2
            else { return nil }
            // RFC 9110: a two-digit year more than 50 years in the future means the past century.
            let year = shortYear < 70 ? 2000 + shortYear : 1900 + shortYear
            return timestamp(year: year, month: month, day: day, time: parts[2])
        }
        // asctime: "Sun Nov  6 08:49:37 1994"
        if parts.count == 5, let month = month(parts[1]), let day = Int(parts[2]), let year = Int(parts[4]),
            parts[4].count == 4
        {
            return timestamp(year: year, month: month, day: day, time: parts[3])
        }
        return nil
    }

    private static let months = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]

    private static func month(_ name: String) -> Int? {
        months.firstIndex(of: name.lowercased()).map { $0 + 1 }
    }

    private static func timestamp(year: Int, month: Int, day: Int, time: String) -> Timestamp? {
        let clock = time.split(separator: ":").map { Int($0) }
        guard clock.count == 3, let hour = clock[0], let minute = clock[1], let second = clock[2],
            (1...31).contains(day), (0...23).contains(hour), (0...59).contains(minute), (0...60).contains(second),
            (1...9999).contains(year)
        else { return nil }
        let days = daysFromCivil(year: year, month: month, day: day)
        let seconds = Int64(days) * 86_400 + Int64(hour * 3600 + minute * 60 + second)
        return Timestamp(milliseconds: seconds * 1000)
    }

    /// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
    private static func daysFromCivil(year: Int, month: Int, day: Int) -> Int {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yearOfEra = y - era * 400
        let dayOfYear = (153 * (month > 2 ? month - 3 : month + 9) + 2) / 5 + day - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        return era * 146_097 + dayOfEra - 719_468
    }
}

extension String {
    fileprivate func trimmingWhitespace() -> String {
        var view = Substring(self)
        while let first = view.first, first.isWhitespace { view.removeFirst() }
        while let last = view.last, last.isWhitespace { view.removeLast() }
        return String(view)
    }
}
