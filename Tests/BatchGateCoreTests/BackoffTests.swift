import Testing

@testable import BatchGateCore

/// Always returns `UInt64.max`, which draws the top of any range.
struct TopGenerator: RandomNumberGenerator {
    mutating func next() -> UInt64 { .max }
}

/// Always returns 1, which draws the bottom of any range narrower than 2^64 (zero would make the
/// standard library's rejection sampling draw forever).
struct BottomGenerator: RandomNumberGenerator {
    mutating func next() -> UInt64 { 1 }
}

@Suite("Backoff")
struct BackoffTests {
    struct Row: Sendable, CustomTestStringConvertible {
        var attempt: Int
        var base: Duration = .seconds(1)
        var cap: Duration = .seconds(600)
        var retryAfterCap: Duration? = nil
        var retryAfter: Duration? = nil
        var expected: Duration
        var testDescription: String {
            "after \(attempt), base \(base), cap \(cap), retry-after \(retryAfter.map { "\($0)" } ?? "none")"
                + (retryAfterCap.map { " capped at \($0)" } ?? "") + " → \(expected)"
        }
    }

    static let withoutJitter: [Row] = [
        // Doubling up to the cap.
        Row(attempt: 1, expected: .seconds(1)),
        Row(attempt: 2, expected: .seconds(2)),
        Row(attempt: 3, expected: .seconds(4)),
        Row(attempt: 8, expected: .seconds(128)),
        Row(attempt: 10, expected: .seconds(512)),
        Row(attempt: 11, expected: .seconds(600)),
        Row(attempt: 63, expected: .seconds(600)),
        Row(attempt: 64, expected: .seconds(600)),
        Row(attempt: 1000, expected: .seconds(600)),
        Row(attempt: Int.max, expected: .seconds(600)),
        Row(attempt: 3, base: .milliseconds(250), expected: .seconds(1)),
        Row(attempt: 2, base: .nanoseconds(1), cap: .seconds(1), expected: .nanoseconds(2)),
        Row(attempt: 62, base: .nanoseconds(1), cap: .seconds(86_400), expected: .seconds(86_400)),
        // Attempts below 1 count as 1.
        Row(attempt: 0, expected: .seconds(1)),
        Row(attempt: -3, expected: .seconds(1)),
        Row(attempt: Int.min, expected: .seconds(1)),
        // Odd settings.
        Row(attempt: 1, base: .seconds(1200), expected: .seconds(600)),
        Row(attempt: 1, base: .zero, expected: .zero),
        Row(attempt: Int.max, base: .zero, expected: .zero),
        Row(attempt: 3, base: .seconds(-5), expected: .zero),
        Row(attempt: 3, cap: .seconds(-5), expected: .zero),
        Row(attempt: 5, cap: .zero, retryAfter: .seconds(30), expected: .zero),
        Row(attempt: 60, base: .seconds(Int64.max / 2), cap: .seconds(Int64.max / 2), expected: Backoff.longestDelay),
        Row(attempt: Int.max, cap: .seconds(Int64.max), expected: Backoff.longestDelay),
        // Retry-After is a floor, capped at the cap.
        Row(attempt: 1, retryAfter: .seconds(30), expected: .seconds(30)),
        Row(attempt: 5, retryAfter: .seconds(1), expected: .seconds(16)),
        Row(attempt: 2, retryAfter: .seconds(3600), expected: .seconds(600)),
        Row(attempt: 2, retryAfter: .seconds(2_147_483_647), expected: .seconds(600)),
        Row(attempt: 2, retryAfter: .seconds(Int64.max), expected: .seconds(600)),
        Row(attempt: 2, retryAfter: .zero, expected: .seconds(2)),
        Row(attempt: 2, retryAfter: .seconds(-100), expected: .seconds(2)),
        Row(attempt: 2, retryAfter: .milliseconds(2500), expected: .milliseconds(2500)),
        // A Retry-After cap of its own.
        Row(attempt: 1, retryAfterCap: .seconds(3600), retryAfter: .seconds(1800), expected: .seconds(1800)),
        Row(attempt: 1, retryAfterCap: .seconds(3600), retryAfter: .seconds(2_147_483_647), expected: .seconds(3600)),
        Row(attempt: 20, retryAfterCap: .seconds(10), retryAfter: .seconds(60), expected: .seconds(600)),
        Row(attempt: 1, retryAfterCap: .seconds(10), retryAfter: .seconds(60), expected: .seconds(10)),
        Row(attempt: 1, retryAfterCap: .seconds(Int64.max), retryAfter: .seconds(Int64.max), expected: Backoff.longestDelay),
        Row(attempt: 1, retryAfterCap: .seconds(-1), retryAfter: .seconds(60), expected: .seconds(1)),
    ]

