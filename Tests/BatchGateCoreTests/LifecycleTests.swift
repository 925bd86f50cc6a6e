import BatchGateCore
import Testing

@Suite struct LifecycleTransitionTests {
    /// Every ordered pair of statuses, with whether the move is allowed (CONTRACT §1).
    static let table: [(LifecycleStatus, LifecycleStatus, Bool)] = {
        let allowed: Set<String> = [
            "pending→running", "pending→completed", "pending→failed", "pending→cancelled", "pending→expired",
            "running→completed", "running→failed", "running→cancelled", "running→expired",
        ]
        return LifecycleStatus.allCases.flatMap { from in
            LifecycleStatus.allCases.map { to in (from, to, allowed.contains("\(from.rawValue)→\(to.rawValue)")) }
        }
    }()

    @Test(arguments: table)
    func transition(from: LifecycleStatus, to: LifecycleStatus, allowed: Bool) {
        #expect(from.canTransition(to: to) == allowed)
    }

    @Test(arguments: LifecycleStatus.allCases)
    func terminalStatuses(status: LifecycleStatus) {
        #expect(status.isTerminal == [.completed, .failed, .cancelled, .expired].contains(status))
    }
}

@Suite struct JobStateMachineTests {
    let t0 = Timestamp(milliseconds: 1_700_000_000_000)

    func observation(
        _ lifecycle: LifecycleStatus,
        total: Int? = 10,
        succeeded: Int = 0,
        failed: Int = 0,
        status: String = "x",
        hint: Int? = nil
    ) -> ProviderObservation {
        ProviderObservation(lifecycle: lifecycle, providerStatus: status, total: total, succeeded: succeeded, failed: failed, percentHint: hint)
    }

    /// (current lifecycle, observed lifecycle, resulting lifecycle) for every pair.
    static let applyTable: [(LifecycleStatus, LifecycleStatus, LifecycleStatus)] = LifecycleStatus.allCases.flatMap { from in
        LifecycleStatus.allCases.map { to in (from, to, from.canTransition(to: to) ? to : from) }
    }

    @Test(arguments: applyTable)
    func applyMovesOnlyForward(from: LifecycleStatus, observed: LifecycleStatus, expected: LifecycleStatus) {
        let state = JobState(lifecycle: from)
        let next = JobStateMachine.apply(observation(observed), to: state, at: t0)
        #expect(next.lifecycle == expected)
        if from.isTerminal { #expect(next == state, "a terminal state never changes") }
        if expected.isTerminal && !from.isTerminal {
            #expect(next.progress.percent == 100)
            #expect(next.completedAt == t0)
        }
    }

    @Test func countersNeverGoDownAndPercentIsMonotonic() {
        var state = JobState()
        state = JobStateMachine.apply(observation(.running, succeeded: 5, failed: 1), to: state, at: t0)
        #expect(state.progress == BatchProgress(total: 10, succeeded: 5, failed: 1, pending: 4, percent: 60))
        // A late event with lower counts changes nothing.
        let late = JobStateMachine.apply(observation(.running, succeeded: 2, failed: 0), to: state, at: t0)
        #expect(late.progress == state.progress)
        // A late `pending` neither moves the job back nor changes the provider status.
        let stale = JobStateMachine.apply(observation(.pending, total: 10, status: "pending"), to: state, at: t0)
        #expect(stale.lifecycle == .running)
        #expect(stale.providerStatus == "x")
    }

    @Test func percentIsNinetyNineAtMostUntilTerminal() {
        var state = JobStateMachine.apply(observation(.running, succeeded: 10, failed: 0), to: JobState(), at: t0)
        #expect(state.progress.percent == 99)
        #expect(state.progress.pending == 0)
        state = JobStateMachine.apply(observation(.completed, succeeded: 10), to: state, at: t0)
        #expect(state.progress.percent == 100)
        #expect(state.lifecycle == .completed)
        #expect(state.error == nil)
    }

    @Test func percentHintRaisesButNeverLowersPercent() {
        var state = JobStateMachine.apply(observation(.running, hint: 40), to: JobState(), at: t0)
        #expect(state.progress.percent == 40)
        state = JobStateMachine.apply(observation(.running, hint: 20), to: state, at: t0)
        #expect(state.progress.percent == 40)
        state = JobStateMachine.apply(observation(.running, hint: 150), to: state, at: t0)
        #expect(state.progress.percent == 99)
    }

    @Test func totalGrowsToCoverCounts() {
        let state = JobStateMachine.apply(observation(.running, total: nil, succeeded: 3, failed: 2), to: JobState(), at: t0)
        #expect(state.progress.total == 5)
        #expect(state.progress.succeeded + state.progress.failed + state.progress.pending == state.progress.total)
    }

    @Test func failureKeepsTheProviderError() {
        var failing = observation(.failed, status: "failed")
        failing.error = BatchError(code: "provider_failed", message: "boom", providerCode: "LLM_BATCH_FAILED")
        let state = JobStateMachine.apply(failing, to: JobState(lifecycle: .running), at: t0)
        #expect(state.error?.providerCode == "LLM_BATCH_FAILED")
        let defaulted = JobStateMachine.apply(observation(.expired), to: JobState(lifecycle: .running), at: t0)
        #expect(defaulted.error?.code == "provider_expired")
    }

    @Test func phasesMoveForwardPerName() {
        let started = BatchPhase(name: "scraping", state: "started", counts: ["succeeded": 3])
        let done = BatchPhase(name: "scraping", state: "completed", counts: ["succeeded": 9])
        var obs = observation(.running)
        obs.phases = [done, BatchPhase(name: "analyzing", state: "started")]
        var state = JobStateMachine.apply(obs, to: JobState(lifecycle: .running), at: t0)
        obs.phases = [started]
        state = JobStateMachine.apply(obs, to: state, at: t0)
        #expect(state.phases.map(\.state) == ["completed", "started"])
        #expect(state.phases[0].counts["succeeded"] == 9)
    }

    @Test(arguments: [LifecycleStatus.completed, .failed, .cancelled, .expired])
    func finishOnlyFromNonTerminal(status: LifecycleStatus) {
        let error = BatchError(code: "x", message: "y")
        let finished = JobStateMachine.finish(JobState(), as: status, error: error, at: t0)
        #expect(finished.lifecycle == status)
        #expect(finished.progress.percent == 100)
        #expect((finished.error == nil) == (status == .completed))
        let again = JobStateMachine.finish(finished, as: .failed, error: error, at: t0)
        #expect(again == finished)
    }
}

@Suite struct TimestampAndIdentifierTests {
    @Test(arguments: [
        (Int64(0), "1970-01-01T00:00:00.000Z"),
        (Int64(1_705_315_200_000), "2024-01-15T10:40:00.000Z"),
        (Int64(1_705_315_200_123), "2024-01-15T10:40:00.123Z"),
        (Int64(951_782_400_000), "2000-02-29T00:00:00.000Z"),
        (Int64(-1), "1969-12-31T23:59:59.999Z"),
    ])
    func rfc3339(milliseconds: Int64, expected: String) {
        #expect(Timestamp(milliseconds: milliseconds).rfc3339 == expected)
    }

