/// The rules a job's turn follows for one upstream batch — the job's own, or one of its chunks — whatever
/// the vendor: what a submit's answer, a poll's answer or a failure does to the batch, and when the next
/// turn comes. Single-batch and chunked jobs go through the same functions (a single batch is seen as
/// `Job.upstream`, a chunk of the whole job).
///
/// Pure: no I/O, no clock (times are passed in), no randomness (delays come back as a `TurnDelay`, which
/// the runner turns into a duration with its own jitter source).
public struct UpstreamRules: Sendable, Hashable {
    /// Submit attempts to one provider before the batch fails.
    public var maxSubmitAttempts: Int
    /// Consecutive `not_found` polls before the batch counts as lost.
    public var maxNotFoundPolls: Int

    public init(maxSubmitAttempts: Int = 8, maxNotFoundPolls: Int = 3) {
        self.maxSubmitAttempts = maxSubmitAttempts
        self.maxNotFoundPolls = maxNotFoundPolls
    }

    /// What became of a failed submit.
    public enum SubmitFailure: Sendable, Hashable {
        /// Move the whole job to the route's next provider; `reason` goes into its history.
        case fallBack(reason: String)
        /// Submit again after the delay; the batch counts the attempt (and when a submit that may have
        /// created it was sent).
        case retry(UpstreamChunk, after: TurnDelay)
        /// The batch failed for good.
        case failed(UpstreamChunk)
    }

    /// What became of a failed poll.
    public struct PollFailure: Sendable, Hashable {
        /// The batch as it is now: unchanged, or failed when the vendor lost it.
        public var batch: UpstreamChunk
        /// Whether the failure is shown on the job (`provider_attempts`): only the first unreadable answer in
        /// a row, so a vendor answering nonsense for an hour does not flood the job.
        public var recordAttempt: Bool
        /// When to poll again; nil when the batch failed.
        public var next: TurnDelay?
    }

    /// What to do when a finished batch's results could not be read.
    public enum ResultsFailure: Sendable, Hashable {
        /// Keep the batch as it was and read the results again after the delay: a completed batch finishes
        /// only with its results in hand.
        case retry(after: TurnDelay)
        /// Finish without them (the items get failed rows).
        case finishWithout
    }

    /// The batch after its submit was accepted: upstream, its attempts reset, with the state the create
    /// response showed folded in.
    public func submitted(_ batch: UpstreamChunk, _ outcome: SubmitOutcome, at now: Timestamp) -> UpstreamChunk {
        var next = batch
        next.providerBatchID = outcome.providerBatchID
        next.submitAttempts = 0
        next.unconfirmedSubmitAt = nil
        if let observation = outcome.observation {
            next.state = JobStateMachine.apply(observation, to: batch.state, at: now)
        }
        return next
    }

    /// A submit of `batch` to `provider` failed with `error`.
    ///
    /// - A retryable failure while the job has nothing upstream moves it to the fallback, when the route has
    ///   one (`canFallBack`).
    /// - Otherwise a retryable failure is tried again with backoff (honouring `Retry-After`) until
    ///   `maxSubmitAttempts`.
    /// - Anything else, or the last attempt, fails the batch: `submit_failed` after retries,
    ///   `submit_rejected` when the vendor refused it.
    ///
    /// A failure that may have created the batch (a timeout, an unreadable answer) keeps `sentAt` as the
    /// unconfirmed submit time, so the next attempt first asks the vendor.
    public func submitFailed(
        _ batch: UpstreamChunk,
        provider: String,
        subject: String,
        error: ProviderError,
        sentAt: Timestamp,
        canFallBack: Bool,
        at now: Timestamp
    ) -> SubmitFailure {
        var next = batch
        if error.mayHaveCreated { next.unconfirmedSubmitAt = batch.unconfirmedSubmitAt ?? sentAt }
        if error.isRetryableSubmit {
            if canFallBack { return .fallBack(reason: "fallback: submit failed (\(error.description))") }
            next.submitAttempts = batch.submitAttempts + 1
            if next.submitAttempts < maxSubmitAttempts {
                return .retry(next, after: .retry(attempt: next.submitAttempts, retryAfter: error.retryAfter))
            }
        }
        let failure = BatchError(
            code: error.isRetryableSubmit ? "submit_failed" : "submit_rejected",
            message: "Provider \(provider) did not accept \(subject): \(error.message)",
            providerCode: error.providerCode
        )
        next.state = JobStateMachine.finish(batch.state, as: .failed, error: failure, at: now)
        return .failed(next)
    }

    /// The batch after a poll answered: the observation folded in. When that finishes it, the runner reads
    /// the results before committing (`needsResults`).
    public func polled(
        _ batch: UpstreamChunk,
        _ observation: ProviderObservation,
        at now: Timestamp
    ) -> (batch: UpstreamChunk, needsResults: Bool) {
        var next = batch
        next.state = JobStateMachine.apply(observation, to: batch.state, at: now)
        return (next, next.state.lifecycle.isTerminal && !batch.state.lifecycle.isTerminal)
    }

