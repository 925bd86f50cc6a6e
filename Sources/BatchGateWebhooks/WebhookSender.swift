public import BatchGateCore
public import Logging
import Metrics
public import ServiceLifecycle
import Synchronization
import Tracing

/// Settings of the webhook sender.
public struct WebhookSenderConfiguration: Sendable {
    /// Most attempts in flight at once.
    public var concurrency: Int = 64
    /// Per-attempt limit: connect, send and receive. Cut to ``longestTimeout``.
    public var timeout: Duration = .seconds(30)
    /// Delay before the second attempt.
    public var initialBackoff: Duration = .seconds(1)
    /// Longest delay between attempts, `Retry-After` included.
    public var maxBackoff: Duration = .seconds(600)
    /// Jitter of retry delays; `equal` by default.
    public var jitter: Backoff.Jitter = .equal
    /// Longest sleep between checks of the outbox when nothing is due and nobody calls `wake()`.
    public var maxIdleInterval: Duration = .seconds(30)
    /// Pause after the outbox failed to answer, before asking again.
    public var outboxErrorPause: Duration = .seconds(1)
    /// Sent as `user-agent`.
    public var userAgent: String = "BatchGate-Webhooks/1.0"

    /// Defaults: 64 in flight, 30 s timeout, backoff 1 s doubling to 10 min, 30 s idle checks.
    public init() {}

    /// The timeout and backoff of `providers.yaml`'s `webhooks:` section; the rest stays at its default.
    ///
    /// `max_attempts` is not here: it is stamped on each `WebhookDelivery` when the event is queued.
    /// `allow_insecure_loopback` goes to the `WebhookURLPolicy`.
    public init(settings: WebhookSettings) {
        timeout = settings.timeout
        initialBackoff = settings.initialBackoff
        maxBackoff = settings.maxBackoff
    }

    /// The longest per-attempt timeout the sender uses: one hour. A longer `timeout` is cut to it.
    public static let longestTimeout: Duration = .seconds(3600)

    /// Time added to twice the timeout in ``claimLease``: covers the receiver's DNS lookup (at most
    /// 10 s with `SystemHostResolver`) and recording the attempt.
    public static let claimLeaseMargin: Duration = .seconds(60)

    /// The timeout each attempt is sent with: `timeout`, cut to ``longestTimeout``.
    public var attemptTimeout: Duration {
        Swift.min(timeout, Self.longestTimeout)
    }

    /// How long a delivery the sender claimed stays its own before the outbox offers it again:
    /// `2 × attemptTimeout + claimLeaseMargin`.
    ///
    /// An attempt takes at most the DNS lookup limit plus `attemptTimeout` (the transport counts time
    /// spent waiting for a connection towards it), so the claim outlives every attempt and a slow
    /// receiver never gets a second copy of a delivery while the first is still in flight. Derived from
    /// the timeout, so raising `webhooks.timeout` raises the lease with it.
    public var claimLease: Duration {
        Swift.max(attemptTimeout, .zero) * 2 + Self.claimLeaseMargin
    }

    /// The retry delays: `initialBackoff` doubling up to `maxBackoff` with `jitter`; a `Retry-After`
    /// raises a delay up to `maxBackoff`, never beyond.
    public var backoff: Backoff {
        Backoff(base: initialBackoff, cap: maxBackoff, jitter: jitter)
    }
}

/// Delivers client webhooks from a `WebhookOutbox`: claims due deliveries, sends them concurrently
/// (bounded), signs every attempt, re-checks the URL before every attempt and records the outcome.
/// Every claim is leased for `configuration.claimLease`, which outlasts any attempt.
///
/// Run it in the gateway's `ServiceGroup`. On graceful shutdown it stops claiming, lets attempts in
/// flight finish (each is bounded by `timeout` plus the DNS lookup limit) and returns; on task
/// cancellation the attempts in flight are cancelled and not recorded (their claims lapse in the outbox).
/// Call `wake()` after queueing a delivery so it goes out without waiting for the next check.
public final class WebhookSender<C: Clock>: Service, Sendable where C.Duration == Duration {
    private let outbox: any WebhookOutbox
    private let transport: any HTTPTransport
    private let policy: WebhookURLPolicy
    private let configuration: WebhookSenderConfiguration
    private let classifier: DeliveryClassifier
    private let clock: C
    private let now: @Sendable () -> Timestamp
    private let logger: Logger
    private let doorbell = WakeSignal()
    private let state = Mutex(LoopState())
    private let metrics = SenderMetrics()

