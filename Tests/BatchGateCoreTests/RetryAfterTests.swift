import Testing

@testable import BatchGateCore

struct RetryAfterCase: Sendable, CustomTestStringConvertible {
    var value: String?
    /// Seconds since 1970 of "now".
    var now: Int64
    var expected: Duration?

    var testDescription: String { "\(value.map { "\"\($0)\"" } ?? "nil") → \(expected.map { "\($0)" } ?? "nil")" }
}

/// Sun, 06 Nov 1994 08:49:37 GMT, the RFC's example date.
private let rfcExample: Int64 = 784_111_777
/// 2026-01-01T00:00:00Z.
private let newYear2026: Int64 = 1_767_225_600

private let retryAfterCases: [RetryAfterCase] = [
    // Absent and garbage.
    .init(value: nil, now: rfcExample, expected: nil),
    .init(value: "", now: rfcExample, expected: nil),
    .init(value: "   ", now: rfcExample, expected: nil),
    .init(value: "-5", now: rfcExample, expected: nil),
    .init(value: "1.5", now: rfcExample, expected: nil),
    .init(value: "12abc", now: rfcExample, expected: nil),
    .init(value: "soon", now: rfcExample, expected: nil),
    // Delta-seconds.
    .init(value: "0", now: rfcExample, expected: .zero),
    .init(value: "120", now: rfcExample, expected: .seconds(120)),
    .init(value: " 30\t", now: rfcExample, expected: .seconds(30)),
    .init(value: "007", now: rfcExample, expected: .seconds(7)),
    .init(value: "99999999999999999999999", now: rfcExample, expected: .seconds(2_147_483_647)),
    .init(value: "2147483647", now: rfcExample, expected: .seconds(2_147_483_647)),
    .init(value: "2147483648", now: rfcExample, expected: .seconds(2_147_483_647)),
    .init(value: "9223372036854775807", now: rfcExample, expected: .seconds(2_147_483_647)),
    .init(value: "18446744073709551616", now: rfcExample, expected: .seconds(2_147_483_647)),
    .init(value: "-2147483648", now: rfcExample, expected: nil),
    .init(value: "+30", now: rfcExample, expected: nil),
    .init(value: "1e9", now: rfcExample, expected: nil),
    .init(value: "0x10", now: rfcExample, expected: nil),
    .init(value: "３０", now: rfcExample, expected: nil),
    .init(value: "30\u{0}", now: rfcExample, expected: nil),
    // IMF-fixdate.
    .init(value: "Sun, 06 Nov 1994 08:49:37 GMT", now: rfcExample, expected: .zero),
    .init(value: "Sun, 06 Nov 1994 08:50:37 GMT", now: rfcExample, expected: .seconds(60)),
    .init(value: "Mon, 07 Nov 1994 08:49:37 GMT", now: rfcExample, expected: .seconds(86_400)),
    .init(value: "Sun, 06 Nov 1994 08:48:37 GMT", now: rfcExample, expected: .zero),
    .init(value: "Tue, 29 Feb 2000 00:00:00 GMT", now: rfcExample, expected: .seconds(951_782_400 - rfcExample)),
    .init(value: "  Sun, 06 Nov 1994 08:49:47 GMT ", now: rfcExample, expected: .seconds(10)),
    .init(value: "Thu, 01 Jan 2026 00:00:01 GMT", now: newYear2026, expected: .seconds(1)),
    // Obsolete forms every recipient must read.
    .init(value: "Sunday, 06-Nov-94 08:51:37 GMT", now: rfcExample, expected: .seconds(120)),
    .init(value: "Sun Nov  6 08:52:37 1994", now: rfcExample, expected: .seconds(180)),
    .init(value: "Mon Nov 14 08:49:37 1994", now: rfcExample, expected: .seconds(8 * 86_400)),
    // RFC 850 two-digit years: more than 50 years ahead means the previous century.
    .init(value: "Saturday, 01-Jan-28 00:00:00 GMT", now: newYear2026, expected: .seconds(730 * 86_400)),
    .init(value: "Saturday, 01-Jan-77 00:00:00 GMT", now: newYear2026, expected: .zero),
    // Malformed dates.
    .init(value: "Sun, 06 Nov 1994 08:49:37 UTC", now: rfcExample, expected: nil),
    .init(value: "sun, 06 nov 1994 08:49:37 GMT", now: rfcExample, expected: nil),
    .init(value: "Sun, 6 Nov 1994 08:49:37 GMT", now: rfcExample, expected: nil),
    .init(value: "Sun, 31 Feb 1994 08:49:37 GMT", now: rfcExample, expected: nil),
    .init(value: "Thu, 29 Feb 1900 08:49:37 GMT", now: rfcExample, expected: nil),
    .init(value: "Sun, 06 Nov 1994 24:00:00 GMT", now: rfcExample, expected: nil),
    .init(value: "Sun, 06 Nov 1994 08:60:00 GMT", now: rfcExample, expected: nil),
    .init(value: "Sun, 06 Nov 1994 08:49:37 GMT extra", now: rfcExample, expected: nil),
    .init(value: "Sun, 06 Nov 1994", now: rfcExample, expected: nil),
    .init(value: "2026-01-01T00:00:00Z", now: rfcExample, expected: nil),
    // Dates far away: the future is capped like a delta, the past is now.
    .init(value: "Fri, 31 Dec 9999 23:59:59 GMT", now: newYear2026, expected: .seconds(2_147_483_647)),
    .init(value: "Fri, 31 Dec 2093 00:00:00 GMT", now: newYear2026, expected: .seconds(2_145_830_400)),
    .init(value: "Mon, 01 Jan 0001 00:00:00 GMT", now: newYear2026, expected: .zero),
    .init(value: "Sat, 01 Jan 0000 00:00:00 GMT", now: newYear2026, expected: .zero),
    .init(value: "Fri Dec 31 23:59:59 9999", now: newYear2026, expected: .seconds(2_147_483_647)),
]

