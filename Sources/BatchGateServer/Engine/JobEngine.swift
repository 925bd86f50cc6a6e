import BatchGateCore
import Hummingbird
import Logging
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
/// cancel. Each change is committed to the store before anyone is told of it, and changes to one job
/// are serialised.
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
    private let pollFailures = Mutex<[String: Int]>([:])
    /// Tells the webhook sender that deliveries were queued.
    private let deliveriesQueued = Mutex<(@Sendable () -> Void)?>(nil)
    let now: @Sendable () -> Timestamp
    let logger: Logger

    init(
        configuration: Configuration, store: any JobStore, providers: [String: any BatchProvider],
        routes: [RouteSettings], logger: Logger, now: @escaping @Sendable () -> Timestamp = { .now() }
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
        self.logger = logger
        self.now = now
    }

    // MARK: - Startup

    /// Loads every active job from the store and schedules it, spread over its poll interval.
    func resume() async throws -> Int {
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
            id: Identifier.make(prefix: "bat", at: created), tenant: command.tenant, kind: command.input.kind,
            route: command.route.name, provider: provider.name, providerKind: provider.kind,
            state: JobState(progress: BatchProgress(total: command.input.itemCount)), createdAt: created,
            metadata: command.metadata, webhook: command.webhook, inboundSecret: Identifier.secret())
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
                status: 422, code: "idempotency_key_reused",
                message: "This Idempotency-Key was already used with a different request body.")
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
                id: Identifier.make(prefix: "dlv", at: created), jobID: next.id, tenant: next.tenant, deliveryKey: event.key,
                eventType: event.type.rawValue, eventID: Identifier.make(prefix: "evt", at: created), createdAt: created,
                url: subscription.url, secret: subscription.secret, data: data, attempt: 0,
                maxAttempts: configuration.webhookMaxAttempts, nextAttemptAt: created)
        }
    }

    /// Asks the provider to stop the job. 409 when it is finished or its provider cannot cancel.
    func cancel(_ id: String, tenant: String) async throws -> Job {
        let job = try await job(id, tenant: tenant)
        return try await locks.withLock(id) {
            let job = cache.job(id) ?? job
            guard let provider = providers[job.provider], !job.state.lifecycle.isTerminal,
                provider.capabilities.canCancel
            else {
                throw GatewayError(
                    status: 409, code: "not_cancellable",
                    message: job.state.lifecycle.isTerminal
                        ? "The batch is already \(job.state.lifecycle.rawValue)."
                        : "Provider \(job.provider) cannot cancel a batch.")
            }
            guard let providerBatchID = job.providerBatchID else {
                var updated = job
                updated.state = JobStateMachine.finish(
                    job.state, as: .cancelled, error: BatchError(code: "cancelled", message: "Cancelled before it was submitted."),
                    at: now())
                return try await commit(updated, from: job, attempts: [])
            }
            do throws(ProviderError) {
                try await provider.cancel(providerBatchID: providerBatchID)
            } catch {
                throw GatewayError(
                    status: 502, code: "provider_error", message: "Provider \(job.provider) refused the cancel: \(error.message)")
            }
            var updated = job
            updated.controlRequest = ControlRequest(action: "cancel", requestedAt: now())
            let stored = try await commit(
                updated, from: job,
                attempts: [attempt(job, "cancel", outcome: "ok", batch: providerBatchID)])
            scheduler.runSoon(id)
            return stored
        }
    }

    /// Moves a non-terminal job to another provider of the same kind, keeping its id: cancels the
    /// upstream work where the old provider can, stops tracking it, and resubmits the stored input.
    /// The earlier attempt is kept in `history`; progress counts restart with the new provider
    /// (`percent` never goes down). The stored input must pass the new provider's checks (409
    /// `not_migratable` naming why otherwise). With `dryRun`, every check is made and nothing changes.
    func migrate(
        _ id: String, tenant: String, to providerName: String, reason: String = "migrated", dryRun: Bool = false
    ) async throws -> Job {
        let found = try await job(id, tenant: tenant)
        guard let target = providers[providerName] else {
            throw GatewayError.invalid("provider", "Unknown provider '\(providerName)'; configured: \(providers.keys.sorted().joined(separator: ", ")).")
        }
        guard target.capabilities.jobKinds.contains(found.kind) else {
            throw GatewayError.invalid("provider", "Provider \(providerName) (\(target.kind)) cannot serve \(found.kind.rawValue).")
        }
        if let input = try await store.input(jobID: id) {
            do throws(GatewayError) {
                try target.validate(input)
            } catch {
                throw GatewayError(
                    status: 409, code: "not_migratable",
                    message: "Provider \(providerName) cannot take this batch's input: \(error.message)", field: error.field)
            }
        }
        return try await locks.withLock(id) {
            let job = cache.job(id) ?? found
            guard !job.state.lifecycle.isTerminal else {
                throw GatewayError(
                    status: 409, code: "not_migratable", message: "The batch is already \(job.state.lifecycle.rawValue).")
            }
            guard job.provider != providerName else {
                throw GatewayError(status: 409, code: "not_migratable", message: "The batch is already on provider \(providerName).")
            }
            if dryRun { return job }
            var attempts: [ProviderAttemptRecord] = []
            let batchIDs = job.chunks.isEmpty ? [job.providerBatchID].compactMap { $0 } : job.chunks.compactMap(\.providerBatchID)
            var cancelled = false
            if let old = providers[job.provider], old.capabilities.canCancel, !batchIDs.isEmpty {
                cancelled = true
                for batchID in batchIDs {
                    do throws(ProviderError) {
                        try await old.cancel(providerBatchID: batchID)
                        attempts.append(attempt(job, "cancel", outcome: "ok", batch: batchID))
                    } catch {
                        cancelled = false
                        attempts.append(attempt(job, "cancel", outcome: error.code.rawValue, batch: batchID, message: error.message))
                    }
                }
            }
            var updated = job
            updated.history.append(
                HistoryEntry(
                    provider: job.provider, providerBatchID: batchIDs.first, lifecycleStatus: .cancelled,
                    reason: cancelled || batchIDs.isEmpty
                        ? "\(reason) to \(providerName)"
                        : "\(reason) to \(providerName); the upstream batch could not be cancelled and is no longer tracked",
                    at: now()))
            updated.provider = target.name
            updated.providerKind = target.kind
            updated.providerBatchID = nil
            updated.chunks = []
            updated.submitAttempts = 0
            updated.state.providerStatus = nil
            updated.state.phases = []
            updated.state.progress = BatchProgress(total: job.state.progress.total, percent: job.state.progress.percent)
            // The new provider does every item again: results of the earlier attempt are dropped with it.
            let stored = try await commit(updated, from: job, attempts: attempts, replacesResults: true)
            scheduler.runSoon(id)
            return stored
        }
    }

    // MARK: - Vendor webhooks

    /// Verifies the per-job token, stores the event durably and folds it into the job.
    ///
    /// An event announcing a terminal state, or one that disagrees with the stored state, is only
    /// taken as a hint: a poll confirms it before the job finishes.
    func receiveWebhook(provider providerName: String, token: String, body: [UInt8]) async throws -> WebhookReceipt {
        let unauthorized = GatewayError(status: 401, code: "invalid_token", message: "Unknown or invalid webhook token.")
        guard let dot = token.firstIndex(of: "."), let provider = providers[providerName] else { throw unauthorized }
        let id = String(token[..<dot])
        let secret = String(token[token.index(after: dot)...])
        guard Identifier.isWellFormed(id, prefix: "bat") else { throw unauthorized }
        let found: Job?
        if let cached = cache.job(id) { found = cached } else { found = try await store.job(id: id) }
        guard let stored = found, Identifier.constantTimeEquals(secret, stored.inboundSecret),
            stored.provider == providerName || stored.history.contains(where: { $0.provider == providerName })
        else { throw unauthorized }

        let event: InboundEvent
        do {
            event = try provider.decodeWebhook(body)
        } catch {
            throw GatewayError(status: 400, code: "invalid_payload", message: error.message)
        }

        return try await locks.withLock(id) {
            let job = cache.job(id) ?? stored
            let record = ProviderEventRecord(
                jobID: id, provider: providerName, providerBatchID: event.providerBatchID, eventType: event.eventType,
                dedupeKey: event.dedupeKey, receivedAt: now(), payload: body)
            var updated = job
            let current = job.provider == providerName && job.providerBatchID == event.providerBatchID
                && !job.state.lifecycle.isTerminal
            var needsConfirmation = false
            if current {
                var observation = event.observation
                needsConfirmation = observation.lifecycle.isTerminal || observation.lifecycle.rank < job.state.lifecycle.rank
                if observation.lifecycle.isTerminal {
                    observation.lifecycle = .running
                    observation.providerStatus = job.state.providerStatus ?? observation.providerStatus
                    observation.error = nil
                }
                updated.state = JobStateMachine.apply(observation, to: job.state, at: now())
                updated.correlation.merge(observation.correlation) { _, new in new }
            }
            let nextJob = next(updated, from: job, touched: updated.state != job.state)
            let deliveries = try await deliveries(for: nextJob, previous: job)
            let outcome = try await store.apply(JobChange(job: nextJob, event: record, deliveries: deliveries))
            switch outcome {
            case .duplicateEvent:
                return .duplicate
            case .conflict:
                try await reload(id)
                throw GatewayError(status: 503, code: "busy", message: "The job changed meanwhile; retry the delivery.")
            case .stored:
                cache.put(nextJob)
                if !deliveries.isEmpty { notifyDeliveriesQueued() }
                if needsConfirmation { scheduler.runSoon(id) }
                return current ? .applied : .recorded
            }
        }
    }

    // MARK: - Turns (submit and poll)

    /// One turn of a job: submit it if it has no upstream batch yet, otherwise poll it.
    /// Returns the delay until its next turn, or nil when it needs none.
    func turn(_ id: String) async -> Duration? {
        await locks.withLock(id) {
            do {
                let found: Job?
                if let cached = cache.job(id) { found = cached } else { found = try await store.job(id: id) }
                guard let job = found, job.isActive else { return nil }
                guard let provider = providers[job.provider] else {
                    logger.error("job's provider is not configured", metadata: ["job": "\(id)", "provider": "\(job.provider)"])
                    return .seconds(60)
                }
                if let size = provider.capabilities.maxItemsPerBatch, !job.chunks.isEmpty || job.state.progress.total > size {
                    return try await chunkedTurn(job, provider, chunkSize: size)
                }
                if let streaming = provider as? any StreamingBatchProvider {
                    return try await streamingTurn(job, streaming)
                }
                if job.providerBatchID == nil {
                    return try await submit(job, to: provider)
                }
                return try await poll(job, provider)
            } catch {
                logger.error("job turn failed", metadata: ["job": "\(id)", "error": "\(error)"])
                return configuration.retryBaseDelay * 5
            }
        }
    }

    func submit(_ job: Job, to provider: any BatchProvider) async throws -> Duration? {
        guard let input = try await store.input(jobID: job.id) else {
            logger.error("job has no stored input", metadata: ["job": "\(job.id)"])
            return nil
        }
        let webhookURL = provider.capabilities.receivesWebhooks
            ? "\(configuration.publicURL)/v1/providers/\(provider.name)/webhooks/\(job.inboundToken)" : nil
        let (result, sentAt) = await submitSafely(
            provider, Submission(jobID: job.id, input: input, webhookURL: webhookURL, earlierAttempts: job.history.count),
            unconfirmedSince: job.unconfirmedSubmitAt)
        let outcome: SubmitOutcome
        switch result {
        case .success(let value):
            outcome = value
        case .failure(let error):
            var failed = job
            if error.mayHaveCreated { failed.unconfirmedSubmitAt = job.unconfirmedSubmitAt ?? sentAt }
            return try await submitFailed(failed, error)
        }
        var updated = job
        updated.providerBatchID = outcome.providerBatchID
        updated.submitAttempts = 0
        updated.unconfirmedSubmitAt = nil
        if let observation = outcome.observation {
            updated.state = JobStateMachine.apply(observation, to: job.state, at: now())
            updated.correlation.merge(observation.correlation) { _, new in new }
        }
        let stored = try await commit(
            updated, from: job, attempts: [attempt(job, "submit", outcome: "ok", batch: outcome.providerBatchID)])
        return stored.isActive ? jittered(provider.pollInterval) : nil
    }

    /// After a failed submit: fall back to the route's next provider, retry later, or fail the job.
    private func submitFailed(_ job: Job, _ error: ProviderError) async throws -> Duration? {
        let record = attempt(job, "submit", outcome: error.code.rawValue, message: error.message)
        if error.isRetryableSubmit {
            let tried = Set(job.history.map(\.provider) + [job.provider])
            if let fallbackName = planner.fallback(route: job.route, tried: tried),
                let fallback = providers[fallbackName], fallback.capabilities.jobKinds.contains(job.kind)
            {
                var updated = job
                updated.history.append(
                    HistoryEntry(
                        provider: job.provider, providerBatchID: nil, lifecycleStatus: .failed,
                        reason: "fallback: submit failed (\(error.description))", at: now()))
                updated.provider = fallback.name
                updated.providerKind = fallback.kind
                updated.submitAttempts = 0
                updated.unconfirmedSubmitAt = nil
                _ = try await commit(updated, from: job, attempts: [record])
                return .zero
            }
            if job.submitAttempts + 1 < configuration.maxSubmitAttempts {
                var updated = job
                updated.submitAttempts += 1
                _ = try await commit(updated, from: job, attempts: [record], touched: false)
                return backoff(attempt: updated.submitAttempts, retryAfter: error.retryAfter)
            }
        }
        var updated = job
        updated.state = JobStateMachine.finish(
            job.state, as: .failed,
            error: BatchError(
                code: error.isRetryableSubmit ? "submit_failed" : "submit_rejected",
                message: "Provider \(job.provider) did not accept the batch: \(error.message)",
                providerCode: error.providerCode),
            at: now())
        _ = try await commit(updated, from: job, attempts: [record])
        return nil
    }

    private func poll(_ job: Job, _ provider: any BatchProvider) async throws -> Duration? {
        guard let providerBatchID = job.providerBatchID else { return nil }
        let observation: ProviderObservation
        do {
            observation = try await provider.poll(providerBatchID: providerBatchID)
        } catch {
            let failures = pollFailures.withLock { failures -> Int in
                failures[job.id, default: 0] += 1
                return failures[job.id]!
            }
            logger.warning(
                "poll failed", metadata: ["job": "\(job.id)", "provider": "\(provider.name)", "error": "\(error)"])
            if error.code == .badResponse && failures == 1 {
                // An answer that makes no sense is shown on the job (`provider_attempts`) the first time in a row.
                _ = try await commit(
                    job, from: job, attempts: [attempt(job, "poll", outcome: error.code.rawValue, batch: providerBatchID, message: error.message)],
                    touched: false)
            }
            if error.code == .notFound && failures >= configuration.maxNotFoundPolls {
                var updated = job
                updated.state = JobStateMachine.finish(
                    job.state, as: .failed,
                    error: BatchError(code: "provider_lost", message: "Provider \(provider.name) no longer knows batch \(providerBatchID)."),
                    at: now())
                _ = try await commit(updated, from: job, attempts: [])
                pollFailures.withLock { _ = $0.removeValue(forKey: job.id) }
                return nil
            }
            return backoff(attempt: failures, retryAfter: error.retryAfter)
        }
        pollFailures.withLock { _ = $0.removeValue(forKey: job.id) }

        var updated = job
        updated.state = JobStateMachine.apply(observation, to: job.state, at: now())
        updated.correlation.merge(observation.correlation) { _, new in new }
        var results: [ItemResult] = []
        if updated.state.lifecycle.isTerminal, let input = try await store.input(jobID: job.id) {
            do {
                results = try await provider.results(providerBatchID: providerBatchID, input: input)
            } catch {
                if updated.state.lifecycle == .completed && error.isRetryable {
                    // Finish only with the results in hand; try again shortly.
                    return backoff(attempt: 1, retryAfter: error.retryAfter)
                }
                logger.warning("results unavailable", metadata: ["job": "\(job.id)", "error": "\(error)"])
            }
        }
        guard updated.state != job.state || updated.correlation != job.correlation else {
            return jittered(provider.pollInterval)
        }
        let stored = try await commit(updated, from: job, attempts: [], results: results)
        return stored.isActive ? jittered(provider.pollInterval) : nil
    }

    // MARK: - Chunked jobs

    /// How many chunks of one job are submitted or polled at once.
    static let chunkConcurrency = 4

    /// One turn of a job split into several upstream batches: submit the chunks that have no batch yet,
    /// poll the running ones, fetch results of the ones that finished, and fold them into the job.
    private func chunkedTurn(_ job: Job, _ provider: any BatchProvider, chunkSize: Int) async throws -> Duration? {
        guard let input = try await store.input(jobID: job.id) else { return nil }
        var updated = job
        if updated.chunks.isEmpty {
            updated.chunks = UpstreamChunk.split(itemCount: input.itemCount, size: chunkSize)
        }
        var attempts: [ProviderAttemptRecord] = []
        var results: [ItemResult] = []
        var retryDelay: Duration?

        // Submits, a few at a time.
        let unsubmitted = updated.chunks.indices.filter {
            updated.chunks[$0].providerBatchID == nil && !updated.chunks[$0].state.lifecycle.isTerminal
        }
        let chunksBeforeSubmit = updated.chunks
        let submits = await forEachConcurrently(unsubmitted) { index -> (Result<SubmitOutcome, ProviderError>, Timestamp) in
            let chunk = chunksBeforeSubmit[index]
            return await self.submitSafely(
                provider, Submission(jobID: job.id, input: input.slice(offset: chunk.offset, count: chunk.count), webhookURL: nil),
                unconfirmedSince: chunk.unconfirmedSubmitAt)
        }
        let nothingSubmittedYet = updated.chunks.allSatisfy { $0.providerBatchID == nil }
        var firstRetryableFailure: ProviderError?
        for (index, (result, sentAt)) in submits {
            switch result {
            case .success(let outcome):
                updated.chunks[index].providerBatchID = outcome.providerBatchID
                updated.chunks[index].submitAttempts = 0
                updated.chunks[index].unconfirmedSubmitAt = nil
                if let observation = outcome.observation {
                    updated.chunks[index].state = JobStateMachine.apply(observation, to: updated.chunks[index].state, at: now())
                }
                attempts.append(attempt(job, "submit", outcome: "ok", batch: outcome.providerBatchID, message: "chunk \(index)"))
            case .failure(let error):
                attempts.append(attempt(job, "submit", outcome: error.code.rawValue, message: "chunk \(index): \(error.message)"))
                updated.chunks[index].submitAttempts += 1
                if error.mayHaveCreated {
                    updated.chunks[index].unconfirmedSubmitAt = updated.chunks[index].unconfirmedSubmitAt ?? sentAt
                }
                if error.isRetryableSubmit && updated.chunks[index].submitAttempts < configuration.maxSubmitAttempts {
                    firstRetryableFailure = firstRetryableFailure ?? error
                    let delay = backoff(attempt: updated.chunks[index].submitAttempts, retryAfter: error.retryAfter)
                    retryDelay = min(retryDelay ?? delay, delay)
                } else {
                    updated.chunks[index].state = JobStateMachine.finish(
                        updated.chunks[index].state, as: .failed,
                        error: BatchError(
                            code: error.isRetryableSubmit ? "submit_failed" : "submit_rejected",
                            message: "Provider \(job.provider) did not accept chunk \(index): \(error.message)",
                            providerCode: error.providerCode),
                        at: now())
                }
            }
        }
        // Before any chunk is upstream, a retryable failure moves the whole job to the route's fallback.
        if nothingSubmittedYet, let error = firstRetryableFailure, updated.chunks.allSatisfy({ $0.providerBatchID == nil }) {
            let tried = Set(job.history.map(\.provider) + [job.provider])
            if let fallbackName = planner.fallback(route: job.route, tried: tried), let fallback = providers[fallbackName],
                fallback.capabilities.jobKinds.contains(job.kind)
            {
                var moved = job
                moved.history.append(
                    HistoryEntry(
                        provider: job.provider, providerBatchID: nil, lifecycleStatus: .failed,
                        reason: "fallback: submit failed (\(error.description))", at: now()))
                moved.provider = fallback.name
                moved.providerKind = fallback.kind
                moved.chunks = []
                moved.submitAttempts = 0
                _ = try await commit(moved, from: job, attempts: attempts)
                return .zero
            }
        }

        // Polls, and results of chunks that finished.
        let justSubmitted = Set(submits.map(\.0))
        let running = updated.chunks.indices.filter {
            updated.chunks[$0].providerBatchID != nil && !updated.chunks[$0].state.lifecycle.isTerminal
                && !justSubmitted.contains($0)
        }
        let chunksBeforePoll = updated.chunks
        let polls = await forEachConcurrently(running) { index -> (JobState, [ItemResult])? in
            let chunk = chunksBeforePoll[index]
            guard let batchID = chunk.providerBatchID,
                let observation = try? await provider.poll(providerBatchID: batchID)
            else { return nil }
            let state = JobStateMachine.apply(observation, to: chunk.state, at: self.now())
            guard state.lifecycle.isTerminal else { return (state, []) }
            let slice = input.slice(offset: chunk.offset, count: chunk.count)
            guard let items = try? await provider.results(providerBatchID: batchID, input: slice) else {
                // Finish the chunk only with its results in hand; try again next turn.
                return state.lifecycle == .completed ? nil : (state, [])
            }
            return (state, items.map { item in
                var item = item
                item.index += chunk.offset
                return item
            })
        }
        for (index, outcome) in polls {
            guard let (state, items) = outcome else { continue }
            updated.chunks[index].state = state
            results += items
        }

        updated.providerBatchID = updated.chunks.lazy.compactMap(\.providerBatchID).first
        let observation = UpstreamChunk.aggregate(updated.chunks)
        updated.state = JobStateMachine.apply(observation, to: job.state, at: now())
        if updated.state.lifecycle.isTerminal {
            // Items of chunks that never ran are failed results, so every item has one.
            for chunk in updated.chunks where chunk.state.lifecycle != .completed && chunk.providerBatchID == nil {
                let slice = input.slice(offset: chunk.offset, count: chunk.count)
                for index in 0..<chunk.count {
                    results.append(
                        ItemResult(
                            index: chunk.offset + index, key: ResultsPage.key(of: slice, at: index), status: .failed,
                            error: ItemError(code: chunk.state.error?.code ?? "not_submitted", message: chunk.state.error?.message ?? "")))
                }
            }
        }
        guard updated != job else { return retryDelay ?? jittered(provider.pollInterval) }
        let stored = try await commit(updated, from: job, attempts: attempts, results: results)
        guard stored.isActive else { return nil }
        let waiting = stored.chunks.contains { $0.providerBatchID == nil && !$0.state.lifecycle.isTerminal }
        return waiting ? (retryDelay ?? configuration.retryBaseDelay) : jittered(provider.pollInterval)
    }

    /// Submits, but first, when an earlier submit timed out, asks the provider whether that one created
    /// the batch after all, so a retry never makes a second upstream batch where the vendor can tell.
    /// Returns the outcome and when the submit was sent.
    private func submitSafely(
        _ provider: any BatchProvider, _ submission: Submission, unconfirmedSince: Timestamp?
    ) async -> (Result<SubmitOutcome, ProviderError>, Timestamp) {
        let sentAt = now()
        do throws(ProviderError) {
            if let since = unconfirmedSince {
                switch try await provider.findSubmitted(submission, since: since) {
                case .found(let batchID):
                    logger.info("a submit that timed out had created its batch", metadata: ["job": "\(submission.jobID)", "batch": "\(batchID)"])
                    return (.success(SubmitOutcome(providerBatchID: batchID, observation: nil)), sentAt)
                case .notFound:
                    break
                case .unknown:
                    logger.warning(
                        "resubmitting after a timeout; the provider cannot tell whether the first submit created a batch",
                        metadata: ["job": "\(submission.jobID)", "provider": "\(provider.name)"])
                }
            }
            return (.success(try await provider.submit(submission)), sentAt)
        } catch {
            return (.failure(error), sentAt)
        }
    }

    /// Runs `body` for each element with at most `chunkConcurrency` at once; results in input order.
    private func forEachConcurrently<T: Sendable>(
        _ indices: [Int], _ body: @escaping @Sendable (Int) async -> T
    ) async -> [(Int, T)] {
        await withTaskGroup(of: (Int, T).self) { group in
            var results: [(Int, T)] = []
            var next = 0
            while next < indices.count || !group.isEmpty {
                while next < indices.count && next - results.count < Self.chunkConcurrency {
                    let index = indices[next]
                    group.addTask { (index, await body(index)) }
                    next += 1
                }
                if let result = await group.next() { results.append(result) }
            }
            return results.sorted { $0.0 < $1.0 }
        }
    }

    // MARK: - Helpers

    /// Commits `updated` as the next version of `job` and caches it.
    @discardableResult
    func commit(
        _ updated: Job, from job: Job, attempts: [ProviderAttemptRecord], results: [ItemResult] = [],
        replacesResults: Bool = false, event: ProviderEventRecord? = nil, touched: Bool = true
    ) async throws -> Job {
        let nextJob = next(updated, from: job, touched: touched)
        let deliveries = try await deliveries(for: nextJob, previous: job)
        var results = results
        if nextJob.state.lifecycle.isTerminal && !job.state.lifecycle.isTerminal {
            results += try await finalRows(nextJob, adding: results, replacesResults: replacesResults)
        }
        switch try await store.apply(
            JobChange(
                job: nextJob, event: event, results: results, replacesResults: replacesResults, attempts: attempts,
                deliveries: deliveries))
        {
        case .stored:
            if !deliveries.isEmpty { notifyDeliveriesQueued() }
            return cache.put(nextJob)
        case .duplicateEvent:
            return job
        case .conflict:
            try await reload(job.id)
            throw GatewayError(status: 503, code: "busy", message: "The job changed meanwhile.")
        }
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
                        index: index, key: ResultsPage.key(of: input, at: index), status: .failed,
                        error: ItemError(
                            code: "no_result", message: "Provider \(job.provider) reported no result for this item before the batch ended \(outcome).")))
            case var row? where row.status == .pending:
                row.status = .failed
                row.error = row.error
                    ?? ItemError(code: "not_finished", message: "The batch ended \(outcome) before this item finished.")
                final.append(row)
            default:
                break
            }
        }
        return final
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
            jobID: job.id, provider: job.provider, operation: operation, outcome: outcome, providerBatchID: batch,
            message: message, at: now())
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
