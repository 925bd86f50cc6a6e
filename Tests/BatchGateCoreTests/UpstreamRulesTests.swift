import BatchGateCore
import Testing

/// The turn rules for one upstream batch, as tables, plus properties over random sequences: a job's
/// own batch (`Job.upstream`) and a chunk in the same state get the same decisions.
struct UpstreamRulesTests {
    static let at = Timestamp(milliseconds: 1_800_000_000_000)
    static let sentAt = Timestamp(milliseconds: 1_799_999_990_000)
    static let rules = UpstreamRules(maxSubmitAttempts: 3, maxNotFoundPolls: 2)

    static func batch(attempts: Int = 0, id: String? = nil, lifecycle: LifecycleStatus = .pending) -> UpstreamChunk {
        var batch = UpstreamChunk(
            offset: 0,
            count: 4,
            providerBatchID: id,
            state: JobState(progress: BatchProgress(total: 4)),
            submitAttempts: attempts
        )
        batch.state.lifecycle = lifecycle
        return batch
    }

    static func submitFailed(_ batch: UpstreamChunk, _ error: ProviderError, canFallBack: Bool = false) -> UpstreamRules.SubmitFailure {
        rules.submitFailed(batch, provider: "airops", subject: "the batch", error: error, sentAt: sentAt, canFallBack: canFallBack, at: at)
    }

    @Test func anAcceptedSubmitPutsTheBatchUpstreamWithWhatTheCreateShowed() {
        var before = Self.batch(attempts: 2)
        before.unconfirmedSubmitAt = Self.sentAt
        let outcome = SubmitOutcome(
            providerBatchID: "batch_1",
            observation: ProviderObservation(lifecycle: .running, providerStatus: "in_progress", total: 4, succeeded: 1)
        )
        let after = Self.rules.submitted(before, outcome, at: Self.at)
        #expect(after.providerBatchID == "batch_1")
        #expect(after.submitAttempts == 0)
        #expect(after.unconfirmedSubmitAt == nil)
        #expect(after.state.lifecycle == .running)
        #expect(after.state.providerStatus == "in_progress")
        #expect(after.state.progress.succeeded == 1)
    }

    /// Every kind of submit failure, with and without a fallback, on the first and on the last attempt.
    @Test(arguments: [
        // code, attempts so far, fallback, expected decision ("fallback", "retry N", "failed CODE")
        (ProviderError.Code.rateLimited, 0, true, "fallback"),
        (.unavailable, 0, true, "fallback"),
        (.timeout, 1, true, "fallback"),
        (.badResponse, 0, true, "fallback"),
        (.rejected, 0, true, "failed submit_rejected"),
        (.notFound, 0, true, "failed submit_rejected"),
        (.notSupported, 0, true, "failed submit_rejected"),
        (.rateLimited, 0, false, "retry 1"),
        (.unavailable, 1, false, "retry 2"),
        (.timeout, 0, false, "retry 1"),
        (.badResponse, 1, false, "retry 2"),
        (.rateLimited, 2, false, "failed submit_failed"),
        (.timeout, 2, false, "failed submit_failed"),
        (.rejected, 0, false, "failed submit_rejected"),
    ])
    func submitFailures(code: ProviderError.Code, attempts: Int, canFallBack: Bool, expected: String) {
        let error = ProviderError(code, "vendor said no", httpStatus: 503, retryAfter: .seconds(7), providerCode: "E42")
        let decision = Self.submitFailed(Self.batch(attempts: attempts), error, canFallBack: canFallBack)
        switch decision {
        case .fallBack(let reason):
            #expect(expected == "fallback")
            #expect(reason.contains("vendor said no"))
        case .retry(let batch, let after):
            #expect(expected == "retry \(attempts + 1)")
            #expect(batch.submitAttempts == attempts + 1)
            #expect(after == .retry(attempt: attempts + 1, retryAfter: .seconds(7)))
            #expect(batch.state.lifecycle == .pending)
        case .failed(let batch):
            #expect(expected == "failed \(batch.state.error?.code ?? "none")")
            #expect(batch.state.lifecycle == .failed)
            #expect(batch.state.error?.message == "Provider airops did not accept the batch: vendor said no")
            #expect(batch.state.error?.providerCode == "E42")
        }
    }

