import BatchGateCore
import Logging

/// Jobs larger than their provider's batch limit, split into chunks that are separate upstream batches.
extension JobEngine {
    /// How many chunks of one job are submitted or polled at once.
    static let chunkConcurrency = 4

    /// What one chunk's poll brought.
    private enum ChunkPoll: Sendable {
        /// The chunk as the poll left it, with its results when it finished.
        case observed(UpstreamChunk, [ItemResult])
        /// It finished but its results could not be read yet: keep it as it was and try again then.
        case retry(TurnDelay)
        case failed(ProviderError)
    }

    /// One turn of a job split into several upstream batches: submit the chunks that have no batch yet,
    /// poll the running ones, fetch results of the ones that finished, and fold them into the job. Each
    /// chunk follows the same `UpstreamRules` as a job's single batch.
    ///
    /// Every vendor call is made first; then the chunks this turn changed are folded into the job's
    /// freshest version (a chunk that changed meanwhile is left as it is there).
    func chunkedTurn(_ job: Job, _ provider: any BatchProvider, chunkSize: Int) async throws -> Duration? {
        guard let input = try await store.input(jobID: job.id) else { return nil }
        let rules = configuration.rules
        var updated = job
        if updated.chunks.isEmpty {
            updated.chunks = UpstreamChunk.split(itemCount: input.itemCount, size: chunkSize)
        }
        var attempts: [ProviderAttemptRecord] = []
        var results: [ItemResult] = []
        var retries: [TurnDelay] = []

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
        var submitFailures: [(index: Int, error: ProviderError, sentAt: Timestamp)] = []
        for (index, (result, sentAt)) in submits {
            switch result {
            case .success(let outcome):
                updated.chunks[index] = rules.submitted(updated.chunks[index], outcome, at: now())
                attempts.append(attempt(job, "submit", outcome: "ok", batch: outcome.providerBatchID, message: "chunk \(index)"))
            case .failure(let error):
                attempts.append(attempt(job, "submit", outcome: error.code.rawValue, message: "chunk \(index): \(error.message)"))
                submitFailures.append((index, error, sentAt))
            }
        }
        // The whole job moves to the route's fallback only while none of its chunks is upstream.
        let fallback = updated.chunks.allSatisfy { $0.providerBatchID == nil } ? fallbackProvider(for: job) : nil
        for failure in submitFailures {
            let decision = rules.submitFailed(
                updated.chunks[failure.index],
                provider: job.provider,
                subject: "chunk \(failure.index)",
                error: failure.error,
                sentAt: failure.sentAt,
                canFallBack: fallback != nil,
                at: now()
            )
            switch decision {
            case .fallBack(let reason):
                guard let fallback else { continue }
                let entry = HistoryEntry(provider: job.provider, providerBatchID: nil, lifecycleStatus: .failed, reason: reason, at: now())
                try await updateJob(job.id, attempts: attempts) { fresh in
                    guard fresh.isActive, fresh.provider == job.provider, fresh.chunks.allSatisfy({ $0.providerBatchID == nil }) else {
                        return nil
                    }
                    return fresh.moved(to: fallback.name, kind: fallback.kind, entry)
                }
                return .zero
            case .retry(let chunk, let after):
                updated.chunks[failure.index] = chunk
                retries.append(after)
            case .failed(let chunk):
                updated.chunks[failure.index] = chunk
            }
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
            guard let batchID = chunk.providerBatchID else { return .retry(.pollInterval) }
            let observation: ProviderObservation
            do throws(ProviderError) {
                observation = try await provider.poll(providerBatchID: batchID)
            } catch {
                return .failed(error)
            }
            let (polled, needsResults) = rules.polled(chunk, observation, at: self.now())
            guard needsResults else { return .observed(polled, []) }
            let slice = input.slice(offset: chunk.offset, count: chunk.count)
            do throws(ProviderError) {
                let items = try await provider.results(providerBatchID: batchID, input: slice)
                return .observed(
                    polled,
                    items.map { item in
                        var item = item
                        item.index += chunk.offset
                        return item
                    }
                )
            } catch {
                switch rules.resultsFailed(polled, error: error) {
                case .retry(let after): return .retry(after)
                case .finishWithout: return .observed(polled, [])
                }
            }
        }
        var polled: Set<Int> = []
        for (index, outcome) in polls {
            switch outcome {
            case .observed(let chunk, let items):
                clearPollFailures(job.id, slot: index)
                updated.chunks[index] = chunk
                results += items
                polled.insert(index)
            case .retry(let after):
                retries.append(after)
            case .failed(let error):
                logger.warning(
                    "chunk poll failed",
                    metadata: ["job": "\(job.id)", "chunk": "\(index)", "provider": "\(provider.name)", "error": "\(error)"]
                )
                let failure = rules.pollFailed(
                    updated.chunks[index],
                    provider: provider.name,
                    error: error,
                    failuresInARow: countPollFailure(job.id, slot: index),
                    at: now()
                )
                if failure.recordAttempt {
                    let batch = chunksBeforePoll[index].providerBatchID
                    attempts.append(attempt(job, "poll", outcome: error.code.rawValue, batch: batch, message: "chunk \(index): \(error.message)"))
                }
                if let next = failure.next {
                    retries.append(next)
                } else {
                    updated.chunks[index] = failure.batch
                    polled.insert(index)
                }
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
        return delay(rules.nextTurn(current.chunks, retries: retries) ?? .pollInterval, pollInterval: provider.pollInterval)
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
