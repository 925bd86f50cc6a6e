/// What a client's cancel, pause, resume or migrate does to a job, decided without I/O: refused (and
/// why), done here, or asked of the vendor first; and the job after the vendor agreed.
///
/// The runner asks the vendor with no lock held, then applies the matching fold to the job's freshest
/// version; a fold returns nil when that version moved on (another upstream batch, another provider,
/// finished), and the runner looks again.
public enum ControlRules {
    /// The first step of a cancel.
    public enum CancelStep: Sendable, Hashable {
        /// Not upstream yet: cancelled here, with no vendor call.
        case cancelHere
        /// Ask the vendor to cancel this upstream batch first.
        case askVendor(batchID: String)
    }

    /// Whether `job` can be cancelled and how. 409 `not_cancellable` when it is finished or its
    /// provider cannot cancel.
    public static func cancel(_ job: Job, providerCanCancel: Bool) throws(GatewayError) -> CancelStep {
        guard !job.state.lifecycle.isTerminal else {
            throw GatewayError(status: 409, code: "not_cancellable", message: "The batch is already \(job.state.lifecycle.rawValue).")
        }
        guard providerCanCancel else {
            throw GatewayError(status: 409, code: "not_cancellable", message: "Provider \(job.provider) cannot cancel a batch.")
        }
        return job.providerBatchID.map { .askVendor(batchID: $0) } ?? .cancelHere
    }

    /// The job cancelled before anything was upstream; nil when `fresh` is finished, on another
    /// provider than `provider`, or was placed upstream meanwhile.
    public static func cancelledHere(_ fresh: Job, provider: String, at now: Timestamp) -> Job? {
        guard fresh.isActive, fresh.provider == provider, fresh.providerBatchID == nil else { return nil }
        var cancelled = fresh
        cancelled.state = JobStateMachine.finish(
            fresh.state,
            as: .cancelled,
            error: BatchError(code: "cancelled", message: "Cancelled before it was submitted."),
            at: now
        )
        return cancelled
    }

    /// The upstream batch `batchID` to pause or resume. 409 `not_pausable` when the job is finished, its
    /// provider cannot pause, or it is not upstream yet.
    public static func control(_ job: Job, pause: Bool, providerCanPause: Bool) throws(GatewayError) -> String {
        guard !job.state.lifecycle.isTerminal else {
            throw GatewayError(status: 409, code: "not_pausable", message: "The batch is already \(job.state.lifecycle.rawValue).")
        }
        guard providerCanPause else {
            let verb = pause ? "pause" : "resume"
            throw GatewayError(status: 409, code: "not_pausable", message: "Provider \(job.provider) cannot \(verb) a batch.")
        }
        guard let batchID = job.providerBatchID else {
            throw GatewayError(status: 409, code: "not_pausable", message: "The batch has not started at the provider yet.")
        }
        return batchID
    }

    /// The job after the vendor accepted `action` (cancel, pause, resume) for `batchID`: the request is
    /// recorded and the vendor's next report shows its effect. Nil when `fresh` finished or moved to
    /// another upstream batch meanwhile.
    public static func requested(_ action: String, of fresh: Job, batchID: String, at now: Timestamp) -> Job? {
        guard fresh.isActive, fresh.providerBatchID == batchID else { return nil }
        var updated = fresh
        updated.controlRequest = ControlRequest(action: action, requestedAt: now)
        return updated
    }

    /// 409 `not_migratable` when `job` is finished or already on `provider`.
    public static func checkMigratable(_ job: Job, to provider: String) throws(GatewayError) {
        guard !job.state.lifecycle.isTerminal else {
            throw GatewayError(status: 409, code: "not_migratable", message: "The batch is already \(job.state.lifecycle.rawValue).")
        }
        guard job.provider != provider else {
            throw GatewayError(status: 409, code: "not_migratable", message: "The batch is already on provider \(provider).")
        }
    }

    /// The job's upstream batches: its chunks' when it is split, else its own (none before its submit).
    public static func upstreamBatchIDs(_ job: Job) -> [String] {
        job.chunks.isEmpty ? [job.providerBatchID].compactMap { $0 } : job.chunks.compactMap(\.providerBatchID)
    }

    /// `fresh` migrated to `provider` (of `kind`) with `entry` in its history: nothing upstream, vendor
    /// status and phases cleared, counts restarted (the new provider does every item again) and
    /// `percent` kept, so it never goes down. 409 when `fresh` is no longer the job the old provider's
    /// batches (`batchIDs` on `from`) were cancelled for.
    public static func migrated(
        _ fresh: Job,
        from: String,
        batchIDs: [String],
        to provider: String,
        kind: String,
        entry: HistoryEntry
    ) throws(GatewayError) -> Job {
        try checkMigratable(fresh, to: provider)
        guard fresh.provider == from, upstreamBatchIDs(fresh) == batchIDs else {
            throw GatewayError(status: 409, code: "not_migratable", message: "The batch changed providers or upstream batches meanwhile; try again.")
        }
        var updated = fresh.moved(to: provider, kind: kind, entry)
        updated.state.providerStatus = nil
        updated.state.phases = []
        updated.state.progress = BatchProgress(total: fresh.state.progress.total, percent: fresh.state.progress.percent)
        return updated
    }
}

extension Job {
    /// The job moved to `provider` (of `kind`): a fallback, or a migration's target, with `entry` in its
    /// history and nothing upstream.
    public func moved(to provider: String, kind: String, _ entry: HistoryEntry) -> Job {
        var moved = self
        moved.history.append(entry)
        moved.provider = provider
        moved.providerKind = kind
        moved.providerBatchID = nil
        moved.chunks = []
        moved.submitAttempts = 0
        moved.unconfirmedSubmitAt = nil
        return moved
    }
}