    @Test func aSubmitThatMayHaveCreatedTheBatchRemembersWhenItWasSent() {
        for code in [ProviderError.Code.timeout, .badResponse] {
            guard case .retry(let batch, _) = Self.submitFailed(Self.batch(), ProviderError(code, "?")) else {
                Issue.record("\(code) should be retried")
                continue
            }
            #expect(batch.unconfirmedSubmitAt == Self.sentAt)
        }
        // The first unconfirmed time is kept: the vendor is asked about everything since then.
        var earlier = Self.batch(attempts: 1)
        earlier.unconfirmedSubmitAt = Timestamp(milliseconds: 1)
        guard case .retry(let kept, _) = Self.submitFailed(earlier, ProviderError(.timeout, "?")) else {
            Issue.record("a timeout should be retried")
            return
        }
        #expect(kept.unconfirmedSubmitAt == Timestamp(milliseconds: 1))
        // A plain 503 cannot have created anything.
        guard case .retry(let unavailable, _) = Self.submitFailed(Self.batch(), ProviderError(.unavailable, "?")) else {
            Issue.record("a 503 should be retried")
            return
        }
        #expect(unavailable.unconfirmedSubmitAt == nil)
    }

    @Test func aPollThatFinishesTheBatchAsksForItsResultsOnce() {
        let running = Self.batch(id: "b", lifecycle: .running)
        let (still, needsNone) = Self.rules.polled(
            running,
            ProviderObservation(lifecycle: .running, providerStatus: "running", total: 4, succeeded: 2),
            at: Self.at
        )
        #expect(!needsNone)
        #expect(still.state.progress.succeeded == 2)
        let (done, needs) = Self.rules.polled(
            running,
            ProviderObservation(lifecycle: .completed, providerStatus: "done", total: 4, succeeded: 4),
            at: Self.at
        )
        #expect(needs)
        #expect(done.state.lifecycle == .completed)
        // A batch already finished stays as it was, and needs nothing.
        let (again, needsAgain) = Self.rules.polled(
            done,
            ProviderObservation(lifecycle: .running, providerStatus: "running", total: 4, succeeded: 1),
            at: Self.at
        )
        #expect(!needsAgain)
        #expect(again == done)
    }

    @Test func aCompletedBatchFinishesOnlyWithItsResultsWhileReadingThemMayStillWork() {
        let completed = Self.batch(id: "b", lifecycle: .completed)
        let failed = Self.batch(id: "b", lifecycle: .failed)
        let busy = ProviderError(.rateLimited, "slow down", retryAfter: .seconds(3))
        #expect(Self.rules.resultsFailed(completed, error: busy) == .retry(after: .retry(attempt: 1, retryAfter: .seconds(3))))
        #expect(Self.rules.resultsFailed(completed, error: ProviderError(.rejected, "gone")) == .finishWithout)
        #expect(Self.rules.resultsFailed(failed, error: busy) == .finishWithout)
    }

    @Test func pollFailures() {
        let running = Self.batch(id: "batch_9", lifecycle: .running)
        // The first unreadable answer in a row is shown on the job, later ones are not.
        let first = Self.rules.pollFailed(running, provider: "airops", error: ProviderError(.badResponse, "?"), failuresInARow: 1, at: Self.at)
        #expect(first.recordAttempt)
        #expect(first.next == .retry(attempt: 1, retryAfter: nil))
        let second = Self.rules.pollFailed(running, provider: "airops", error: ProviderError(.badResponse, "?"), failuresInARow: 2, at: Self.at)
        #expect(!second.recordAttempt)
        #expect(second.next == .retry(attempt: 2, retryAfter: nil))
        // A 429 backs off, never sooner than its Retry-After.
        let limited = Self.rules.pollFailed(
            running,
            provider: "airops",
            error: ProviderError(.rateLimited, "slow", retryAfter: .seconds(30)),
            failuresInARow: 4,
            at: Self.at
        )
        #expect(limited.next == .retry(attempt: 4, retryAfter: .seconds(30)))
        #expect(limited.batch == running)
        // Not found: retried until `maxNotFoundPolls` in a row, then the batch is lost.
        let once = Self.rules.pollFailed(running, provider: "airops", error: ProviderError(.notFound, "?"), failuresInARow: 1, at: Self.at)
        #expect(once.next != nil)
        let lost = Self.rules.pollFailed(running, provider: "airops", error: ProviderError(.notFound, "?"), failuresInARow: 2, at: Self.at)
        #expect(lost.next == nil)
        #expect(lost.batch.state.lifecycle == .failed)
        #expect(lost.batch.state.error?.code == "provider_lost")
        #expect(lost.batch.state.error?.message == "Provider airops no longer knows batch batch_9.")
    }

