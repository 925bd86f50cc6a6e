import BatchGateCore
import Logging
import Synchronization

/// Turns: the work the scheduler gives a job (submit it, poll it, keep it observed), done only by the
/// replica holding the job's lease, with every vendor call made before the job's lock is taken.
extension JobEngine {
    /// One turn of a job: submit it if it has no upstream batch yet, otherwise poll it. Returns the delay
    /// until its next turn, or nil when it needs none here (finished, or another replica holds it).
    func turn(_ id: String) async -> Duration? {
        let next: Duration?
        do {
            guard try await leases.acquire(id) != nil else {
                pollFailures.withLock { _ = $0.removeValue(forKey: id) }
                return nil
            }
            next = try await work(id)
        } catch {
            logger.error("job turn failed", metadata: ["job": "\(id)", "error": "\(error)"])
            return configuration.retryBaseDelay * 5
        }
        if next == nil {
            pollFailures.withLock { _ = $0.removeValue(forKey: id) }
            await leases.release(id)
        }
        return next
    }

    private func work(_ id: String) async throws -> Duration? {
        guard let job = try await currentJob(id), job.isActive else { return nil }
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
    }

    /// Whether `fresh` is still the job a vendor call was made for: active, on the same provider and the
    /// same upstream batch (nil: not submitted yet).
    static func isStill(_ fresh: Job, on provider: String, batch: String?) -> Bool {
        fresh.isActive && fresh.provider == provider && fresh.providerBatchID == batch
    }

    func submit(_ job: Job, to provider: any BatchProvider) async throws -> Duration? {
        guard let input = try await store.input(jobID: job.id) else {
            logger.error("job has no stored input", metadata: ["job": "\(job.id)"])
            return nil
        }
        let webhookURL =
            provider.capabilities.receivesWebhooks
            ? "\(configuration.publicURL)/v1/providers/\(provider.name)/webhooks/\(job.inboundToken)" : nil
        let (result, sentAt) = await submitSafely(
            provider,
            Submission(jobID: job.id, input: input, webhookURL: webhookURL, earlierAttempts: job.history.count),
            unconfirmedSince: job.unconfirmedSubmitAt
        )
        let outcome: SubmitOutcome
        switch result {
        case .success(let value):
            outcome = value
        case .failure(let error):
            return try await submitFailed(job, provider, error, sentAt: sentAt)
        }
        let stored = try await updateJob(job.id, attempts: [attempt(job, "submit", outcome: "ok", batch: outcome.providerBatchID)]) { fresh in
            guard Self.isStill(fresh, on: job.provider, batch: nil) else { return nil }
            var updated = fresh
            updated.upstream = configuration.rules.submitted(fresh.upstream, outcome, at: now())
            if let observation = outcome.observation {
                updated.correlation.merge(observation.correlation) { _, new in new }
            }
            return updated
        }
        guard let stored else {
            await abandon(outcome.providerBatchID, of: job, at: provider)
            return .zero
        }
        return configuration.rules.nextTurn([stored.upstream], retries: []).map { delay($0, pollInterval: provider.pollInterval) }
    }

    /// A batch the vendor created for a job that moved on meanwhile (cancelled, migrated): nobody tracks
    /// it, so it is cancelled where the provider can.
    func abandon(_ batchID: String, of job: Job, at provider: any BatchProvider) async {
        logger.warning(
            "the job moved on while its batch was being created; abandoning the new batch",
            metadata: ["job": "\(job.id)", "provider": "\(provider.name)", "batch": "\(batchID)"]
        )
        guard provider.capabilities.canCancel else { return }
        do throws(ProviderError) {
            try await provider.cancel(providerBatchID: batchID)
        } catch {
            logger.warning("could not cancel an abandoned batch", metadata: ["job": "\(job.id)", "batch": "\(batchID)", "error": "\(error)"])
        }
    }

    /// After a failed submit: fall back to the route's next provider, retry later, or fail the job, as
    /// `UpstreamRules.submitFailed` decides.
    private func submitFailed(
        _ job: Job,
        _ provider: any BatchProvider,
        _ error: ProviderError,
        sentAt: Timestamp
    ) async throws -> Duration? {
        let record = attempt(job, "submit", outcome: error.code.rawValue, message: error.message)
        let fallback = fallbackProvider(for: job)
        let decision = configuration.rules.submitFailed(
            job.upstream,
            provider: job.provider,
            subject: "the batch",
            error: error,
            sentAt: sentAt,
            canFallBack: fallback != nil,
            at: now()
        )
        switch decision {
        case .fallBack(let reason):
            guard let fallback else { return nil }
            let entry = HistoryEntry(provider: job.provider, providerBatchID: nil, lifecycleStatus: .failed, reason: reason, at: now())
            try await updateJob(job.id, attempts: [record]) { fresh in
                guard Self.isStill(fresh, on: job.provider, batch: nil) else { return nil }
                return fresh.moved(to: fallback.name, kind: fallback.kind, entry)
            }
            return .zero
        case .retry(let batch, let after):
            try await updateJob(job.id, attempts: [record], touched: false) { fresh in
                guard Self.isStill(fresh, on: job.provider, batch: nil) else { return nil }
                var updated = fresh
                updated.submitAttempts = batch.submitAttempts
                updated.unconfirmedSubmitAt = batch.unconfirmedSubmitAt
                return updated
            }
            return delay(after, pollInterval: provider.pollInterval)
        case .failed(let batch):
            try await updateJob(job.id, attempts: [record]) { fresh in
                guard Self.isStill(fresh, on: job.provider, batch: nil) else { return nil }
                var updated = fresh
                updated.unconfirmedSubmitAt = batch.unconfirmedSubmitAt
                updated.state = JobStateMachine.finish(fresh.state, as: .failed, error: batch.state.error, at: now())
                return updated
            }
            return nil
        }
    }