@Suite("RetryAfter")
struct RetryAfterTests {
    @Test("parses delta-seconds and HTTP-dates", arguments: retryAfterCases)
    func parse(_ example: RetryAfterCase) {
        let now = Timestamp(milliseconds: example.now * 1000)
        #expect(RetryAfter.parse(example.value, now: now) == example.expected)
    }

    /// `now` at the ends of what a timestamp can hold, with every form: no overflow, a result in range.
    @Test(
        "extreme clocks never trap",
        arguments: [Int64.min, Int64.min + 1, -1, 0, Int64.max - 1, Int64.max],
        [
            "Sun, 06 Nov 1994 08:49:37 GMT", "Fri, 31 Dec 9999 23:59:59 GMT", "Mon, 01 Jan 0001 00:00:00 GMT",
            "Sunday, 06-Nov-94 08:49:37 GMT", "Friday, 31-Dec-99 23:59:59 GMT", "Monday, 01-Jan-00 00:00:00 GMT",
            "Sun Nov  6 08:49:37 1994", "120", "99999999999999999999",
        ]
    )
    func extremeClocks(milliseconds: Int64, value: String) {
        let result = RetryAfter.parse(value, now: Timestamp(milliseconds: milliseconds))
        if let result {
            #expect(result >= .zero && result <= RetryAfter.longest, "\(result)")
        } else {
            // Only a two-digit year, resolved against a clock near the end of time, can fall outside
            // what a timestamp holds.
            #expect(value.contains("-"), "a valid value was refused")
        }
    }

    /// Far in the past (by the clock) every valid date is in the future, and capped.
    @Test func aClockFarInThePastCapsEveryDate() {
        let now = Timestamp(milliseconds: Int64.min)
        #expect(RetryAfter.parse("Sun, 06 Nov 1994 08:49:37 GMT", now: now) == RetryAfter.longest)
        #expect(RetryAfter.parse("Sun Nov  6 08:49:37 1994", now: now) == RetryAfter.longest)
        let late = Timestamp(milliseconds: Int64.max)
        #expect(RetryAfter.parse("Fri, 31 Dec 9999 23:59:59 GMT", now: late) == .zero)
    }

    /// Random text, random digit runs and random well-formed dates: nil or a duration in range.
    @Test func randomValuesGiveNilOrADurationInRange() {
        var random = RandomSource(seed: 0x5EED)
        let alphabet = Array("0123456789 ,:-GMTSunMonNovDec\t+.e".utf8)
        let days = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]
        let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
        func two(_ value: Int) -> String { value < 10 ? "0\(value)" : "\(value)" }
        for round in 0..<20_000 {
            let text: String
            switch round % 3 {
            case 0:
                let length = Int.random(in: 0...40, using: &random)
                text = String(decoding: (0..<length).map { _ in alphabet.randomElement(using: &random)! }, as: UTF8.self)
            case 1:
                let length = Int.random(in: 1...60, using: &random)
                text = String((0..<length).map { _ in Character(String(Int.random(in: 0...9, using: &random))) })
            default:
                let year = Int.random(in: 0...9999, using: &random)
                text =
                    "\(days.randomElement(using: &random)!), \(two(Int.random(in: 1...28, using: &random))) "
                    + "\(months.randomElement(using: &random)!) \(String(repeating: "0", count: 4 - String(year).count))\(year) "
                    + "\(two(Int.random(in: 0...23, using: &random))):\(two(Int.random(in: 0...59, using: &random))):00 GMT"
            }
            let now = Timestamp(milliseconds: Int64.random(in: Int64.min...Int64.max, using: &random))
            if let duration = RetryAfter.parse(text, now: now) {
                #expect(duration >= .zero && duration <= RetryAfter.longest, "\(text): \(duration)")
            } else {
                #expect(round % 3 != 2, "a well-formed date was refused: \(text)")
            }
        }
    }

    @Test("a date is measured from now to the millisecond")
    func millisecondPrecision() {
        let now = Timestamp(milliseconds: rfcExample * 1000 + 250)
        #expect(RetryAfter.parse("Sun, 06 Nov 1994 08:49:38 GMT", now: now) == .milliseconds(750))
    }

    @Test(
        "days_from_civil matches known dates",
        arguments: [
            (1970, 1, 1, Int64(0)), (1994, 11, 6, 9_075), (2000, 2, 29, 11_016), (2026, 1, 1, 20_454),
            (1969, 12, 31, -1), (1600, 3, 1, -135_080),
        ]
    )
    func daysFromCivil(year: Int, month: Int, day: Int, expected: Int64) {
        #expect(HTTPDate.daysFromCivil(year: Int64(year), month: Int64(month), day: Int64(day)) == expected)
    }

    @Test(
        "year(of:) matches known instants",
        arguments: [
            (Int64(0), 1970), (rfcExample, 1994), (newYear2026, 2026), (newYear2026 - 1, 2025), (-1, 1969),
        ]
    )
    func year(seconds: Int64, expected: Int) {
        #expect(HTTPDate.year(of: Timestamp(milliseconds: seconds * 1000)) == expected)
    }
}