    @Test func theNextTurn() {
        let done = Self.batch(id: "a", lifecycle: .completed)
        let running = Self.batch(id: "b", lifecycle: .running)
        let unsubmitted = Self.batch()
        #expect(Self.rules.nextTurn([done, done], retries: []) == nil)
        #expect(Self.rules.nextTurn([done, running], retries: []) == .pollInterval)
        #expect(
            Self.rules.nextTurn([running], retries: [.retry(attempt: 5, retryAfter: nil), .retry(attempt: 2, retryAfter: nil)])
                == .atLeastPollInterval(.retry(attempt: 2, retryAfter: nil))
        )
        // A batch still to submit is tried again soon, not at the poll interval.
        #expect(Self.rules.nextTurn([running, unsubmitted], retries: []) == .retry(attempt: 1, retryAfter: nil))
        #expect(Self.rules.nextTurn([unsubmitted], retries: [.retry(attempt: 3, retryAfter: nil)]) == .retry(attempt: 3, retryAfter: nil))
    }

    @Test func delaysOrderWithoutBeingDrawn() {
        let ordered: [TurnDelay] = [
            .immediately,
            .retry(attempt: 1, retryAfter: nil),
            .retry(attempt: 1, retryAfter: .seconds(5)),
            .retry(attempt: 2, retryAfter: nil),
            .pollInterval,
            .atLeastPollInterval(.retry(attempt: 1, retryAfter: nil)),
            .atLeastPollInterval(.retry(attempt: 9, retryAfter: nil)),
        ]
        #expect(ordered.shuffled().sorted() == ordered)
        for delay in ordered { #expect(!(delay < delay)) }
    }

    /// A job's own batch and a chunk in the same state get the same decision for any answer, and writing
    /// the decided batch back into the job changes exactly the batch's fields.
    @Test func singleBatchesAndChunksFollowTheSameRules() {
        var random = RandomSource(seed: 0x5A_4E)
        let codes: [ProviderError.Code] = [.rateLimited, .unavailable, .timeout, .rejected, .badResponse, .notFound, .notSupported]
        for _ in 0..<2_000 {
            var job = Job(
                id: "bat_1",
                tenant: "t",
                kind: .urlBatch,
                route: "scrape",
                provider: "airops",
                providerKind: "olostep-airops",
                state: JobState(progress: BatchProgress(total: 4)),
                createdAt: Self.at,
                inboundSecret: "s"
            )
            job.submitAttempts = Int.random(in: 0...4, using: &random)
            if Bool.random(using: &random) { job.providerBatchID = "batch_\(Int.random(in: 0...9, using: &random))" }
            if Bool.random(using: &random) { job.unconfirmedSubmitAt = Timestamp(milliseconds: Int64.random(in: 0...1_000, using: &random)) }
            var chunk = UpstreamChunk(offset: 0, count: 4, providerBatchID: job.providerBatchID, state: job.state, submitAttempts: job.submitAttempts)
            chunk.unconfirmedSubmitAt = job.unconfirmedSubmitAt
            #expect(job.upstream == chunk)

            let error = ProviderError(codes.randomElement(using: &random)!, "x", retryAfter: Bool.random(using: &random) ? .seconds(2) : nil)
            let canFallBack = Bool.random(using: &random)
            let failures = Int.random(in: 1...4, using: &random)
            #expect(Self.submitFailed(job.upstream, error, canFallBack: canFallBack) == Self.submitFailed(chunk, error, canFallBack: canFallBack))
            let single = Self.rules.pollFailed(job.upstream, provider: "airops", error: error, failuresInARow: failures, at: Self.at)
            #expect(single == Self.rules.pollFailed(chunk, provider: "airops", error: error, failuresInARow: failures, at: Self.at))

            // Writing a decided batch back touches nothing but the batch's fields.
            if case .failed(let failed) = Self.submitFailed(job.upstream, error, canFallBack: false) {
                var written = job
                written.upstream = failed
                #expect(written.upstream == failed)
                written.upstream = job.upstream
                #expect(written == job)
            }
        }
    }

    @Test func aSeededSourceDrawsTheSameSequenceEveryTime() {
        let first = RandomSource(seed: 42)
        let second = RandomSource(seed: 42)
        let other = RandomSource(seed: 43)
        let a = (0..<100).map { _ in first.next() }
        #expect(a == (0..<100).map { _ in second.next() })
        #expect(a != (0..<100).map { _ in other.next() })
        #expect(Set(a).count == 100)
        for _ in 0..<1_000 { #expect((0...1).contains(first.fraction())) }
    }
}
