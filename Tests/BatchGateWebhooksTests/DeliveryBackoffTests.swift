import BatchGateCore
import Testing

@testable import BatchGateWebhooks

/// SplitMix64: a small seeded generator, so jitter is reproducible.
struct SeededGenerator: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// Always returns `UInt64.max`, which draws the top of any range.
struct TopGenerator: RandomNumberGenerator {
    mutating func next() -> UInt64 { .max }
}

@Suite struct DeliveryBackoffTests {
    struct Row: Sendable, CustomStringConvertible {
        var attempt: Int
        var initial: Duration = .seconds(1)
        var max: Duration = .seconds(600)
        var retryAfter: Duration? = nil
        var expected: Duration
        var description: String { "after \(attempt), initial \(initial), max \(max), retry-after \(String(describing: retryAfter))" }
    }

    static let withoutJitter: [Row] = [
        Row(attempt: 1, expected: .seconds(1)),
        Row(attempt: 2, expected: .seconds(2)),
        Row(attempt: 3, expected: .seconds(4)),
        Row(attempt: 8, expected: .seconds(128)),
        Row(attempt: 10, expected: .seconds(512)),
        Row(attempt: 11, expected: .seconds(600)),
        Row(attempt: 1000, expected: .seconds(600)),
        Row(attempt: Int.max, expected: .seconds(600)),
        Row(attempt: 0, expected: .seconds(1)),
        Row(attempt: -3, expected: .seconds(1)),
        Row(attempt: 3, initial: .milliseconds(250), expected: .seconds(1)),
        Row(attempt: 1, initial: .seconds(1200), expected: .seconds(600)),
        Row(attempt: 1, retryAfter: .seconds(30), expected: .seconds(30)),
        Row(attempt: 5, retryAfter: .seconds(1), expected: .seconds(16)),
        Row(attempt: 2, retryAfter: .seconds(3600), expected: .seconds(600)),
        Row(attempt: 2, retryAfter: .zero, expected: .seconds(2)),
        Row(attempt: 1, initial: .zero, expected: .zero),
        Row(attempt: 3, initial: .seconds(-5), expected: .zero),
        Row(attempt: 60, initial: .seconds(Int64.max / 2), max: .seconds(Int64.max / 2), expected: .nanoseconds(Int64.max / 4)),
    ]

    @Test(arguments: withoutJitter)
    func exponentialCappedAndRetryAfterAsAFloor(row: Row) {
        var random = SeededGenerator(seed: 1)
        let delay = DeliveryBackoff(jitter: .none).delay(
            afterAttempt: row.attempt, initial: row.initial, max: row.max, retryAfter: row.retryAfter, random: &random)
        #expect(delay == row.expected)
    }

    /// (jitter, attempt, expected): the top of each jitter range is the un-jittered delay, exactly.
    static let tops: [(DeliveryBackoff.Jitter, Int, Duration)] = [
        (.full, 1, .seconds(1)),
        (.full, 4, .seconds(8)),
        (.equal, 1, .seconds(1)),
        (.equal, 12, .seconds(600)),
        (.none, 5, .seconds(16)),
    ]

    @Test(arguments: tops)
    func jitterTopsOutAtTheBaseDelay(jitter: DeliveryBackoff.Jitter, attempt: Int, expected: Duration) {
        var random = TopGenerator()
        let delay = DeliveryBackoff(jitter: jitter).delay(
            afterAttempt: attempt, initial: .seconds(1), max: .seconds(600), retryAfter: nil, random: &random)
        #expect(delay == expected)
    }

    /// The bottom of each range is reachable: full jitter gets near zero, equal jitter near half.
    @Test(arguments: [(DeliveryBackoff.Jitter.full, Duration.zero), (.equal, .seconds(4))])
    func jitterReachesTheBottomOfItsRange(jitter: DeliveryBackoff.Jitter, bottom: Duration) {
        var random = SeededGenerator(seed: 99)
        var lowest = Duration.seconds(600)
        for _ in 0..<2000 {
            lowest = min(lowest, DeliveryBackoff(jitter: jitter).delay(
                afterAttempt: 4, initial: .seconds(1), max: .seconds(600), retryAfter: nil, random: &random))
        }
        #expect(lowest >= bottom && lowest < bottom + .milliseconds(50), "lowest \(lowest)")
    }