    private struct LoopState {
        var running = false
        var stopping = false
        var inFlight = 0
    }

    /// A sender. `clock` paces sleeps and measures latency; `now` stamps attempts, signatures and
    /// retry times (it must agree with the outbox's notion of "due").
    public init(
        outbox: any WebhookOutbox,
        transport: any HTTPTransport,
        policy: WebhookURLPolicy,
        configuration: WebhookSenderConfiguration = WebhookSenderConfiguration(),
        clock: C,
        now: @escaping @Sendable () -> Timestamp = { Timestamp.now() },
        logger: Logger
    ) {
        precondition(configuration.concurrency >= 1, "webhook sender concurrency must be at least 1")
        self.outbox = outbox
        self.transport = transport
        self.policy = policy
        self.configuration = configuration
        self.classifier = DeliveryClassifier(backoff: configuration.backoff, timeout: configuration.attemptTimeout)
        self.clock = clock
        self.now = now
        self.logger = logger
    }

    /// Asks the sender to check the outbox now (a delivery was queued). Cheap; safe from any task.
    public func wake() {
        doorbell.signal()
    }

    /// Runs until graceful shutdown or cancellation. Running one sender twice at once is refused.
    public func run() async throws {
        let started = state.withLock { state -> Bool in
            guard !state.running else { return false }
            state.running = true
            state.stopping = false
            return true
        }
        guard started else {
            throw GatewayError(status: 500, code: "already_running", message: "This webhook sender is already running.")
        }
        defer { state.withLock { $0.running = false } }
        logger.debug("webhook sender started", metadata: ["concurrency": "\(configuration.concurrency)"])
        await withGracefulShutdownHandler {
            await withDiscardingTaskGroup { group in
                await self.loop(&group)
            }
        } onGracefulShutdown: {
            self.state.withLock { $0.stopping = true }
            self.doorbell.signal()
        }
        logger.debug("webhook sender stopped")
    }

    private var shouldStop: Bool {
        Task.isCancelled || state.withLock { $0.stopping }
    }

    private func loop(_ group: inout DiscardingTaskGroup) async {
        while !shouldStop {
            let free = configuration.concurrency - state.withLock { $0.inFlight }
            var filledEverySlot = false
            if free > 0 {
                let due: [WebhookDelivery]
                do {
                    due = try await outbox.claimDue(now: now(), limit: free, lease: configuration.claimLease)
                } catch {
                    logger.error("webhook outbox failed to hand out due deliveries", metadata: ["error": "\(error)"])
                    await waitForDoorbell(upTo: configuration.outboxErrorPause)
                    continue
                }
                if shouldStop && due.isEmpty { break }
                for delivery in due {
                    state.withLock { $0.inFlight += 1 }
                    group.addTask {
                        await self.attempt(delivery)
                        self.state.withLock { $0.inFlight -= 1 }
                        self.doorbell.signal()
                    }
                }
                filledEverySlot = due.count == free
                // More may be due right away: ask again before sleeping.
                if filledEverySlot { continue }
            }
            if free <= 0 {
                // Every slot is busy: a finishing attempt rings the doorbell.
                await waitForDoorbell(upTo: configuration.maxIdleInterval)
                continue
            }
            var wait = configuration.maxIdleInterval
            do {
                if let next = try await outbox.nextDueTime(now: now()) {
                    // A due time in the past here means the outbox offered nothing although something is
                    // due (claimed elsewhere, or clocks disagree): pause briefly instead of spinning.
                    let untilDue = Swift.max(now().duration(to: next), Self.minimumPause)
                    wait = Swift.min(wait, untilDue)
                }
            } catch {
                logger.error("webhook outbox failed to tell the next due time", metadata: ["error": "\(error)"])
                wait = Swift.min(wait, configuration.outboxErrorPause)
            }
            await waitForDoorbell(upTo: wait)
        }
    }

