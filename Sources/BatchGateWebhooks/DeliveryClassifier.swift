public import BatchGateCore

/// What came back from one attempt, before it is judged.
public enum AttemptResult: Sendable {
    /// The receiver answered.
    case response(HTTPResponse)
    /// No answer (timeout, refused, reset, TLS, …).
    case transportFailure(TransportError)
    /// The URL was refused, or did not resolve, before anything was sent.
    case urlRefused(GatewayError)
}

/// Turns an attempt's result into its outcome. Pure: the sender's whole retry policy, testable without sockets.
///
/// - 2xx: delivered.
/// - 410: stop (fails permanently; the subscription is switched off).
/// - Any other status (3xx are not followed, 4xx, 429, 5xx) and every transport failure: retried after
///   the `Backoff`, honouring `Retry-After` up to the backoff's cap, until `maxAttempts`, then failed
///   permanently.
/// - A URL refused at send time (forbidden address): failed permanently at once. A host that did not
///   resolve is retried like a transport failure.
/// - A request the transport calls invalid will never succeed: failed permanently at once.
public struct DeliveryClassifier: Sendable {
    /// Delays between attempts, `Retry-After` included (capped at the backoff's `retryAfterCap`).
    public var backoff: Backoff
    /// The per-attempt time limit, named in timeout messages.
    public var timeout: Duration

    /// A classifier with the operator's settings.
    public init(backoff: Backoff, timeout: Duration) {
        self.backoff = backoff
        self.timeout = timeout
    }

    /// The outcome of attempt number `attemptNumber` (1-based) of `maxAttempts`, finished at `now`.
    public func outcome(
        of result: AttemptResult,
        attemptNumber: Int,
        maxAttempts: Int,
        now: Timestamp,
        random: inout some RandomNumberGenerator
    ) -> DeliveryOutcome {
        let status: Int?
        let message: String
        var retryAfter: Duration?
        switch result {
        case .response(let response):
            switch response.status {
            case 200..<300:
                return .delivered(status: response.status)
            case 410:
                return .stopSubscription(status: 410)
            case 300..<400:
                message = "HTTP \(response.status) (redirects are not followed)"
            default:
                message = "HTTP \(response.status)"
            }
            status = response.status
            retryAfter = response.header("retry-after").flatMap { RetryAfter.parse($0, now: now) }
        case .transportFailure(let error):
            status = nil
            switch error.code {
            case .timeout:
                message = "timeout after \(formatDuration(timeout))"
            case .connection, .cancelled:
                message = Self.connectionMessage(error.message)
            case .invalidRequest:
                return .failedPermanently(status: nil, error: "request refused by the HTTP client: \(error.message)")
            }
        case .urlRefused(let error):
            guard error.code == WebhookURLPolicy.unresolvableCode else {
                return .failedPermanently(status: nil, error: error.message)
            }
            status = nil
            message = error.message
        }
        guard attemptNumber < maxAttempts else {
            return .failedPermanently(status: status, error: message)
        }
        let delay = backoff.delay(afterAttempt: attemptNumber, retryAfter: retryAfter, using: &random)
        return .retry(status: status, error: message, at: now.adding(delay))
    }

    /// `connection refused` when that is what happened; `connection refused or unreachable` when the
    /// transport only knows the TCP connection failed; else `connection error: <transport detail>`.
    static func connectionMessage(_ detail: String) -> String {
        let lowered = detail.lowercased()
        if lowered.contains("connection refused") {
            return "connection refused"
        }
        if lowered.contains("couldn't connect") || lowered.contains("could not connect") {
            return "connection refused or unreachable"
        }
        return "connection error: \(detail)"
    }
}