    @Test(arguments: [DeliveryBackoff.Jitter.full, .equal], [UInt64(1), 42, 0xDEAD_BEEF])
    func seededJitterStaysInRangeAndRepeats(jitter: DeliveryBackoff.Jitter, seed: UInt64) {
        let backoff = DeliveryBackoff(jitter: jitter)
        var first = SeededGenerator(seed: seed)
        var second = SeededGenerator(seed: seed)
        var distinct = Set<Duration>()
        for attempt in 1...12 {
            let base = Duration.seconds(min(600, 1 << (attempt - 1)))
            let low = jitter == .full ? Duration.zero : base / 2
            for _ in 0..<50 {
                let delay = backoff.delay(afterAttempt: attempt, initial: .seconds(1), max: .seconds(600), retryAfter: nil, random: &first)
                let again = backoff.delay(afterAttempt: attempt, initial: .seconds(1), max: .seconds(600), retryAfter: nil, random: &second)
                #expect(delay == again)
                #expect(delay >= low && delay <= base, "attempt \(attempt): \(delay)")
                distinct.insert(delay)
            }
        }
        #expect(distinct.count > 500, "jitter should spread delays; got \(distinct.count) distinct of 600")
    }

    @Test(arguments: [DeliveryBackoff.Jitter.none, .full, .equal])
    func retryAfterIsAFloorWhateverTheJitter(jitter: DeliveryBackoff.Jitter) {
        var random = SeededGenerator(seed: 7)
        for _ in 0..<100 {
            let delay = DeliveryBackoff(jitter: jitter).delay(
                afterAttempt: 2, initial: .seconds(1), max: .seconds(60), retryAfter: .seconds(45), random: &random)
            #expect(delay >= .seconds(45) && delay <= .seconds(60))
        }
    }
}

@Suite struct DeliveryClassifierTests {
    static let now = Timestamp(milliseconds: 1_767_225_600_000)  // 2026-01-01T00:00:00Z

    struct Row: Sendable, CustomStringConvertible {
        var name: String
        var result: AttemptResult
        var attempt = 1
        var maxAttempts = 3
        var expected: DeliveryOutcome
        var description: String { name }
    }

    static func response(_ status: Int, _ headers: [(name: String, value: String)] = []) -> AttemptResult {
        .response(HTTPResponse(status: status, headers: headers, body: []))
    }

    static let rows: [Row] = [
        Row(name: "200", result: response(200), expected: .delivered(status: 200)),
        Row(name: "204 on the last attempt", result: response(204), attempt: 3, expected: .delivered(status: 204)),
        Row(name: "410 stops", result: response(410), expected: .stopSubscription(status: 410)),
        Row(name: "503 retries after 1s", result: response(503), expected: .retry(status: 503, error: "HTTP 503", at: now.adding(.seconds(1)))),
        Row(name: "503 third attempt of 5 waits 4s", result: response(503), attempt: 3, maxAttempts: 5, expected: .retry(status: 503, error: "HTTP 503", at: now.adding(.seconds(4)))),
        Row(name: "503 on the last attempt", result: response(503), attempt: 3, expected: .failedPermanently(status: 503, error: "HTTP 503")),
        Row(
            name: "429 with Retry-After seconds", result: response(429, [("Retry-After", "120")]),
            expected: .retry(status: 429, error: "HTTP 429", at: now.adding(.seconds(120)))),
        Row(
            name: "Retry-After beyond the cap", result: response(429, [("retry-after", "86400")]),
            expected: .retry(status: 429, error: "HTTP 429", at: now.adding(.seconds(600)))),
        Row(
            name: "Retry-After as an HTTP date", result: response(503, [("Retry-After", "Thu, 01 Jan 2026 00:00:30 GMT")]),
            expected: .retry(status: 503, error: "HTTP 503", at: now.adding(.seconds(30)))),
        Row(
            name: "unreadable Retry-After is ignored", result: response(503, [("Retry-After", "soon")]),
            expected: .retry(status: 503, error: "HTTP 503", at: now.adding(.seconds(1)))),
        Row(
            name: "redirects are retried, not followed", result: response(301, [("Location", "https://elsewhere/")]),
            expected: .retry(status: 301, error: "HTTP 301 (redirects are not followed)", at: now.adding(.seconds(1)))),
        Row(name: "404 retries", result: response(404), expected: .retry(status: 404, error: "HTTP 404", at: now.adding(.seconds(1)))),
        Row(
            name: "timeout", result: .transportFailure(TransportError(.timeout, "POST https://x: Operation timed out")),
            expected: .retry(status: nil, error: "timeout after 30s", at: now.adding(.seconds(1)))),
        Row(
            name: "timeout on the last attempt", result: .transportFailure(TransportError(.timeout, "POST https://x: Operation timed out")),
            attempt: 3, expected: .failedPermanently(status: nil, error: "timeout after 30s")),
        Row(
            name: "refused",
            result: .transportFailure(TransportError(.connection, "POST http://127.0.0.1:1: Failed to connect to 127.0.0.1 port 1 after 0 ms: Connection refused (curl error 7)")),
            expected: .retry(status: nil, error: "connection refused", at: now.adding(.seconds(1)))),
        Row(
            name: "could not connect",
            result: .transportFailure(TransportError(.connection, "POST http://127.0.0.1:1: Failed to connect to 127.0.0.1 port 1 after 0 ms: Couldn't connect to server (curl error 7)")),
            expected: .retry(status: nil, error: "connection refused or unreachable", at: now.adding(.seconds(1)))),
        Row(
            name: "reset", result: .transportFailure(TransportError(.connection, "POST https://x: Recv failure: Connection reset by peer (curl error 56)")),
            expected: .retry(status: nil, error: "connection error: POST https://x: Recv failure: Connection reset by peer (curl error 56)", at: now.adding(.seconds(1)))),
        Row(
            name: "invalid request never succeeds", result: .transportFailure(TransportError(.invalidRequest, "bad header")),
            expected: .failedPermanently(status: nil, error: "request refused by the HTTP client: bad header")),
        Row(
            name: "forbidden address at send time", result: .urlRefused(.invalid("webhook.url", "'https://h/' resolves to a private address (10.0.0.1)")),
            expected: .failedPermanently(status: nil, error: "'https://h/' resolves to a private address (10.0.0.1)")),
        Row(
            name: "unresolvable host retries",
            result: .urlRefused(GatewayError(status: 400, code: WebhookURLPolicy.unresolvableCode, message: "'h' did not resolve: Name or service not known.")),
            expected: .retry(status: nil, error: "'h' did not resolve: Name or service not known.", at: now.adding(.seconds(1)))),
    ]