    @Test func identifiersSortByTimeAndValidate() {
        let early = Identifier.make(prefix: "bat", at: Timestamp(milliseconds: 1_000))
        let late = Identifier.make(prefix: "bat", at: Timestamp(milliseconds: 2_000))
        #expect(early < late)
        #expect(Identifier.isWellFormed(early, prefix: "bat"))
        #expect(!Identifier.isWellFormed("bat_short", prefix: "bat"))
        #expect(!Identifier.isWellFormed("dlv_" + early.dropFirst(4), prefix: "bat"))
        #expect(Identifier.constantTimeEquals("abc", "abc"))
        #expect(!Identifier.constantTimeEquals("abc", "abd"))
        #expect(!Identifier.constantTimeEquals("abc", "abcd"))
    }
}

/// Vendor numbers are untrusted: whatever an observation claims, the job's counts stay within its size.
@Suite struct UntrustedCountTests {
    static let absurd: [Int] = [Int.max, Int.min, -1, 0, 3, 9, 10, 11, 1 << 53, Int.max - 1]

    @Test(arguments: absurd, absurd)
    func countsAreClampedToTheJobsSize(succeeded: Int, failed: Int) {
        let start = JobState(progress: BatchProgress(total: 10))
        for total in [nil, Int.max, Int.min, 5, 1_000] as [Int?] {
            for hint in [nil, Int.max, Int.min, 50] as [Int?] {
                let observation = ProviderObservation(
                    lifecycle: .running,
                    providerStatus: "processing",
                    total: total,
                    succeeded: succeeded,
                    failed: failed,
                    percentHint: hint
                )
                let next = JobStateMachine.apply(observation, to: start, at: Timestamp(milliseconds: 0))
                let progress = next.progress
                #expect(progress.total == 10)
                #expect((0...10).contains(progress.succeeded))
                #expect((0...10).contains(progress.failed))
                #expect(progress.succeeded + progress.failed + progress.pending == 10)
                #expect((0...99).contains(progress.percent))
            }
        }
    }

    @Test func aJobWithoutAKnownSizeTakesABoundedTotal() {
        let observation = ProviderObservation(lifecycle: .running, providerStatus: "x", total: Int.max, succeeded: Int.max, failed: Int.max)
        let next = JobStateMachine.apply(observation, to: JobState(), at: Timestamp(milliseconds: 0))
        #expect(next.progress.total == JobStateMachine.maxItems)
        #expect(next.progress.succeeded + next.progress.failed <= JobStateMachine.maxItems)
    }

    @Test func countersStillNeverGoDownUnderContradictions() {
        var state = JobState(progress: BatchProgress(total: 10))
        let sequence: [(Int, Int)] = [(3, 2), (9, 9), (1, 1), (Int.max, 0), (0, Int.max), (2, 8)]
        var last = (0, 0)
        for (succeeded, failed) in sequence {
            state = JobStateMachine.apply(
                ProviderObservation(lifecycle: .running, providerStatus: "x", succeeded: succeeded, failed: failed),
                to: state,
                at: Timestamp(milliseconds: 0)
            )
            #expect(state.progress.succeeded >= last.0 && state.progress.failed >= last.1)
            #expect(state.progress.succeeded + state.progress.failed <= 10)
            last = (state.progress.succeeded, state.progress.failed)
        }
    }

    @Test(arguments: [Int64.max, Int64.min, 0, -62_167_219_200_001, 253_402_300_800_000])
    func timestampsNeverOverflow(milliseconds: Int64) {
        let time = Timestamp(milliseconds: milliseconds)
        _ = time.rfc3339
        _ = time.adding(.seconds(Int64.max))
        _ = time.adding(.seconds(Int64.min))
        #expect(time.rfc3339.count == 24)
    }
}
