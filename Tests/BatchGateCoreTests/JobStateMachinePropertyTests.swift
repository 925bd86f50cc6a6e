import BatchGateCore
import Testing

/// Properties of `JobStateMachine` over thousands of random event sequences: what a vendor reports as a
/// job goes on, delivered duplicated, out of order and interleaved with nonsense, in single-batch jobs
/// and in jobs split into chunks. Seeded, so a failure names a sequence that can be replayed.
struct JobStateMachinePropertyTests {
    static let at = Timestamp(milliseconds: 1_800_000_000_000)
    static let terminals: [LifecycleStatus] = [.completed, .failed, .cancelled, .expired]

    /// What an honest vendor reports, in order, for a job of `total` items: counts only grow, the lifecycle
    /// only moves forward, and the last report is terminal.
    static func honestReports(total: Int, using random: inout RandomSource) -> [ProviderObservation] {
        var reports: [ProviderObservation] = [ProviderObservation(lifecycle: .pending, providerStatus: "queued", total: total)]
        var succeeded = 0
        var failed = 0
        while succeeded + failed < total {
            let step = Int.random(in: 1...max(1, total / 3), using: &random)
            let done = min(step, total - succeeded - failed)
            let failing = Int.random(in: 0...done, using: &random)
            failed += failing
            succeeded += done - failing
            reports.append(
                ProviderObservation(
                    lifecycle: .running,
                    providerStatus: "processing",
                    total: total,
                    succeeded: succeeded,
                    failed: failed,
                    phases: [BatchPhase(name: "scraping", state: "running", counts: ["done": succeeded + failed])]
                )
            )
        }
        let end = terminals.randomElement(using: &random)!
        reports.append(
            ProviderObservation(
                lifecycle: end,
                providerStatus: end.rawValue,
                total: total,
                succeeded: succeeded,
                failed: failed,
                phases: [BatchPhase(name: "scraping", state: "completed", counts: ["done": succeeded + failed])]
            )
        )
        return reports
    }

    /// Vendor nonsense: counts far out of range, negative, or past the job's size.
    static func nonsense(total: Int, using random: inout RandomSource) -> ProviderObservation {
        let values = [Int.min, -1, 0, total + 1, Int.max, 1_000_000_000]
        return ProviderObservation(
            lifecycle: [.pending, .running].randomElement(using: &random)!,
            providerStatus: "odd",
            total: values.randomElement(using: &random),
            succeeded: values.randomElement(using: &random)!,
            failed: values.randomElement(using: &random)!,
            percentHint: values.randomElement(using: &random)
        )
    }

    /// The reports delivered in a random order, some twice, some with nonsense between them; the terminal
    /// report is always among them.
    static func delivered(_ reports: [ProviderObservation], total: Int, using random: inout RandomSource) -> [ProviderObservation] {
        var out: [ProviderObservation] = []
        for report in reports {
            out.append(report)
            if Bool.random(using: &random) { out.append(report) }
            if Int.random(in: 0..<5, using: &random) == 0 { out.append(nonsense(total: total, using: &random)) }
        }
        out.shuffle(using: &random)
        return out
    }

    /// Checks the invariants of one step from `before` to `after`.
    static func checkStep(_ before: JobState, _ after: JobState, total: Int, context: @autoclosure () -> String) {
        if before.lifecycle.isTerminal {
            #expect(after == before, "terminal is final: \(context())")
        }
        #expect(after.lifecycle.rank >= before.lifecycle.rank, "the lifecycle never moves back: \(context())")
        #expect(after.progress.succeeded >= before.progress.succeeded, "succeeded never goes down: \(context())")
        #expect(after.progress.failed >= before.progress.failed, "failed never goes down: \(context())")
        #expect(after.progress.percent >= before.progress.percent, "percent never goes down: \(context())")
        #expect(after.progress.total == total, "the job's size stands: \(context())")
        #expect(after.progress.succeeded + after.progress.failed + after.progress.pending == total, "counts add up: \(context())")
        #expect((after.progress.percent == 100) == after.lifecycle.isTerminal, "100 % exactly when terminal: \(context())")
        #expect(after.progress.percent >= 0 && after.progress.pending >= 0, "nothing negative: \(context())")
    }

