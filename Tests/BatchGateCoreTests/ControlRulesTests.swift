import BatchGateCore
import Testing

/// Cancel, pause, resume and migrate as decisions: every refusal with its status and message, the folds
/// applied after the vendor agreed, and properties of migration over random jobs.
struct ControlRulesTests {
    static let at = Timestamp(milliseconds: 1_800_000_000_000)

    static func job(
        _ lifecycle: LifecycleStatus = .running,
        batch: String? = "batch_1",
        chunks: [UpstreamChunk] = [],
        provider: String = "airops"
    ) -> Job {
        var job = Job(
            id: "bat_1",
            tenant: "t",
            kind: .urlBatch,
            route: "scrape",
            provider: provider,
            providerKind: "olostep-airops",
            providerBatchID: batch,
            chunks: chunks,
            state: JobState(progress: BatchProgress(total: 10, succeeded: 4, failed: 1, percent: 50)),
            createdAt: at,
            inboundSecret: "s"
        )
        job.state.lifecycle = lifecycle
        job.state.providerStatus = "in_progress"
        job.state.phases = [BatchPhase(name: "scraping", state: "running")]
        return job
    }

    /// The gateway error `body` refused with, or nil when it did not throw.
    static func refusal(_ body: () throws -> Void) -> GatewayError? {
        do {
            try body()
            return nil
        } catch {
            return error as? GatewayError ?? GatewayError(status: 0, code: "other", message: "\(error)")
        }
    }

    @Test(arguments: [
        (LifecycleStatus.running, "batch_1" as String?, true, "ask batch_1"),
        (.pending, nil, true, "here"),
        (.pending, "batch_1", true, "ask batch_1"),
        (.running, "batch_1", false, "409 Provider airops cannot cancel a batch."),
        (.completed, "batch_1", true, "409 The batch is already completed."),
        (.cancelled, nil, true, "409 The batch is already cancelled."),
    ])
    func cancel(lifecycle: LifecycleStatus, batch: String?, canCancel: Bool, expected: String) {
        let job = Self.job(lifecycle, batch: batch)
        do throws(GatewayError) {
            switch try ControlRules.cancel(job, providerCanCancel: canCancel) {
            case .cancelHere: #expect(expected == "here")
            case .askVendor(let batchID): #expect(expected == "ask \(batchID)")
            }
        } catch {
            #expect(error.status == 409)
            #expect(error.code == "not_cancellable")
            #expect(expected == "409 \(error.message)")
        }
    }

    @Test func aJobCancelledBeforeItsSubmitEndsCancelledUnlessItMovedOn() throws {
        let pending = Self.job(.pending, batch: nil)
        let cancelled = try #require(ControlRules.cancelledHere(pending, provider: "airops", at: Self.at))
        #expect(cancelled.state.lifecycle == .cancelled)
        #expect(cancelled.state.error?.code == "cancelled")
        #expect(cancelled.state.completedAt == Self.at)
        // Submitted meanwhile, moved to a fallback meanwhile, or finished meanwhile: not cancelled here.
        #expect(ControlRules.cancelledHere(Self.job(.pending, batch: "batch_2"), provider: "airops", at: Self.at) == nil)
        #expect(ControlRules.cancelledHere(Self.job(.pending, batch: nil, provider: "aitronos"), provider: "airops", at: Self.at) == nil)
        #expect(ControlRules.cancelledHere(Self.job(.failed, batch: nil), provider: "airops", at: Self.at) == nil)
    }

    @Test(arguments: [
        (LifecycleStatus.running, "batch_1" as String?, true, true, "batch_1"),
        (.pending, "batch_1", false, true, "batch_1"),
        (.running, nil, true, true, "409 The batch has not started at the provider yet."),
        (.running, "batch_1", true, false, "409 Provider airops cannot pause a batch."),
        (.running, "batch_1", false, false, "409 Provider airops cannot resume a batch."),
        (.expired, "batch_1", true, true, "409 The batch is already expired."),
    ])
    func pauseAndResume(lifecycle: LifecycleStatus, batch: String?, pause: Bool, canPause: Bool, expected: String) {
        do throws(GatewayError) {
            let batchID = try ControlRules.control(Self.job(lifecycle, batch: batch), pause: pause, providerCanPause: canPause)
            #expect(expected == batchID)
        } catch {
            #expect(error.code == "not_pausable")
            #expect(expected == "\(error.status) \(error.message)")
        }
    }

