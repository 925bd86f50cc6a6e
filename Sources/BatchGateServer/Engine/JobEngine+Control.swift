import BatchGateCore

/// What clients ask of a job besides reading it: cancel, pause and resume, migrate. Each asks the vendor
/// first, with no lock held, then folds the outcome into the job's freshest version.
extension JobEngine {
    /// Asks the provider to stop the job. 409 when it is finished or its provider cannot cancel.
    func cancel(_ id: String, tenant: String) async throws -> Job {
        for _ in 0..<Self.maxConflicts {
            let job = try await ownJob(id, tenant: tenant)
            guard let provider = providers[job.provider], !job.state.lifecycle.isTerminal, provider.capabilities.canCancel else {
                throw GatewayError(
                    status: 409,
                    code: "not_cancellable",
                    message: job.state.lifecycle.isTerminal
                        ? "The batch is already \(job.state.lifecycle.rawValue)."
                        : "Provider \(job.provider) cannot cancel a batch."
                )
            }
            guard let providerBatchID = job.providerBatchID else {
                // Not upstream yet: cancelled here, unless a submit placed it upstream meanwhile (then look again).
                let stored = try await updateJob(id) { fresh in
                    guard fresh.isActive, fresh.provider == job.provider, fresh.providerBatchID == nil else { return nil }
                    var updated = fresh
                    updated.state = JobStateMachine.finish(
                        fresh.state,
                        as: .cancelled,
                        error: BatchError(code: "cancelled", message: "Cancelled before it was submitted."),
                        at: now()
                    )
                    return updated
                }
                if let stored { return stored }
                continue
            }
            do throws(ProviderError) {
                try await provider.cancel(providerBatchID: providerBatchID)
            } catch {
                throw GatewayError(
                    status: 502,
                    code: "provider_error",
                    message: "Provider \(job.provider) refused the cancel: \(error.message)"
                )
            }
            let requested = ControlRequest(action: "cancel", requestedAt: now())
            let stored = try await updateJob(id, attempts: [attempt(job, "cancel", outcome: "ok", batch: providerBatchID)]) { fresh in
                guard fresh.isActive, fresh.providerBatchID == providerBatchID else { return nil }
                var updated = fresh
                updated.controlRequest = requested
                return updated
            }
            scheduler.runSoon(id)
            return try await currentJob(id) ?? stored ?? job
        }
        throw GatewayError(status: 503, code: "busy", message: "The job kept changing meanwhile; try again.")
    }

    /// Asks the provider to pause or resume the job. 409 when it is finished, not upstream yet, or its
    /// provider cannot pause.
    func control(_ id: String, tenant: String, pause: Bool) async throws -> Job {
        let job = try await ownJob(id, tenant: tenant)
        let verb = pause ? "pause" : "resume"
        guard !job.state.lifecycle.isTerminal else {
            throw GatewayError(status: 409, code: "not_pausable", message: "The batch is already \(job.state.lifecycle.rawValue).")
        }
        guard let provider = providers[job.provider], provider.capabilities.canPause else {
            throw GatewayError(status: 409, code: "not_pausable", message: "Provider \(job.provider) cannot \(verb) a batch.")
        }
        guard let batchID = job.providerBatchID else {
            throw GatewayError(status: 409, code: "not_pausable", message: "The batch has not started at the provider yet.")
        }
        do throws(ProviderError) {
            if pause { try await provider.pause(providerBatchID: batchID) } else { try await provider.resume(providerBatchID: batchID) }
        } catch {
            throw GatewayError(
                status: error.code == .rejected ? 409 : 502,
                code: "provider_error",
                message: "Provider \(job.provider) refused to \(verb): \(error.message)"
            )
        }
        let requested = ControlRequest(action: verb, requestedAt: now())
        let stored = try await updateJob(id, attempts: [attempt(job, verb, outcome: "ok", batch: batchID)]) { fresh in
            guard fresh.isActive, fresh.providerBatchID == batchID else { return nil }
            var updated = fresh
            updated.controlRequest = requested
            return updated
        }
        return try await currentJob(id) ?? stored ?? job
    }