    /// The results of a batch the poll finished (`polled`) could not be read.
    public func resultsFailed(_ polled: UpstreamChunk, error: ProviderError) -> ResultsFailure {
        polled.state.lifecycle == .completed && error.isRetryable
            ? .retry(after: .retry(attempt: 1, retryAfter: error.retryAfter)) : .finishWithout
    }

    /// A poll of `batch` at `provider` failed with `error`, the `failuresInARow`-th time in a row.
    ///
    /// The vendor not knowing the batch `maxNotFoundPolls` times in a row fails it as `provider_lost`;
    /// anything else is polled again with backoff, honouring `Retry-After`.
    public func pollFailed(
        _ batch: UpstreamChunk,
        provider: String,
        error: ProviderError,
        failuresInARow: Int,
        at now: Timestamp
    ) -> PollFailure {
        let record = error.code == .badResponse && failuresInARow == 1
        if error.code == .notFound && failuresInARow >= maxNotFoundPolls, let batchID = batch.providerBatchID {
            var lost = batch
            let error = BatchError(code: "provider_lost", message: "Provider \(provider) no longer knows batch \(batchID).")
            lost.state = JobStateMachine.finish(batch.state, as: .failed, error: error, at: now)
            return PollFailure(batch: lost, recordAttempt: record, next: nil)
        }
        return PollFailure(
            batch: batch,
            recordAttempt: record,
            next: .retry(attempt: failuresInARow, retryAfter: error.retryAfter)
        )
    }

    /// When a job whose upstream batches are `batches` takes its next turn, given the delays its batches'
    /// answers asked for this turn (`retries`): nil once every batch finished; soon while one still needs
    /// a submit; otherwise at the poll interval, or later when a failure asked for a longer backoff.
    public func nextTurn(_ batches: [UpstreamChunk], retries: [TurnDelay]) -> TurnDelay? {
        guard batches.contains(where: { !$0.state.lifecycle.isTerminal }) else { return nil }
        let earliestRetry = retries.min()
        if batches.contains(where: { $0.providerBatchID == nil && !$0.state.lifecycle.isTerminal }) {
            return earliestRetry ?? .retry(attempt: 1, retryAfter: nil)
        }
        guard let earliestRetry else { return .pollInterval }
        return .atLeastPollInterval(earliestRetry)
    }
}

/// When a job's next turn comes, before jitter: the runner draws the actual duration.
public indirect enum TurnDelay: Sendable, Hashable, Comparable {
    /// At once (after a move to another provider).
    case immediately
    /// After the batch's `Backoff` for this attempt, never sooner than the vendor's `Retry-After`.
    case retry(attempt: Int, retryAfter: Duration?)
    /// After the provider's poll interval.
    case pollInterval
    /// After the poll interval or the delay, whichever is longer.
    case atLeastPollInterval(TurnDelay)

    /// Orders delays without drawing them: at once, then retries by attempt and `Retry-After`, then the poll
    /// interval. Only the earliest retry of a turn is taken, so this need not know the poll interval.
    public static func < (lhs: TurnDelay, rhs: TurnDelay) -> Bool {
        switch (lhs, rhs) {
        case (.immediately, .immediately): false
        case (.immediately, _): true
        case (_, .immediately): false
        case (.retry(let a, let aAfter), .retry(let b, let bAfter)):
            a != b ? a < b : (aAfter ?? .zero) < (bAfter ?? .zero)
        case (.retry, _): true
        case (_, .retry): false
        case (.pollInterval, .pollInterval): false
        case (.pollInterval, .atLeastPollInterval): true
        case (.atLeastPollInterval, .pollInterval): false
        case (.atLeastPollInterval(let a), .atLeastPollInterval(let b)): a < b
        }
    }
}

extension Job {
    /// The job's own upstream batch, as the rules see it (a chunk covering every item); for a job that is
    /// not split into chunks. Setting it writes the batch's fields back to the job.
    public var upstream: UpstreamChunk {
        get {
            var batch = UpstreamChunk(offset: 0, count: state.progress.total, providerBatchID: providerBatchID, state: state)
            batch.submitAttempts = submitAttempts
            batch.unconfirmedSubmitAt = unconfirmedSubmitAt
            return batch
        }
        set {
            providerBatchID = newValue.providerBatchID
            state = newValue.state
            submitAttempts = newValue.submitAttempts
            unconfirmedSubmitAt = newValue.unconfirmedSubmitAt
        }
    }
}

extension ProviderError {
    /// A submit that failed this way may still have created the upstream batch: it timed out, or the vendor
    /// answered with something unreadable. The next attempt first asks the provider whether it did.
    public var mayHaveCreated: Bool { code == .timeout || code == .badResponse }

    /// Whether a submit that failed this way is tried again (after asking, when it `mayHaveCreated`).
    public var isRetryableSubmit: Bool { isRetryable || code == .badResponse }
}
