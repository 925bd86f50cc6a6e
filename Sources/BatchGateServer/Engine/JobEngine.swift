import BatchGateCore
import Logging
import Synchronization
import Tracing

/// A validated create request.
struct CreateCommand: Sendable {
    var tenant: String
    var route: RouteSettings
    var input: JobInput
    var metadata: JSONValue
    var idempotencyKey: String?
    /// Digest of the request body, to refuse a reused idempotency key with another body.
    var requestHash: String
    var webhook: WebhookSubscription?
}

/// What became of an inbound vendor webhook.
enum WebhookReceipt: String, Sendable {
    /// Stored and folded into the job.
    case applied
    /// Stored; it was about an earlier upstream batch of the job, or the job is finished.
    case recorded
    /// Already stored: nothing changed.
    case duplicate
}

/// Carries out everything that happens to jobs: create, submit (with fallback), poll, vendor webhooks,
/// cancel. Each change is committed to the store before anyone is told of it.
///
/// A change is folded into the job's freshest version and committed with the store's version check,
/// re-reading on a conflict; the per-job lock only keeps one replica's commits of a job from racing each
/// other and is never held across a vendor call. Submits, polls and vendor connections of a job are made
/// only by the replica holding its lease (`JobLeases`).
final class JobEngine: Sendable {
    struct Configuration: Sendable {
        var publicURL: String
        /// Submit attempts, lost batches, fallback: what a vendor's answer does to an upstream batch.
        var rules = UpstreamRules()
        var retryBaseDelay: Duration = .seconds(1)
        var maxRetryDelay: Duration = .seconds(300)
        /// Spread of poll intervals, as a fraction of the interval.
        var jitter = 0.1
        /// Attempts per client webhook delivery.
        var webhookMaxAttempts = 8
        /// Streaming providers: the first reconnect waits this long, each further one twice as long.
        var reconnectBaseDelay: Duration = .milliseconds(250)
        /// Streaming providers: the longest wait between reconnects.
        var maxReconnectDelay: Duration = .seconds(30)
        /// Streaming providers: failed connects in a row after which the vendor's status is polled
        /// between reconnect attempts.
        var connectFailuresBeforePolling = 4
        /// Streaming providers: status polls that report a finished job while rows it counts have not
        /// arrived over a socket are held back this many times, so sockets get more chances to bring them.
        var heldTerminalPolls = 3
        /// Streaming providers: how often a turn checks that an observed job still has its observer.
        var observerRecheck: Duration = .seconds(15)
        /// Job leases: how long they last without a heartbeat, and how often it beats.
        var leases = JobLeases.Configuration()
    }

    let store: any JobStore
    let cache: JobCache
    let providers: [String: any BatchProvider]
    let planner: RoutePlanner
    let renderer: BatchRenderer
    /// What the routes read.
    let reads: BatchReads
    let scheduler: PollScheduler<GatewayClock>
    /// The jobs of streaming providers whose vendor connection is being kept open.
    let observers = StreamObservers()
    let configuration: Configuration
    let locks = KeyedLock()
    let leases: JobLeases
    /// Commits, leases and inbound webhooks, as metrics (vendor calls are metered by the providers).
    let metrics: GatewayMetrics
    /// Failed polls in a row, per job and upstream batch (a chunk's index, or -1): how far to back off.
    let pollFailures = Mutex<[String: [Int: Int]]>([:])
    /// Tells the webhook sender that deliveries were queued.
    private let deliveriesQueued = Mutex<(@Sendable () -> Void)?>(nil)
    let now: @Sendable () -> Timestamp
    /// Every random draw of the engine (poll jitter, backoff, spreading resumed jobs, weighted routes).
    let random: RandomSource
    /// What the engine waits on: turns, reconnects, heartbeats.
    let clock: GatewayClock
    let logger: Logger

    init(
        configuration: Configuration,
        store: any JobStore,
        providers: [String: any BatchProvider],
        routes: [RouteSettings],
        logger: Logger,
        now: @escaping @Sendable () -> Timestamp = { .now() },
        random: RandomSource = .system,
        clock: GatewayClock = .continuous
    ) {
        self.configuration = configuration
        self.store = store
        self.providers = providers
        self.cache = JobCache()
        self.planner = RoutePlanner(routes: routes, random: random)
        self.renderer = BatchRenderer(publicURL: configuration.publicURL) { name in
            providers[name]?.capabilities.canCancel ?? false
        }
        self.reads = BatchReads(store: store, cache: cache, renderer: renderer, providerNames: providers.keys.sorted())
        self.scheduler = PollScheduler(clock: clock, logger: logger)
        let metrics = GatewayMetrics(providers: providers.keys.sorted())
        self.metrics = metrics
        self.leases = JobLeases(store: store, configuration: configuration.leases, now: now, clock: clock, metrics: metrics, logger: logger)
        self.logger = logger
        self.now = now
        self.random = random
        self.clock = clock
    }

    // MARK: - Startup

    /// Marks this replica alive, then loads every active job from the store and schedules it, spread over
    /// its poll interval. A job another live replica holds is left to it at its first turn.
    func resume() async throws -> Int {
        try await leases.heartbeat()
        let jobs = try await store.activeJobs()
        for job in jobs {
            cache.put(job)
            let provider = providers[job.provider]
            let interval = provider?.pollInterval ?? .seconds(15)
            // Submits and vendor connections are resumed within a second; polls spread over their interval.
            let spread = job.providerBatchID == nil || provider is any StreamingBatchProvider ? min(interval, .seconds(1)) : interval
            scheduler.schedule(job.id, after: spread * random.fraction())
        }
        return jobs.count
    }

