import BatchGateCore

/// What clients ask of a job besides reading it: cancel, pause and resume, migrate. Each asks the vendor
/// first, with no lock held, then folds the outcome into the job's freshest version.
extension JobEngine {
    /// Asks the provider to stop the job. 409 when it is finished or its provider cannot cancel.
    func cancel(_ id: String, tenant: String) async throws -> Job {
        for _ in 0..<Self.maxConflicts {
            let job = try await ownJob(id, tenant: tenant)
            let provider = providers[job.provider]
            switch try ControlRules.cancel(job, providerCanCancel: provider?.capabilities.canCancel ?? false) {
            case .cancelHere:
                // Unless a submit placed it upstream meanwhile: then look again.
                if let stored = try await updateJob(id, { ControlRules.cancelledHere($0, provider: job.provider, at: now()) }) {
                    return stored
                }
            case .askVendor(let batchID):
                guard let provider else { continue }
                do throws(ProviderError) {
                    try await provider.cancel(providerBatchID: batchID)
                } catch {
                    throw GatewayError(
                        status: 502,
                        code: "provider_error",
                        message: "Provider \(job.provider) refused the cancel: \(error.message)"
                    )
                }
                let stored = try await updateJob(id, attempts: [attempt(job, "cancel", outcome: "ok", batch: batchID)]) {
                    ControlRules.requested("cancel", of: $0, batchID: batchID, at: now())
                }
                scheduler.runSoon(id)
                return try await currentJob(id) ?? stored ?? job
            }
        }
        throw GatewayError(status: 503, code: "busy", message: "The job kept changing meanwhile; try again.")
    }

    /// Asks the provider to pause or resume the job. 409 when it is finished, not upstream yet, or its
    /// provider cannot pause.
    func control(_ id: String, tenant: String, pause: Bool) async throws -> Job {
        let job = try await ownJob(id, tenant: tenant)
        let verb = pause ? "pause" : "resume"
        let provider = providers[job.provider]
        let batchID = try ControlRules.control(job, pause: pause, providerCanPause: provider?.capabilities.canPause ?? false)
        guard let provider else { return job }
        do throws(ProviderError) {
            if pause { try await provider.pause(providerBatchID: batchID) } else { try await provider.resume(providerBatchID: batchID) }
        } catch {
            throw GatewayError(
                status: error.code == .rejected ? 409 : 502,
                code: "provider_error",
                message: "Provider \(job.provider) refused to \(verb): \(error.message)"
            )
        }
        let stored = try await updateJob(id, attempts: [attempt(job, verb, outcome: "ok", batch: batchID)]) {
            ControlRules.requested(verb, of: $0, batchID: batchID, at: now())
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
        try ControlRules.checkMigratable(job, to: providerName)
        if dryRun { return job }

        // The old provider's upstream work is cancelled first, with no lock held.
        var attempts: [ProviderAttemptRecord] = []
        let batchIDs = ControlRules.upstreamBatchIDs(job)
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
        // The new provider does every item again: results of the earlier attempt are dropped with it.
        let stored = try await updateJob(id, attempts: attempts, replacesResults: true) { fresh in
            try ControlRules.migrated(fresh, from: job.provider, batchIDs: batchIDs, to: target.name, kind: target.kind, entry: entry)
        }
        scheduler.runSoon(id)
        return stored ?? job
    }

    /// The freshest version of job `id` this replica has, if it belongs to `tenant` (404 otherwise).
    private func ownJob(_ id: String, tenant: String) async throws -> Job {
        let found = try await reads.job(id, tenant: tenant)
        return try await currentJob(id) ?? found
    }
}