    /// Moves a non-terminal job to another provider of the same kind, keeping its id: cancels the
    /// upstream work where the old provider can, stops tracking it, and resubmits the stored input.
    /// The earlier attempt is kept in `history`; progress counts restart with the new provider
    /// (`percent` never goes down). The stored input must pass the new provider's checks (409
    /// `not_migratable` naming why otherwise). With `dryRun`, every check is made and nothing changes.
    func migrate(
        _ id: String,
        tenant: String,
        to providerName: String,
        reason: String = "migrated",
        dryRun: Bool = false
    ) async throws -> Job {
        let found = try await reads.job(id, tenant: tenant)
        guard let target = providers[providerName] else {
            throw GatewayError.invalid(
                "provider",
                "Unknown provider '\(providerName)'; configured: \(providers.keys.sorted().joined(separator: ", "))."
            )
        }
        guard target.capabilities.jobKinds.contains(found.kind) else {
            throw GatewayError.invalid("provider", "Provider \(providerName) (\(target.kind)) cannot serve \(found.kind.rawValue).")
        }
        if let input = try await store.input(jobID: id) {
            do throws(GatewayError) {
                try target.validate(input)
            } catch {
                throw GatewayError(
                    status: 409,
                    code: "not_migratable",
                    message: "Provider \(providerName) cannot take this batch's input: \(error.message)",
                    field: error.field
                )
            }
        }
        let job = try await currentJob(id) ?? found
        try Self.checkMigratable(job, to: providerName)
        if dryRun { return job }

        // The old provider's upstream work is cancelled first, with no lock held.
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
        let entry = HistoryEntry(
            provider: job.provider,
            providerBatchID: batchIDs.first,
            lifecycleStatus: .cancelled,
            reason: cancelled || batchIDs.isEmpty
                ? "\(reason) to \(providerName)"
                : "\(reason) to \(providerName); the upstream batch could not be cancelled and is no longer tracked",
            at: now()
        )
        let stored = try await updateJob(id, attempts: attempts, replacesResults: true) { fresh in
            try Self.checkMigratable(fresh, to: providerName)
            let freshBatchIDs = fresh.chunks.isEmpty ? [fresh.providerBatchID].compactMap { $0 } : fresh.chunks.compactMap(\.providerBatchID)
            guard fresh.provider == job.provider, freshBatchIDs == batchIDs else {
                throw GatewayError(
                    status: 409,
                    code: "not_migratable",
                    message: "The batch changed providers or upstream batches meanwhile; try again."
                )
            }
            var updated = Self.moved(fresh, to: target, entry)
            updated.state.providerStatus = nil
            updated.state.phases = []
            // The new provider does every item again: results of the earlier attempt are dropped with it.
            updated.state.progress = BatchProgress(total: fresh.state.progress.total, percent: fresh.state.progress.percent)
            return updated
        }
        scheduler.runSoon(id)
        return stored ?? job
    }

    /// The freshest version of job `id` this replica has, if it belongs to `tenant` (404 otherwise).
    private func ownJob(_ id: String, tenant: String) async throws -> Job {
        let found = try await reads.job(id, tenant: tenant)
        return try await currentJob(id) ?? found
    }

    /// 409 `not_migratable` when `job` is finished or already on `providerName`.
    private static func checkMigratable(_ job: Job, to providerName: String) throws {
        guard !job.state.lifecycle.isTerminal else {
            throw GatewayError(status: 409, code: "not_migratable", message: "The batch is already \(job.state.lifecycle.rawValue).")
        }
        guard job.provider != providerName else {
            throw GatewayError(status: 409, code: "not_migratable", message: "The batch is already on provider \(providerName).")
        }
    }
}