    @Test(arguments: rows)
    func classifies(row: Row) {
        var random = SeededGenerator(seed: 3)
        let classifier = DeliveryClassifier(
            initialBackoff: .seconds(1), maxBackoff: .seconds(600), timeout: .seconds(30), backoff: DeliveryBackoff(jitter: .none))
        let outcome = classifier.outcome(
            of: row.result, attemptNumber: row.attempt, maxAttempts: row.maxAttempts, now: Self.now, random: &random)
        #expect(outcome == row.expected)
    }

    @Test func outcomesMapToAttemptFields() {
        let retry = DeliveryOutcome.retry(status: 503, error: "HTTP 503", at: Self.now)
        #expect(retry.attemptStatus == .scheduledRetry)
        #expect(retry.nextRetryAt == Self.now)
        #expect(!retry.isFinal)
        let gone = DeliveryOutcome.stopSubscription(status: 410)
        #expect(gone.attemptStatus == .failedPermanently)
        #expect(gone.responseStatus == 410)
        #expect(gone.errorMessage?.contains("HTTP 410") == true)
        #expect(gone.isFinal)
        #expect(DeliveryOutcome.delivered(status: 200).errorMessage == nil)
        #expect(DeliveryAttemptStatus.scheduledRetry.rawValue == "scheduled_retry")
        #expect(DeliveryAttemptStatus.failedPermanently.rawValue == "failed_permanently")
    }

    static let previews: [([UInt8], String?)] = [
        ([], nil),
        (Array("ok".utf8), "ok"),
        (Array(String(repeating: "a", count: 600).utf8), String(repeating: "a", count: 500)),
        (Array((String(repeating: "a", count: 499) + "é€").utf8), String(repeating: "a", count: 499) + "é"),
        (Array(String(repeating: "😀", count: 3000).utf8), String(repeating: "😀", count: 500)),
        (Array(("a" + String(repeating: "😀", count: 3000)).utf8), "a" + String(repeating: "😀", count: 499)),
        ([0x6F, 0x6B, 0xFF, 0x21], "ok\u{FFFD}!"),
    ]

    @Test(arguments: previews)
    func previewsKeepAtMost500Characters(body: [UInt8], expected: String?) {
        let preview = DeliveryAttempt.preview(of: body)
        #expect(preview == expected)
        #expect((preview?.count ?? 0) <= 500)
    }

    @Test func previewCutsAHugeBodyOnASequenceBoundary() {
        // A family emoji is one character of 25 bytes, so the 8000-byte window holds fewer than 500
        // characters and ends inside a scalar: the cut must step back, not emit U+FFFD.
        let family = "\u{1F468}\u{200D}\u{1F469}\u{200D}\u{1F467}\u{200D}\u{1F466}"
        #expect(family.utf8.count == 25)
        let body = Array((" " + String(repeating: family, count: 400)).utf8)
        let preview = DeliveryAttempt.preview(of: body)
        #expect(preview?.unicodeScalars.contains("\u{FFFD}") == false)
        #expect(preview?.count == 321)
        #expect(preview.map { Array($0.utf8) } == Array(body[0..<7997]))
    }
}