    @Test func anAcceptedRequestIsRecordedOnlyOnTheBatchItWasMadeFor() throws {
        let job = Self.job()
        let requested = try #require(ControlRules.requested("pause", of: job, batchID: "batch_1", at: Self.at))
        #expect(requested.controlRequest == ControlRequest(action: "pause", requestedAt: Self.at))
        #expect(requested.state == job.state)
        #expect(ControlRules.requested("pause", of: job, batchID: "batch_0", at: Self.at) == nil)
        #expect(ControlRules.requested("cancel", of: Self.job(.completed), batchID: "batch_1", at: Self.at) == nil)
    }

    @Test func migrationRefusals() {
        #expect(Self.refusal { try ControlRules.checkMigratable(Self.job(), to: "airops") }?.message == "The batch is already on provider airops.")
        #expect(Self.refusal { try ControlRules.checkMigratable(Self.job(.failed), to: "aitronos") }?.message == "The batch is already failed.")
        #expect(Self.refusal { try ControlRules.checkMigratable(Self.job(), to: "aitronos") } == nil)
        let entry = HistoryEntry(provider: "airops", providerBatchID: "batch_1", lifecycleStatus: .cancelled, reason: "migrated", at: Self.at)
        // The job moved to another upstream batch after the old one was cancelled: try again.
        let changed = Self.refusal {
            _ = try ControlRules.migrated(Self.job(batch: "batch_2"), from: "airops", batchIDs: ["batch_1"], to: "aitronos", kind: "k", entry: entry)
        }
        #expect(changed?.status == 409)
        #expect(changed?.message == "The batch changed providers or upstream batches meanwhile; try again.")
    }

    @Test func upstreamBatchesOfSingleAndChunkedJobs() {
        #expect(ControlRules.upstreamBatchIDs(Self.job(batch: nil)) == [])
        #expect(ControlRules.upstreamBatchIDs(Self.job(batch: "b")) == ["b"])
        let chunks = [
            UpstreamChunk(offset: 0, count: 5, providerBatchID: "c0"), UpstreamChunk(offset: 5, count: 5),
            UpstreamChunk(offset: 10, count: 5, providerBatchID: "c2"),
        ]
        #expect(ControlRules.upstreamBatchIDs(Self.job(batch: "c0", chunks: chunks)) == ["c0", "c2"])
    }

    /// Over random jobs: a migrated job has nothing upstream, keeps its id, items and percent (so
    /// `percent` never goes down), restarts its counts, and gains exactly one history entry.
    @Test func migrationKeepsWhatAClientSawAndDropsTheUpstream() throws {
        var random = RandomSource(seed: 0x3161)
        for _ in 0..<1_000 {
            var job = Self.job([.pending, .running].randomElement(using: &random)!, batch: "batch_\(Int.random(in: 0...9, using: &random))")
            let total = Int.random(in: 1...500, using: &random)
            let done = Int.random(in: 0...total, using: &random)
            job.state.progress = BatchProgress(total: total, succeeded: done, failed: 0, percent: done * 100 / total)
            job.submitAttempts = Int.random(in: 0...3, using: &random)
            if Bool.random(using: &random) {
                job.chunks = UpstreamChunk.split(itemCount: total, size: max(1, total / 3))
                for index in job.chunks.indices where Bool.random(using: &random) { job.chunks[index].providerBatchID = "c\(index)" }
            }
            let entry = HistoryEntry(provider: "airops", providerBatchID: nil, lifecycleStatus: .cancelled, reason: "migrated", at: Self.at)
            let moved = try ControlRules.migrated(
                job,
                from: "airops",
                batchIDs: ControlRules.upstreamBatchIDs(job),
                to: "aitronos",
                kind: "aitronos-scrape",
                entry: entry
            )
            #expect(moved.id == job.id)
            #expect(moved.provider == "aitronos" && moved.providerKind == "aitronos-scrape")
            #expect(moved.providerBatchID == nil && moved.chunks.isEmpty && moved.submitAttempts == 0)
            #expect(moved.state.progress.total == total)
            #expect(moved.state.progress.percent == job.state.progress.percent)
            #expect(moved.state.progress.succeeded == 0 && moved.state.progress.failed == 0)
            #expect(moved.state.providerStatus == nil && moved.state.phases.isEmpty)
            #expect(moved.history == job.history + [entry])
            #expect(moved.state.lifecycle == job.state.lifecycle)
        }
    }
}