    // MARK: - Client operations

    /// Stores a new job (pending) and queues its submit. Returns the job and whether it already existed.
    func create(_ command: CreateCommand) async throws -> (job: Job, replayed: Bool) {
        let providerName = planner.choose(route: command.route, idempotencyKey: command.idempotencyKey)
        guard let provider = providers[providerName] else {
            throw GatewayError(status: 503, code: "provider_unavailable", message: "Provider \(providerName) is not configured.")
        }
        try provider.validate(command.input)
        let created = now()
        var job = Job(
            id: Identifier.make(prefix: "bat", at: created),
            tenant: command.tenant,
            kind: command.input.kind,
            route: command.route.name,
            provider: provider.name,
            providerKind: provider.kind,
            state: JobState(progress: BatchProgress(total: command.input.itemCount)),
            createdAt: created,
            metadata: command.metadata,
            webhook: command.webhook,
            inboundSecret: Identifier.secret()
        )
        job.traceParent = TraceContext.current()
        let idempotency = command.idempotencyKey.map {
            IdempotencyRecord(tenant: command.tenant, key: $0, requestHash: command.requestHash)
        }
        let deliveries = try await deliveries(for: job, previous: nil)
        let outcome = try await metrics.commit("create") {
            try await store.create(job, input: command.input, idempotency: idempotency, deliveries: deliveries)
        }
        switch outcome {
        case .created(let job):
            cache.put(job)
            // The creating replica takes the lease before another one's claim of unleased jobs can.
            _ = try? await leases.acquire(job.id)
            scheduler.runSoon(job.id)
            if !deliveries.isEmpty { notifyDeliveriesQueued() }
            return (job, false)
        case .existing(let job):
            return (cache.put(job), true)
        case .keyReused:
            throw GatewayError(
                status: 422,
                code: "idempotency_key_reused",
                message: "This Idempotency-Key was already used with a different request body."
            )
        }
    }

    /// Sets what to call when deliveries were queued (the webhook sender's wake-up).
    func onDeliveriesQueued(_ action: @escaping @Sendable () -> Void) {
        deliveriesQueued.withLock { $0 = action }
    }

    func notifyDeliveriesQueued() {
        deliveriesQueued.withLock { $0 }?()
    }

    /// The client webhooks `next` causes compared with `previous`, each with the batch object as it is now.
    func deliveries(for next: Job, previous: Job?) async throws -> [WebhookDelivery] {
        let events = WebhookEvents.caused(by: next, previous: previous)
        guard let subscription = next.webhook, !events.isEmpty else { return [] }
        let view: WebhookView
        if previous == nil {
            view = WebhookView(subscription: subscription, summary: WebhookDeliverySummary(), attempts: [])
        } else {
            view = try await reads.webhookView(next)!
        }
        let data = renderer.render(next, webhook: view)
        let created = now()
        return events.map { event in
            WebhookDelivery(
                id: Identifier.make(prefix: "dlv", at: created),
                jobID: next.id,
                tenant: next.tenant,
                deliveryKey: event.key,
                eventType: event.type.rawValue,
                eventID: Identifier.make(prefix: "evt", at: created),
                createdAt: created,
                url: subscription.url,
                secret: subscription.secret,
                data: data,
                attempt: 0,
                maxAttempts: configuration.webhookMaxAttempts,
                nextAttemptAt: created,
                traceParent: next.traceParent
            )
        }
    }

    // MARK: - Helpers

    /// Runs work for a job (a turn, a vendor connection) with the job and its provider on every log line,
    /// as a span of the job's trace: the trace of the request that created it (`Job.traceParent`).
    func withinJobScope<T>(_ jobID: String, operation: String, _ body: () async -> T) async -> T {
        let job = cache.job(jobID)
        return await LogScope.withJob(jobID, provider: job?.provider) {
            await TraceContext.within(traceParent: job?.traceParent) {
                await TraceContext.withSpan("job \(operation)") { span in
                    span?.attributes["batchgate.job"] = jobID
                    span?.attributes["batchgate.provider"] = job?.provider
                    return await body()
                }
            }
        }
    }

    func attempt(_ job: Job, _ operation: String, outcome: String, batch: String? = nil, message: String? = nil) -> ProviderAttemptRecord {
        ProviderAttemptRecord(
            jobID: job.id,
            provider: job.provider,
            operation: operation,
            outcome: outcome,
            providerBatchID: batch,
            message: message,
            at: now()
        )
    }

    func jittered(_ interval: Duration) -> Duration {
        interval * (1 + configuration.jitter * (2 * random.fraction() - 1))
    }

    /// The core's `Backoff` from `retryBaseDelay` to `maxRetryDelay` (equal jitter), never sooner than a
    /// `Retry-After`, which is itself capped at `maxRetryDelay`: a vendor cannot park a job for years.
    func backoff(attempt: Int, retryAfter: Duration?) -> Duration {
        var random = random
        return Backoff(base: configuration.retryBaseDelay, cap: configuration.maxRetryDelay, jitter: .equal)
            .delay(afterAttempt: attempt, retryAfter: retryAfter, using: &random)
    }

    /// The duration of a turn delay the rules asked for, drawn with this engine's jitter.
    func delay(_ delay: TurnDelay, pollInterval: Duration) -> Duration {
        switch delay {
        case .immediately: .zero
        case .pollInterval: jittered(pollInterval)
        case .retry(let attempt, let retryAfter): backoff(attempt: attempt, retryAfter: retryAfter)
        case .atLeastPollInterval(let other): max(self.delay(other, pollInterval: pollInterval), jittered(pollInterval))
        }
    }
}