    private static var minimumPause: Duration { .milliseconds(20) }

    /// Sleeps until the doorbell rings, `duration` passes or the task is cancelled.
    private func waitForDoorbell(upTo duration: Duration) async {
        await doorbell.wait(timeout: duration, clock: clock)
    }

    /// One attempt of one delivery, recorded in the outbox unless the task was cancelled: a client span of
    /// the job's trace (`WebhookDelivery.traceParent`), whose context the receiver is sent as `traceparent`.
    func attempt(_ delivery: WebhookDelivery) async {
        await TraceContext.within(traceParent: delivery.traceParent) {
            await TraceContext.withSpan("webhook \(delivery.eventType)", ofKind: .client) { span in
                span?.attributes["batchgate.job"] = delivery.jobID
                span?.attributes["batchgate.delivery"] = delivery.id
                span?.attributes["batchgate.event_id"] = delivery.eventID
                span?.attributes["batchgate.attempt"] = delivery.attempt + 1
                await attempt(delivery, span: span)
            }
        }
    }

    private func attempt(_ delivery: WebhookDelivery, span: (any Span)?) async {
        let attemptNumber = delivery.attempt + 1
        let triedAt = now()
        let started = clock.now
        let result = await send(delivery, attempt: attemptNumber, at: triedAt)
        if Task.isCancelled {
            logger.debug(
                "webhook attempt interrupted by cancellation; not recorded",
                metadata: ["delivery_id": "\(delivery.id)", "job_id": "\(delivery.jobID)"]
            )
            return
        }
        let latency = started.duration(to: clock.now)
        var generator = SystemRandomNumberGenerator()
        let outcome = classifier.outcome(
            of: result,
            attemptNumber: attemptNumber,
            maxAttempts: delivery.maxAttempts,
            now: now(),
            random: &generator
        )
        var preview: String?
        if case .response(let response) = result { preview = DeliveryAttempt.preview(of: response.body) }
        let record = DeliveryAttempt(
            id: Identifier.make(prefix: "dla", at: triedAt),
            deliveryID: delivery.id,
            jobID: delivery.jobID,
            deliveryKey: delivery.deliveryKey,
            eventType: delivery.eventType,
            outcome: outcome,
            attemptNumber: attemptNumber,
            maxAttempts: delivery.maxAttempts,
            triedAt: triedAt,
            responseBodyPreview: preview,
            latency: latency
        )
        metrics.record(outcome, latency: latency)
        if let span {
            span.attributes["batchgate.delivery_status"] = outcome.attemptStatus.rawValue
            if let status = outcome.responseStatus { span.attributes["http.response.status_code"] = status }
            if case .delivered = outcome {} else { span.setStatus(SpanStatus(code: .error, message: outcome.errorMessage)) }
        }
        var metadata: Logger.Metadata = [
            "delivery_id": "\(delivery.id)", "job_id": "\(delivery.jobID)", "event_type": "\(delivery.eventType)",
            "attempt": "\(attemptNumber)/\(delivery.maxAttempts)", "status": "\(outcome.attemptStatus.rawValue)",
        ]
        if let status = outcome.responseStatus { metadata["response_status"] = "\(status)" }
        if let error = outcome.errorMessage { metadata["error"] = "\(error)" }
        switch outcome {
        case .delivered, .retry: logger.debug("webhook attempt", metadata: metadata)
        case .failedPermanently, .stopSubscription: logger.warning("webhook delivery given up", metadata: metadata)
        }
        do {
            try await outbox.record(record, for: delivery)
        } catch {
            metadata["record_error"] = "\(error)"
            logger.error("webhook outbox failed to record an attempt", metadata: metadata)
        }
    }