    @Test func randomDeliveriesKeepEveryInvariantAndEndTheSame() {
        var random = RandomSource(seed: 0xBA7C_4A7E)
        for sequence in 0..<1_000 {
            let total = Int.random(in: 1...40, using: &random)
            let reports = Self.honestReports(total: total, using: &random)
            let inOrder = reports.reduce(JobState(progress: BatchProgress(total: total))) { JobStateMachine.apply($1, to: $0, at: Self.at) }
            let events = Self.delivered(reports, total: total, using: &random)
            var state = JobState(progress: BatchProgress(total: total))
            for (step, event) in events.enumerated() {
                let next = JobStateMachine.apply(event, to: state, at: Self.at)
                Self.checkStep(state, next, total: total, context: "sequence \(sequence), step \(step), \(event)")
                state = next
            }
            // Whatever the order, the job ends terminal. It ends as the vendor said when the terminal report
            // came after every count; counts never exceed the job.
            #expect(state.lifecycle.isTerminal, "sequence \(sequence)")
            #expect(inOrder.lifecycle == reports.last!.lifecycle && inOrder.progress.succeeded + inOrder.progress.failed == total)
            #expect(state.progress.succeeded + state.progress.failed <= total, "sequence \(sequence)")
            if events.last.map({ $0.lifecycle.isTerminal && $0 == reports.last! }) == true {
                #expect(state.lifecycle == inOrder.lifecycle, "sequence \(sequence)")
            }
        }
    }

    @Test func duplicatesAndReorderingsOfCountsEndInTheSameProgress() {
        // Running reports only (the terminal one folded last, as a poll confirms it): any interleaving of
        // duplicates and reorderings ends with exactly the in-order progress and phases.
        var random = RandomSource(seed: 0x5EED)
        for sequence in 0..<1_000 {
            let total = Int.random(in: 1...40, using: &random)
            let reports = Self.honestReports(total: total, using: &random)
            let running = Array(reports.dropLast())
            var shuffled = running + running.filter { _ in Bool.random(using: &random) }
            shuffled.shuffle(using: &random)
            let start = JobState(progress: BatchProgress(total: total))
            let inOrder = (running + [reports.last!]).reduce(start) { JobStateMachine.apply($1, to: $0, at: Self.at) }
            let anyOrder = (shuffled + [reports.last!]).reduce(start) { JobStateMachine.apply($1, to: $0, at: Self.at) }
            #expect(anyOrder.lifecycle == inOrder.lifecycle, "sequence \(sequence)")
            #expect(anyOrder.progress == inOrder.progress, "sequence \(sequence)")
            #expect(anyOrder.phases == inOrder.phases, "sequence \(sequence)")
            #expect(anyOrder.error == inOrder.error, "sequence \(sequence)")
        }
    }

    @Test func chunkedJobsObeyTheSameRules() {
        // A job split into chunks: each chunk folds its own reports; the job folds the chunks' aggregate
        // after every event. The job's state obeys the same invariants as a single batch's.
        var random = RandomSource(seed: 0xC4A7)
        for sequence in 0..<300 {
            let sizes = (0..<Int.random(in: 2...5, using: &random)).map { _ in Int.random(in: 1...20, using: &random) }
            let total = sizes.reduce(0, +)
            var offset = 0
            var chunks: [UpstreamChunk] = sizes.map { size in
                defer { offset += size }
                return UpstreamChunk(offset: offset, count: size, state: JobState(progress: BatchProgress(total: size)))
            }
            var queue: [(Int, ProviderObservation)] = []
            for (index, size) in sizes.enumerated() {
                queue += Self.delivered(Self.honestReports(total: size, using: &random), total: size, using: &random).map { (index, $0) }
            }
            queue.shuffle(using: &random)
            var job = JobState(progress: BatchProgress(total: total))
            for (step, (index, report)) in queue.enumerated() {
                chunks[index].state = JobStateMachine.apply(report, to: chunks[index].state, at: Self.at)
                let next = JobStateMachine.apply(UpstreamChunk.aggregate(chunks), to: job, at: Self.at)
                Self.checkStep(job, next, total: total, context: "chunked sequence \(sequence), step \(step)")
                job = next
            }
            #expect(chunks.allSatisfy { $0.state.lifecycle.isTerminal })
            #expect(job.lifecycle.isTerminal, "chunked sequence \(sequence): \(job.lifecycle)")
        }
    }
}
