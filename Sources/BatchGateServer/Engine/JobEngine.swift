import BatchGateCore
import Logging
import NIOCore
import Synchronization

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
        /// Submit attempts to one provider before the job fails.
        var maxSubmitAttempts = 8
        /// Consecutive `not_found` polls before the job fails.
        var maxNotFoundPolls = 3
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
    let scheduler: PollScheduler<ContinuousClock>
    /// The jobs of streaming providers whose vendor connection is being kept open.
    let observers = StreamObservers()
    let configuration: Configuration
    let locks = KeyedLock()
    let leases: JobLeases
    /// Failed polls in a row, per job and upstream batch (a chunk's index, or -1): how far to back off.
    let pollFailures = Mutex<[String: [Int: Int]]>([:])
    /// Tells the webhook sender that deliveries were queued.
    private let deliveriesQueued = Mutex<(@Sendable () -> Void)?>(nil)
    let now: @Sendable () -> Timestamp
    let logger: Logger

    init(
        configuration: Configuration,
        store: any JobStore,
        providers: [String: any BatchProvider],
        routes: [RouteSettings],
        logger: Logger,
        now: @escaping @Sendable () -> Timestamp = { .now() }
    ) {
        self.configuration = configuration
        self.store = store
        self.providers = providers
        self.cache = JobCache()
        self.planner = RoutePlanner(routes: routes)
        self.renderer = BatchRenderer(publicURL: configuration.publicURL) { name in
            providers[name]?.capabilities.canCancel ?? false
        }
        self.scheduler = PollScheduler(clock: ContinuousClock(), logger: logger)
        self.leases = JobLeases(store: store, configuration: configuration.leases, now: now, logger: logger)
        self.logger = logger
        self.now = now
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
            scheduler.schedule(job.id, after: spread * Double.random(in: 0...1))
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
        let job = Job(
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
        let idempotency = command.idempotencyKey.map {
            IdempotencyRecord(tenant: command.tenant, key: $0, requestHash: command.requestHash)
        }
        let deliveries = try await deliveries(for: job, previous: nil)
        switch try await store.create(job, input: command.input, idempotency: idempotency, deliveries: deliveries) {
        case .created(let job):
            cache.put(job)
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

    /// The job, if it exists and belongs to `tenant`.
    func job(_ id: String, tenant: String) async throws -> Job {
        guard Identifier.isWellFormed(id, prefix: "bat") else { throw GatewayError.notFound("batch") }
        if let job = cache.job(id) {
            guard job.tenant == tenant else { throw GatewayError.notFound("batch") }
            return job
        }
        guard let job = try await store.job(id: id), job.tenant == tenant else { throw GatewayError.notFound("batch") }
        return cache.put(job)
    }

    /// The rendered batch object, from the cache when the job has not changed since last rendered.
    func renderedJob(_ id: String, tenant: String) async throws -> ByteBuffer {
        if let (job, body) = cache.rendered(id), job.tenant == tenant {
            if let body { return body }
            return try await rendering(job)
        }
        return try await rendering(try await job(id, tenant: tenant))
    }

    /// Renders `job` (with its webhook delivery summary) and keeps the rendering for its version.
    func rendering(_ job: Job) async throws -> ByteBuffer {
        // A delivery recorded while this renders invalidates it: the epoch keeps the stale rendering out.
        let epoch = cache.renderEpoch(job.id)
        let rendered = ByteBuffer(bytes: renderer.render(job, webhook: try await webhookView(job)))
        cache.storeRendering(job.id, version: job.version, epoch: epoch, body: rendered)
        return rendered
    }

    /// The job's subscription with how its delivery is going, or nil without a subscription.
    func webhookView(_ job: Job) async throws -> WebhookView? {
        guard let subscription = job.webhook else { return nil }
        let (summary, attempts) = try await store.webhookDelivery(jobID: job.id, recent: 10)
        return WebhookView(subscription: subscription, summary: summary, attempts: attempts)
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
            view = try await webhookView(next)!
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
                nextAttemptAt: created
            )
        }
    }

    // MARK: - Helpers

    /// The job as this replica last saw it, from the cache or the store.
    func currentJob(_ id: String) async throws -> Job? {
        if let cached = cache.job(id) { return cached }
        guard let stored = try await store.job(id: id) else { return nil }
        return cache.put(stored)
    }

    /// What became of one attempt to commit a change.
    enum CommitOutcome {
        case stored(Job)
        /// The event was stored before: nothing changed.
        case duplicate(Job)
        /// The job changed meanwhile: the cache holds the newer version now.
        case conflict
    }

    /// Commits `updated` as the next version of `job` (under this replica's lease on it, if it holds one)
    /// and caches it. A lease that another replica took over is forgotten and the change refused.
    func commitOnce(
        _ updated: Job,
        from job: Job,
        attempts: [ProviderAttemptRecord],
        results: [ItemResult] = [],
        replacesResults: Bool = false,
        event: ProviderEventRecord? = nil,
        touched: Bool = true
    ) async throws -> CommitOutcome {
        let nextJob = next(updated, from: job, touched: touched)
        let deliveries = try await deliveries(for: nextJob, previous: job)
        var results = results
        if nextJob.state.lifecycle.isTerminal && !job.state.lifecycle.isTerminal {
            results += try await finalRows(nextJob, adding: results, replacesResults: replacesResults)
        }
        switch try await store.apply(
            JobChange(
                job: nextJob,
                event: event,
                results: results,
                replacesResults: replacesResults,
                attempts: attempts,
                deliveries: deliveries,
                lease: leases.lease(job.id)
            )
        )
        {
        case .stored:
            if !deliveries.isEmpty { notifyDeliveriesQueued() }
            return .stored(cache.put(nextJob))
        case .duplicateEvent:
            return .duplicate(job)
        case .conflict:
            try await reload(job.id)
            return .conflict
        case .leaseLost:
            leases.forget(job.id)
            throw GatewayError(status: 503, code: "busy", message: "Another gateway replica works on this job now.")
        }
    }

    /// Commits `updated` as the next version of `job`; 503 `busy` when the job changed meanwhile.
    @discardableResult
    func commit(
        _ updated: Job,
        from job: Job,
        attempts: [ProviderAttemptRecord],
        results: [ItemResult] = [],
        replacesResults: Bool = false,
        event: ProviderEventRecord? = nil,
        touched: Bool = true
    ) async throws -> Job {
        switch try await commitOnce(
            updated,
            from: job,
            attempts: attempts,
            results: results,
            replacesResults: replacesResults,
            event: event,
            touched: touched
        )
        {
        case .stored(let stored), .duplicate(let stored): return stored
        case .conflict: throw GatewayError(status: 503, code: "busy", message: "The job changed meanwhile.")
        }
    }

    /// Conflicts in a row after which `updateJob` gives up.
    static let maxConflicts = 8

    /// Folds a change into the freshest version of job `id` and commits it: `change` gets the job as it
    /// is now and returns its next version, or nil when there is nothing to do (it may be called again
    /// after a conflict, so it must not have side effects). Holds the job's lock for the fold and the
    /// commit only, never across a vendor call. Returns the stored job, or nil when nothing was stored.
    @discardableResult
    func updateJob(
        _ id: String,
        attempts: [ProviderAttemptRecord] = [],
        results: [ItemResult] = [],
        replacesResults: Bool = false,
        event: ProviderEventRecord? = nil,
        touched: Bool = true,
        _ change: (Job) throws -> Job?
    ) async throws -> Job? {
        for _ in 0..<Self.maxConflicts {
            let outcome: CommitOutcome? = try await locks.withLock(id) {
                guard let fresh = try await currentJob(id), let updated = try change(fresh) else { return nil }
                return try await commitOnce(
                    updated,
                    from: fresh,
                    attempts: attempts,
                    results: results,
                    replacesResults: replacesResults,
                    event: event,
                    touched: touched
                )
            }
            switch outcome {
            case nil, .duplicate: return nil
            case .stored(let job): return job
            case .conflict: continue
            }
        }
        throw GatewayError(status: 503, code: "busy", message: "The job kept changing meanwhile; try again.")
    }

    /// What a job that has just finished still needs so every one of its items has a final row: a row still
    /// `pending` (stored, or among `incoming`) becomes `failed`, keeping the vendor's last error for it; an
    /// item with no row at all gets a `failed` one saying so.
    func finalRows(_ job: Job, adding incoming: [ItemResult], replacesResults: Bool) async throws -> [ItemResult] {
        guard let input = try await store.input(jobID: job.id) else { return [] }
        var latest: [Int: ItemResult] = [:]
        if !replacesResults {
            var after: Int?
            let pageSize = 1000
            while true {
                let page = try await store.results(jobID: job.id, afterIndex: after, limit: pageSize)
                for row in page { latest[row.index] = row }
                guard page.count == pageSize, let last = page.last else { break }
                after = last.index
            }
        }
        for row in incoming { latest[row.index] = row }
        let outcome = job.state.lifecycle.rawValue
        var final: [ItemResult] = []
        for index in 0..<input.itemCount {
            switch latest[index] {
            case nil:
                final.append(
                    ItemResult(
                        index: index,
                        key: ResultsPage.key(of: input, at: index),
                        status: .failed,
                        error: Self.missingRowError(job, index: index, outcome: outcome)
                    )
                )
            case var row? where row.status == .pending:
                row.status = .failed
                row.error =
                    row.error
                    ?? ItemError(code: "not_finished", message: "The batch ended \(outcome) before this item finished.")
                final.append(row)
            default:
                break
            }
        }
        return final
    }

    /// Why item `index` of a finished job has no row: its chunk was never accepted upstream (with the
    /// chunk's error), or the provider sent nothing for it.
    static func missingRowError(_ job: Job, index: Int, outcome: String) -> ItemError {
        if let chunk = job.chunks.first(where: { $0.offset <= index && index < $0.offset + $0.count }),
            chunk.providerBatchID == nil, chunk.state.lifecycle != .completed
        {
            return ItemError(
                code: chunk.state.error?.code ?? "not_submitted",
                message: chunk.state.error?.message ?? "Provider \(job.provider) never accepted this item's chunk."
            )
        }
        return ItemError(
            code: "no_result",
            message: "Provider \(job.provider) reported no result for this item before the batch ended \(outcome)."
        )
    }

    func next(_ updated: Job, from job: Job, touched: Bool) -> Job {
        var next = updated
        next.version = job.version + 1
        if touched { next.updatedAt = now() }
        return next
    }

    func reload(_ id: String) async throws {
        if let job = try await store.job(id: id) { cache.put(job) }
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
        interval * (1 + Double.random(in: -configuration.jitter...configuration.jitter))
    }

    /// The core's `Backoff` from `retryBaseDelay` to `maxRetryDelay` (equal jitter), never sooner than a
    /// `Retry-After`, which is itself capped at `maxRetryDelay`: a vendor cannot park a job for years.
    func backoff(attempt: Int, retryAfter: Duration?) -> Duration {
        var random = SystemRandomNumberGenerator()
        return Backoff(base: configuration.retryBaseDelay, cap: configuration.maxRetryDelay, jitter: .equal)
            .delay(afterAttempt: attempt, retryAfter: retryAfter, using: &random)
    }
}

extension ProviderError {
    /// A submit that failed this way may still have created the upstream batch: it timed out, or the vendor
    /// answered with something unreadable. The next attempt first asks the provider whether it did.
    var mayHaveCreated: Bool { code == .timeout || code == .badResponse }

    /// Whether a submit that failed this way is tried again (after asking, when it `mayHaveCreated`).
    var isRetryableSubmit: Bool { isRetryable || code == .badResponse }
}