    private func send(_ delivery: WebhookDelivery, attempt: Int, at triedAt: Timestamp) async -> AttemptResult {
        if case .failure(let refusal) = await policy.resolveForSendingNamingTheAddress(delivery.url) {
            if let address = refusal.resolvedAddress {
                logger.debug(
                    "webhook receiver resolves to a forbidden address",
                    metadata: ["delivery_id": "\(delivery.id)", "job_id": "\(delivery.jobID)", "address": "\(address)"]
                )
            }
            return .urlRefused(refusal.error)
        }
        let body = delivery.body(attempt: attempt)
        var headers: [(name: String, value: String)] = [
            ("content-type", "application/json"),
            ("user-agent", configuration.userAgent),
        ]
        if let secretText = delivery.secret {
            let secret: WebhookSecret
            do {
                secret = try WebhookSecret(parsing: secretText)
            } catch {
                return .urlRefused(.invalid("webhook.secret", "The stored webhook secret is unusable: \(error.message)"))
            }
            headers += WebhookSigner(secret: secret).headers(
                id: delivery.eventID,
                timestamp: Self.unixSeconds(triedAt),
                body: body
            )
        } else {
            headers.append((WebhookSigner.idHeader, delivery.eventID))
            headers.append((WebhookSigner.timestampHeader, String(Self.unixSeconds(triedAt))))
        }
        let request = HTTPRequest(
            method: "POST",
            url: delivery.url,
            headers: headers,
            body: body,
            timeout: configuration.attemptTimeout
        )
        do {
            return .response(try await transport.send(request))
        } catch {
            if let refusal = policy.refusal(ofConnectionFailure: error, url: delivery.url) {
                // The transport names the address it refused; the recorded error, which the tenant
                // reads, does not.
                logger.debug(
                    "webhook receiver connected to a forbidden address",
                    metadata: ["delivery_id": "\(delivery.id)", "job_id": "\(delivery.jobID)", "detail": "\(error.message)"]
                )
                return .urlRefused(refusal)
            }
            return .transportFailure(error)
        }
    }
}

extension WebhookSender {
    static func unixSeconds(_ time: Timestamp) -> Int64 {
        time.milliseconds >= 0 ? time.milliseconds / 1000 : (time.milliseconds - 999) / 1000
    }
}

extension WebhookSender where C == ContinuousClock {
    /// A sender on the continuous clock and wall-clock time.
    public convenience init(
        outbox: any WebhookOutbox,
        transport: any HTTPTransport,
        policy: WebhookURLPolicy,
        configuration: WebhookSenderConfiguration = WebhookSenderConfiguration(),
        logger: Logger
    ) {
        self.init(
            outbox: outbox,
            transport: transport,
            policy: policy,
            configuration: configuration,
            clock: ContinuousClock(),
            logger: logger
        )
    }
}

/// `batchgate_webhook_attempts_total{outcome}` and `batchgate_webhook_delivery_latency_seconds`.
private struct SenderMetrics: Sendable {
    let delivered = Counter(label: "batchgate_webhook_attempts_total", dimensions: [("outcome", "delivered")])
    let retry = Counter(label: "batchgate_webhook_attempts_total", dimensions: [("outcome", "retry")])
    let failed = Counter(label: "batchgate_webhook_attempts_total", dimensions: [("outcome", "failed_permanently")])
    let latency = Metrics.Timer(label: "batchgate_webhook_delivery_latency_seconds", preferredDisplayUnit: .seconds)

    func record(_ outcome: DeliveryOutcome, latency duration: Duration) {
        switch outcome {
        case .delivered: delivered.increment()
        case .retry: retry.increment()
        case .failedPermanently, .stopSubscription: failed.increment()
        }
        let (seconds, attoseconds) = duration.components
        latency.recordNanoseconds(seconds * 1_000_000_000 + attoseconds / 1_000_000_000)
    }
}
