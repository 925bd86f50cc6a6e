import BatchGateCore
import Testing

@testable import BatchGateWebhooks

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
        Row(
            name: "503 third attempt of 5 waits 4s",
            result: response(503),
            attempt: 3,
            maxAttempts: 5,
            expected: .retry(status: 503, error: "HTTP 503", at: now.adding(.seconds(4)))
        ),
        Row(name: "503 on the last attempt", result: response(503), attempt: 3, expected: .failedPermanently(status: 503, error: "HTTP 503")),
        Row(
            name: "429 with Retry-After seconds",
            result: response(429, [("Retry-After", "120")]),
            expected: .retry(status: 429, error: "HTTP 429", at: now.adding(.seconds(120)))
        ),
        Row(
            name: "Retry-After beyond the cap",
            result: response(429, [("retry-after", "86400")]),
            expected: .retry(status: 429, error: "HTTP 429", at: now.adding(.seconds(600)))
        ),
        Row(
            name: "Retry-After of 68 years is capped",
            result: response(503, [("Retry-After", "2147483647")]),
            expected: .retry(status: 503, error: "HTTP 503", at: now.adding(.seconds(600)))
        ),
        Row(
            name: "Retry-After far beyond any integer is capped",
            result: response(429, [("Retry-After", "99999999999999999999999999")]),
            expected: .retry(status: 429, error: "HTTP 429", at: now.adding(.seconds(600)))
        ),
        Row(
            name: "Retry-After in year 9999 is capped",
            result: response(503, [("Retry-After", "Fri, 31 Dec 9999 23:59:59 GMT")]),
            expected: .retry(status: 503, error: "HTTP 503", at: now.adding(.seconds(600)))
        ),
        Row(
            name: "Retry-After in the past is ignored",
            result: response(503, [("Retry-After", "Sun, 06 Nov 1994 08:49:37 GMT")]),
            expected: .retry(status: 503, error: "HTTP 503", at: now.adding(.seconds(1)))
        ),
        Row(
            name: "negative Retry-After is ignored",
            result: response(503, [("Retry-After", "-30")]),
            expected: .retry(status: 503, error: "HTTP 503", at: now.adding(.seconds(1)))
        ),
        Row(
            name: "Retry-After as an HTTP date",
            result: response(503, [("Retry-After", "Thu, 01 Jan 2026 00:00:30 GMT")]),
            expected: .retry(status: 503, error: "HTTP 503", at: now.adding(.seconds(30)))
        ),
        Row(
            name: "unreadable Retry-After is ignored",
            result: response(503, [("Retry-After", "soon")]),
            expected: .retry(status: 503, error: "HTTP 503", at: now.adding(.seconds(1)))
        ),
        Row(
            name: "redirects are retried, not followed",
            result: response(301, [("Location", "https://elsewhere/")]),
            expected: .retry(status: 301, error: "HTTP 301 (redirects are not followed)", at: now.adding(.seconds(1)))
        ),
        Row(name: "404 retries", result: response(404), expected: .retry(status: 404, error: "HTTP 404", at: now.adding(.seconds(1)))),
        Row(
            name: "timeout",
            result: .transportFailure(TransportError(.timeout, "POST https://x: Operation timed out")),
            expected: .retry(status: nil, error: "timeout after 30s", at: now.adding(.seconds(1)))
        ),
        Row(
            name: "timeout on the last attempt",
            result: .transportFailure(TransportError(.timeout, "POST https://x: Operation timed out")),
            attempt: 3,
            expected: .failedPermanently(status: nil, error: "timeout after 30s")
        ),
        Row(
            name: "refused",
            result: .transportFailure(
                TransportError(
                    .connection,
                    "POST http://127.0.0.1:1: Failed to connect to 127.0.0.1 port 1 after 0 ms: Connection refused (curl error 7)"
                )
            ),
            expected: .retry(status: nil, error: "connection refused", at: now.adding(.seconds(1)))
        ),
        Row(
            name: "could not connect",
            result: .transportFailure(
                TransportError(
                    .connection,
                    "POST http://127.0.0.1:1: Failed to connect to 127.0.0.1 port 1 after 0 ms: Couldn't connect to server (curl error 7)"
                )
            ),
            expected: .retry(status: nil, error: "connection refused or unreachable", at: now.adding(.seconds(1)))
        ),
        Row(
            name: "reset",
            result: .transportFailure(TransportError(.connection, "POST https://x: Recv failure: Connection reset by peer (curl error 56)")),
            expected: .retry(
                status: nil,
                error: "connection error: POST https://x: Recv failure: Connection reset by peer (curl error 56)",
                at: now.adding(.seconds(1))
            )
        ),
        Row(
            name: "invalid request never succeeds",
            result: .transportFailure(TransportError(.invalidRequest, "bad header")),
            expected: .failedPermanently(status: nil, error: "request refused by the HTTP client: bad header")
        ),
        Row(
            name: "forbidden address at send time",
            result: .urlRefused(.invalid("webhook.url", "'https://h/' resolves to a private address.")),
            expected: .failedPermanently(status: nil, error: "'https://h/' resolves to a private address.")
        ),
        Row(
            name: "unresolvable host retries",
            result: .urlRefused(
                GatewayError(status: 400, code: WebhookURLPolicy.unresolvableCode, message: "'h' did not resolve: Name or service not known.")
            ),
            expected: .retry(status: nil, error: "'h' did not resolve: Name or service not known.", at: now.adding(.seconds(1)))
        ),
    ]

    @Test(arguments: rows)
    func classifies(row: Row) {
        var random = RandomSource(seed: 3)
        let classifier = DeliveryClassifier(
            backoff: Backoff(base: .seconds(1), cap: .seconds(600), jitter: .none),
            timeout: .seconds(30)
        )
        let outcome = classifier.outcome(
            of: row.result,
            attemptNumber: row.attempt,
            maxAttempts: row.maxAttempts,
            now: Self.now,
            random: &random
        )
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

@Suite struct WebhookSenderConfigurationTests {
    /// (configured timeout, attempt timeout, claim lease).
    static let leases: [(Duration, Duration, Duration)] = [
        (.seconds(30), .seconds(30), .seconds(120)),
        (.milliseconds(300), .milliseconds(300), .milliseconds(60_600)),
        (.seconds(600), .seconds(600), .seconds(1260)),
        (.seconds(3600), .seconds(3600), .seconds(7260)),
        (.seconds(3601), .seconds(3600), .seconds(7260)),
        (.milliseconds(Int64.max), .seconds(3600), .seconds(7260)),
        (.seconds(Int64.max), .seconds(3600), .seconds(7260)),
        (.zero, .zero, .seconds(60)),
        (.seconds(-5), .seconds(-5), .seconds(60)),
    ]

    @Test(arguments: leases)
    func theClaimLeaseOutlastsEveryAttempt(timeout: Duration, attemptTimeout: Duration, lease: Duration) {
        var configuration = WebhookSenderConfiguration()
        configuration.timeout = timeout
        #expect(configuration.attemptTimeout == attemptTimeout)
        #expect(configuration.claimLease == lease)
        // An attempt takes at most the DNS lookup limit plus its timeout.
        #expect(configuration.claimLease > max(configuration.attemptTimeout, .zero) + SystemHostResolver().timeout)
        // And the lease can be added to the wall clock.
        #expect(Timestamp(milliseconds: 1_767_225_600_000).adding(configuration.claimLease) > Timestamp(milliseconds: 1_767_225_600_000))
    }

    @Test func followsTheWebhooksSettings() {
        let settings = WebhookSettings(maxAttempts: 3, initialBackoff: .milliseconds(250), maxBackoff: .seconds(2), timeout: .seconds(5))
        let configuration = WebhookSenderConfiguration(settings: settings)
        #expect(configuration.timeout == .seconds(5))
        #expect(configuration.claimLease == .seconds(70))
        #expect(configuration.backoff == Backoff(base: .milliseconds(250), cap: .seconds(2), retryAfterCap: .seconds(2), jitter: .equal))
        var unjittered = configuration
        unjittered.jitter = .none
        #expect(unjittered.backoff.baseDelay(afterAttempt: 2) == .milliseconds(500))
        #expect(WebhookSenderConfiguration().backoff == Backoff(base: .seconds(1), cap: .seconds(600)))
    }
}