    @Test("exponential, capped, Retry-After as a capped floor", arguments: withoutJitter)
    func exponentialCappedWithAFloor(row: Row) {
        var random = RandomSource(seed: 1)
        let backoff = Backoff(base: row.base, cap: row.cap, retryAfterCap: row.retryAfterCap, jitter: .none)
        #expect(backoff.delay(afterAttempt: row.attempt, retryAfter: row.retryAfter, using: &random) == row.expected)
        if row.retryAfter == nil {
            #expect(backoff.baseDelay(afterAttempt: row.attempt) == row.expected)
        }
    }

    @Test func retryAfterCapDefaultsToTheCap() {
        #expect(Backoff(base: .seconds(1), cap: .seconds(90)).retryAfterCap == .seconds(90))
        #expect(Backoff(base: .seconds(1), cap: .seconds(90)).jitter == .equal)
    }

    /// (jitter, attempt, expected): the top of each jitter range is the un-jittered delay, exactly.
    static let tops: [(Backoff.Jitter, Int, Duration)] = [
        (.full, 1, .seconds(1)), (.full, 4, .seconds(8)), (.equal, 1, .seconds(1)), (.equal, 12, .seconds(600)),
        (.none, 5, .seconds(16)), (.full, Int.max, .seconds(600)), (.equal, Int.max, .seconds(600)),
    ]

    @Test(arguments: tops)
    func jitterTopsOutAtTheBaseDelay(jitter: Backoff.Jitter, attempt: Int, expected: Duration) {
        var random = TopGenerator()
        let backoff = Backoff(base: .seconds(1), cap: .seconds(600), jitter: jitter)
        #expect(backoff.delay(afterAttempt: attempt, using: &random) == expected)
    }

    /// (jitter, attempt, expected): the bottom of each range: zero, half the base, or the base.
    static let bottoms: [(Backoff.Jitter, Int, Duration)] = [
        (.full, 4, .zero), (.equal, 4, .seconds(4)), (.none, 4, .seconds(8)), (.equal, 1, .milliseconds(500)),
        (.equal, Int.max, .seconds(300)),
    ]

    @Test(arguments: bottoms)
    func jitterBottomsOut(jitter: Backoff.Jitter, attempt: Int, expected: Duration) {
        var random = BottomGenerator()
        let backoff = Backoff(base: .seconds(1), cap: .seconds(600), jitter: jitter)
        #expect(backoff.delay(afterAttempt: attempt, using: &random) == expected)
        // Retry-After still wins over the bottom of the range.
        #expect(backoff.delay(afterAttempt: attempt, retryAfter: .seconds(500), using: &random) == .seconds(500))
    }

    @Test(arguments: [Backoff.Jitter.full, .equal], [UInt64(1), 42, 0xDEAD_BEEF])
    func seededJitterStaysInRangeSpreadsAndRepeats(jitter: Backoff.Jitter, seed: UInt64) {
        let backoff = Backoff(base: .seconds(1), cap: .seconds(600), jitter: jitter)
        var first = RandomSource(seed: seed)
        var second = RandomSource(seed: seed)
        var distinct = Set<Duration>()
        for attempt in 1...12 {
            let base = Duration.seconds(min(600, 1 << (attempt - 1)))
            let low = jitter == .full ? Duration.zero : base / 2
            for _ in 0..<50 {
                let delay = backoff.delay(afterAttempt: attempt, using: &first)
                #expect(delay == backoff.delay(afterAttempt: attempt, using: &second))
                #expect(delay >= low && delay <= base, "attempt \(attempt): \(delay)")
                distinct.insert(delay)
            }
        }
        #expect(distinct.count > 500, "jitter should spread delays; got \(distinct.count) distinct of 600")
    }

