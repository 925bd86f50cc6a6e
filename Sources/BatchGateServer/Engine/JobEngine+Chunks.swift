import BatchGateCore

/// Jobs larger than their provider's batch limit, split into chunks that are separate upstream batches.
extension JobEngine {
    /// How many chunks of one job are submitted or polled at once.
    static let chunkConcurrency = 4

    /// What one chunk's poll brought.
    private enum ChunkPoll: Sendable {
        /// The chunk's new state, with its results when it finished.
        case observed(JobState, [ItemResult])
        /// It finished but its results could not be read yet: try again next turn.
        case resultsPending
        case failed(ProviderError)
    }

    /// One turn of a job split into several upstream batches: submit the chunks that have no batch yet,
    /// poll the running ones, fetch results of the ones that finished, and fold them into the job.
    ///
    /// Every vendor call is made first; then the chunks this turn changed are folded into the job's
    /// freshest version (a chunk that changed meanwhile is left as it is there).
    func chunkedTurn(_ job: Job, _ provider: any BatchProvider, chunkSize: Int) async throws -> Duration? {
        guard let input = try await store.input(jobID: job.id) else { return nil }
        var updated = job
        if updated.chunks.isEmpty {
            updated.chunks = UpstreamChunk.split(itemCount: input.itemCount, size: chunkSize)
        }
        var attempts: [ProviderAttemptRecord] = []
        var results: [ItemResult] = []
        var retryDelay: Duration?
        func retry(after delay: Duration) { retryDelay = min(retryDelay ?? delay, delay) }

        // Submits, a few at a time.
        let unsubmitted = updated.chunks.indices.filter {
            updated.chunks[$0].providerBatchID == nil && !updated.chunks[$0].state.lifecycle.isTerminal
        }
        let chunksBeforeSubmit = updated.chunks
        let submits = await forEachConcurrently(unsubmitted) { index -> (Result<SubmitOutcome, ProviderError>, Timestamp) in
            let chunk = chunksBeforeSubmit[index]
            return await self.submitSafely(
                provider,
                Submission(jobID: job.id, input: input.slice(offset: chunk.offset, count: chunk.count), webhookURL: nil),
                unconfirmedSince: chunk.unconfirmedSubmitAt
            )
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
                    retry(after: backoff(attempt: updated.chunks[index].submitAttempts, retryAfter: error.retryAfter))
                } else {
                    updated.chunks[index].state = JobStateMachine.finish(
                        updated.chunks[index].state,
                        as: .failed,
                        error: BatchError(
                            code: error.isRetryableSubmit ? "submit_failed" : "submit_rejected",
                            message: "Provider \(job.provider) did not accept chunk \(index): \(error.message)",
                            providerCode: error.providerCode
                        ),
                        at: now()
                    )
                }
            }
        }
        // Before any chunk is upstream, a retryable failure moves the whole job to the route's fallback.
        if nothingSubmittedYet, let error = firstRetryableFailure, updated.chunks.allSatisfy({ $0.providerBatchID == nil }),
            let fallback = fallbackProvider(for: job)
        {
            let entry = HistoryEntry(
                provider: job.provider,
                providerBatchID: nil,
                lifecycleStatus: .failed,
                reason: "fallback: submit failed (\(error.description))",
                at: now()
            )
            try await updateJob(job.id, attempts: attempts) { fresh in
                guard fresh.isActive, fresh.provider == job.provider, fresh.chunks.allSatisfy({ $0.providerBatchID == nil }) else {
                    return nil
                }
                return Self.moved(fresh, to: fallback, entry)
            }
            return .zero
        }

        // Polls, and results of chunks that finished.
        let justSubmitted = Set(submits.map(\.0))
        let running = updated.chunks.indices.filter {
            updated.chunks[$0].providerBatchID != nil && !updated.chunks[$0].state.lifecycle.isTerminal
                && !justSubmitted.contains($0)
        }
        let chunksBeforePoll = updated.chunks
        let polls = await forEachConcurrently(running) { index -> ChunkPoll in
            let chunk = chunksBeforePoll[index]
            guard let batchID = chunk.providerBatchID else { return .resultsPending }
            let observation: ProviderObservation
            do throws(ProviderError) {
                observation = try await provider.poll(providerBatchID: batchID)
            } catch {
                return .failed(error)
            }
            let state = JobStateMachine.apply(observation, to: chunk.state, at: self.now())
            guard state.lifecycle.isTerminal else { return .observed(state, []) }
            let slice = input.slice(offset: chunk.offset, count: chunk.count)
            do {
                let items = try await provider.results(providerBatchID: batchID, input: slice)
                return .observed(
                    state,
                    items.map { item in
                        var item = item
                        item.index += chunk.offset
                        return item
                    }
                )
            } catch {
                // Finish a completed chunk only with its results in hand.
                return state.lifecycle == .completed ? .resultsPending : .observed(state, [])
            }
        }
        var polled: Set<Int> = []
        for (index, outcome) in polls {
            switch outcome {
            case .observed(let state, let items):
                clearPollFailures(job.id, slot: index)
                updated.chunks[index].state = state
                results += items
                polled.insert(index)
            case .resultsPending:
                retry(after: configuration.retryBaseDelay)
            case .failed(let error):
                // The same rules as a single batch's poll: backoff (honouring Retry-After), the first unreadable
                // answer in a row shown on the job.
                let failures = countPollFailure(job.id, slot: index)
                logger.warning(
                    "chunk poll failed",
                    metadata: ["job": "\(job.id)", "chunk": "\(index)", "provider": "\(provider.name)", "error": "\(error)"]
                )
                if error.code == .badResponse && failures == 1 {
                    attempts.append(
                        attempt(
                            job,
                            "poll",
                            outcome: error.code.rawValue,
                            batch: chunksBeforePoll[index].providerBatchID,
                            message: "chunk \(index): \(error.message)"
                        )
                    )
                }
                retry(after: backoff(attempt: failures, retryAfter: error.retryAfter))
            }
        }

        let touched = justSubmitted.union(polled)
        let split = updated.chunks
        let stored = try await updateJob(
            job.id,
            attempts: attempts,
            // Items of chunks never accepted upstream get failed rows with the chunk's error when the job ends.
            results: results
        ) { fresh in
            guard fresh.isActive, fresh.provider == job.provider else { return nil }
            var next = fresh
            if fresh.chunks.isEmpty && job.chunks.isEmpty {
                next.chunks = split
            } else {
                guard fresh.chunks.count == split.count, job.chunks.count == split.count else { return nil }
                for index in touched where fresh.chunks[index].providerBatchID == job.chunks[index].providerBatchID {
                    next.chunks[index] = split[index]
                }
            }
            next.providerBatchID = next.chunks.lazy.compactMap(\.providerBatchID).first
            next.state = JobStateMachine.apply(UpstreamChunk.aggregate(next.chunks), to: fresh.state, at: now())
            return next != fresh || !attempts.isEmpty ? next : nil
        }
        var current = job
        if let stored {
            current = stored
        } else if let fresh = try await currentJob(job.id) {
            current = fresh
        }
        guard current.isActive else { return nil }
        if current.chunks.contains(where: { $0.providerBatchID == nil && !$0.state.lifecycle.isTerminal }) {
            return retryDelay ?? configuration.retryBaseDelay
        }
        let interval = jittered(provider.pollInterval)
        return retryDelay.map { max($0, interval) } ?? interval
    }

    /// Runs `body` for each element with at most `chunkConcurrency` at once; results in input order.
    private func forEachConcurrently<T: Sendable>(
        _ indices: [Int],
        _ body: @escaping @Sendable (Int) async -> T
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
}
