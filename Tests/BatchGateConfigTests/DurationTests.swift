import Testing

@testable import BatchGateConfig

@Suite("Durations")
struct DurationTests {
    @Test(
        "valid durations",
        arguments: [
            ("200ms", Duration.milliseconds(200)),
            ("1ms", .milliseconds(1)),
            ("15s", .seconds(15)),
            ("10m", .seconds(600)),
            ("1h", .seconds(3600)),
            ("90m", .seconds(5400)),
            ("0015s", .seconds(15)),
            ("1500ms", .milliseconds(1500)),
        ]
    )
    func valid(text: String, expected: Duration) {
        #expect(ConfigLoader.parseDuration(text) == expected)
    }

    @Test(
        "refused durations",
        arguments: [
            "", "15", "s", "0s", "0ms", "-5s", "+5s", "1.5s", "15 s", " 15s", "15s ", "15sec", "15S", "1d", "1m30s",
            "fast", "99999999999999999999h", "9223372036854775807h",
        ]
    )
    func invalid(text: String) {
        #expect(ConfigLoader.parseDuration(text) == nil)
    }

    @Test(
        "formatted in the largest exact unit",
        arguments: [
            (Duration.milliseconds(200), "200ms"),
            (.seconds(15), "15s"),
            (.seconds(600), "10m"),
            (.seconds(7200), "2h"),
            (.milliseconds(1500), "1500ms"),
            (.seconds(90), "90s"),
        ]
    )
    func format(duration: Duration, expected: String) {
        #expect(DurationText.format(duration) == expected)
    }
}