    /// The route's next provider for `job` that can serve it, when it has one not tried yet.
    func fallbackProvider(for job: Job) -> (any BatchProvider)? {
        let tried = Set(job.history.map(\.provider) + [job.provider])
        guard let name = planner.fallback(route: job.route, tried: tried), let fallback = providers[name],
            fallback.capabilities.jobKinds.contains(job.kind)
        else { return nil }
        return fallback
    }

    /// Counts a failed poll of `job`'s upstream batch `slot` (a chunk's index, or -1); returns how many
    /// in a row have failed.
    func countPollFailure(_ jobID: String, slot: Int = -1) -> Int {
        pollFailures.withLock { failures in
            failures[jobID, default: [:]][slot, default: 0] += 1
            return failures[jobID]![slot]!
        }
    }

    /// Forgets the failed polls of `job`'s upstream batch `slot` after one succeeded.
    func clearPollFailures(_ jobID: String, slot: Int = -1) {
        pollFailures.withLock { failures in
            failures[jobID]?[slot] = nil
            if failures[jobID]?.isEmpty == true { failures[jobID] = nil }
        }
    }

    private func poll(_ job: Job, _ provider: any BatchProvider) async throws -> Duration? {
        guard let providerBatchID = job.providerBatchID else { return nil }
        let rules = configuration.rules
        let observation: ProviderObservation
        do {
            observation = try await provider.poll(providerBatchID: providerBatchID)
        } catch {
            logger.warning(
                "poll failed",
                metadata: ["job": "\(job.id)", "provider": "\(provider.name)", "error": "\(error)"]
            )
            let failure = rules.pollFailed(
                job.upstream,
                provider: provider.name,
                error: error,
                failuresInARow: countPollFailure(job.id),
                at: now()
            )
            let records =
                failure.recordAttempt ? [attempt(job, "poll", outcome: error.code.rawValue, batch: providerBatchID, message: error.message)] : []
            if failure.next == nil || !records.isEmpty {
                try await updateJob(job.id, attempts: records, touched: failure.next == nil) { fresh in
                    guard Self.isStill(fresh, on: job.provider, batch: providerBatchID) else { return nil }
                    var updated = fresh
                    if failure.next == nil {
                        updated.state = JobStateMachine.finish(fresh.state, as: .failed, error: failure.batch.state.error, at: now())
                    }
                    return updated
                }
            }
            return failure.next.map { delay($0, pollInterval: provider.pollInterval) }
        }
        clearPollFailures(job.id)

        var results: [ItemResult] = []
        let (polled, needsResults) = rules.polled(job.upstream, observation, at: now())
        if needsResults, let input = try await store.input(jobID: job.id) {
            do {
                results = try await provider.results(providerBatchID: providerBatchID, input: input)
            } catch {
                logger.warning("results unavailable", metadata: ["job": "\(job.id)", "error": "\(error)"])
                if case .retry(let after) = rules.resultsFailed(polled, error: error) {
                    return delay(after, pollInterval: provider.pollInterval)
                }
            }
        }
        let stored = try await updateJob(job.id, results: results) { fresh in
            guard Self.isStill(fresh, on: job.provider, batch: providerBatchID) else { return nil }
            var updated = fresh
            updated.state = JobStateMachine.apply(observation, to: fresh.state, at: now())
            updated.correlation.merge(observation.correlation) { _, new in new }
            return updated.state != fresh.state || updated.correlation != fresh.correlation ? updated : nil
        }
        return rules.nextTurn([(stored ?? job).upstream], retries: []).map { delay($0, pollInterval: provider.pollInterval) }
    }

    /// Submits, but first, when an earlier submit timed out, asks the provider whether that one created
    /// the batch after all, so a retry never makes a second upstream batch where the vendor can tell.
    /// Returns the outcome and when the submit was sent.
    func submitSafely(
        _ provider: any BatchProvider,
        _ submission: Submission,
        unconfirmedSince: Timestamp?
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
                        metadata: ["job": "\(submission.jobID)", "provider": "\(provider.name)"]
                    )
                }
            }
            return (.success(try await provider.submit(submission)), sentAt)
        } catch {
            return (.failure(error), sentAt)
        }
    }
}
