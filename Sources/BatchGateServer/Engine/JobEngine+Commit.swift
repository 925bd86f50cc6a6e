import BatchGateCore

/// Committing changes: every change of a job is folded into its freshest version and stored with the
/// store's version check (and this replica's lease on the job, if it holds one).
extension JobEngine {
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
        case duplicate
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
        let change = JobChange(
            job: nextJob,
            event: event,
            results: results,
            replacesResults: replacesResults,
            attempts: attempts,
            deliveries: deliveries,
            lease: leases.lease(job.id)
        )
        switch try await metrics.commit("apply", { try await store.apply(change) }) {
        case .stored:
            if !deliveries.isEmpty { notifyDeliveriesQueued() }
            return .stored(cache.put(nextJob))
        case .duplicateEvent:
            return .duplicate
        case .conflict:
            try await reload(job.id)
            return .conflict
        case .leaseLost:
            leases.forget(job.id)
            throw GatewayError(status: 503, code: "busy", message: "Another gateway replica works on this job now.")
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
}