    /// Random settings, attempts (the extremes included) and Retry-After values: the delay is always
    /// within `0...max(cap, retryAfterCap)` (each cut to the longest delay), at least the capped
    /// Retry-After, and never above the un-jittered delay unless Retry-After raised it.
    @Test(arguments: Backoff.Jitter.allCases)
    func propertiesHoldForRandomInputs(jitter: Backoff.Jitter) {
        var random = RandomSource(seed: 0xBAC0FF)
        let attempts = [Int.min, -1, 0, 1, 2, 31, 32, 62, 63, 64, 65, 1 << 32, Int.max - 1, Int.max]
        let durations: [Duration] = [
            .zero, .nanoseconds(1), .milliseconds(1), .seconds(1), .seconds(600), .seconds(86_399), .seconds(86_400),
            .seconds(86_401), .seconds(2_147_483_647), .seconds(Int64.max), .seconds(-1), .seconds(Int64.min),
        ]
        func randomDuration(_ random: inout RandomSource) -> Duration {
            switch UInt8.random(in: 0...2, using: &random) {
            case 0: durations.randomElement(using: &random)!
            case 1: .milliseconds(Int64.random(in: -1_000_000...200_000_000, using: &random))
            default: .seconds(Int64.random(in: Int64.min...Int64.max, using: &random))
            }
        }
        func clamped(_ duration: Duration) -> Duration { min(max(duration, .zero), Backoff.longestDelay) }

        for _ in 0..<5_000 {
            let base = randomDuration(&random)
            let cap = randomDuration(&random)
            let retryAfterCap: Duration? = Bool.random(using: &random) ? randomDuration(&random) : nil
            let retryAfter: Duration? = Bool.random(using: &random) ? randomDuration(&random) : nil
            let attempt =
                Bool.random(using: &random)
                ? attempts.randomElement(using: &random)! : Int.random(in: Int.min...Int.max, using: &random)
            let backoff = Backoff(base: base, cap: cap, retryAfterCap: retryAfterCap, jitter: jitter)

            let delay = backoff.delay(afterAttempt: attempt, retryAfter: retryAfter, using: &random)
            let effectiveCap = clamped(cap)
            let effectiveRetryAfterCap = clamped(retryAfterCap ?? cap)
            let floor = min(clamped(retryAfter ?? .zero), effectiveRetryAfterCap)
            let context =
                "base \(base), cap \(cap), retry-after \(String(describing: retryAfter)) capped at \(String(describing: retryAfterCap)), attempt \(attempt): \(delay)"
            #expect(delay >= .zero, "\(context)")
            #expect(delay <= max(effectiveCap, effectiveRetryAfterCap), "\(context)")
            #expect(delay >= floor, "\(context)")
            #expect(delay <= max(backoff.baseDelay(afterAttempt: attempt), floor), "\(context)")
            if retryAfterCap == nil {
                // The default: within [0, cap] and at least min(Retry-After, cap).
                #expect(delay <= effectiveCap && delay >= min(clamped(retryAfter ?? .zero), effectiveCap), "\(context)")
            }
        }
    }

    /// The base delay never decreases from one attempt to the next, and reaches the cap.
    @Test func baseDelayIsMonotonicAndReachesTheCap() {
        var random = RandomSource(seed: 5)
        for _ in 0..<200 {
            let base = Duration.milliseconds(Int64.random(in: 1...10_000, using: &random))
            let cap = Duration.milliseconds(Int64.random(in: 1...86_400_000, using: &random))
            let backoff = Backoff(base: base, cap: cap, jitter: .none)
            var previous = Duration.zero
            for attempt in 1...80 {
                let delay = backoff.baseDelay(afterAttempt: attempt)
                #expect(delay >= previous)
                previous = delay
            }
            #expect(previous == cap)
        }
    }

    /// A delay can always be added to a timestamp near today without overflow.
    @Test func delaysFitATimestamp() {
        var random = RandomSource(seed: 9)
        let now = Timestamp(milliseconds: 1_767_225_600_000)
        let backoff = Backoff(base: .seconds(Int64.max), cap: .seconds(Int64.max), retryAfterCap: .seconds(Int64.max))
        let delay = backoff.delay(afterAttempt: Int.max, retryAfter: .seconds(Int64.max), using: &random)
        #expect(delay == Backoff.longestDelay)
        #expect(now.adding(delay) == Timestamp(milliseconds: 1_767_225_600_000 + 86_400_000))
    }
}
