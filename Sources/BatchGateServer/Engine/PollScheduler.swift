import BatchGateCore
import HeapModule
import Logging
import ServiceLifecycle
import Synchronization

/// When each active job next needs work (a submit or a poll), and the loop that runs that work with
/// bounded concurrency.
///
/// One entry per job: scheduling a job again replaces its earlier time. The handler returns the delay
/// until the job's next turn, or nil when the job needs no more turns.
final class PollScheduler<C: Clock>: Sendable where C.Duration == Duration {
    private struct Item: Comparable {
        var due: C.Instant
        var jobID: String
        var generation: UInt64

        static func < (lhs: Item, rhs: Item) -> Bool { lhs.due < rhs.due }
        static func == (lhs: Item, rhs: Item) -> Bool { lhs.due == rhs.due && lhs.generation == rhs.generation }
    }

    private struct State {
        var heap = Heap<Item>()
        /// The live generation per scheduled job; heap items of older generations are skipped.
        var generations: [String: UInt64] = [:]
        var nextGeneration: UInt64 = 0
        var inFlight: Set<String> = []
        /// Jobs asked for again while their turn was running: run them again right after.
        var rerun: Set<String> = []
    }

    private let state = Mutex(State())
    private let wake = WakeSignal()
    private let clock: C
    private let maxConcurrent: Int
    private let logger: Logger

    init(clock: C, maxConcurrent: Int = 256, logger: Logger) {
        self.clock = clock
        self.maxConcurrent = maxConcurrent
        self.logger = logger
    }

    /// Gives `jobID` its next turn after `delay` (replacing any earlier schedule).
    func schedule(_ jobID: String, after delay: Duration) {
        let due = clock.now.advanced(by: max(.zero, delay))
        let isEarliest = state.withLock { state -> Bool in
            if state.inFlight.contains(jobID) {
                if delay <= .zero { state.rerun.insert(jobID) }
                return false
            }
            state.nextGeneration += 1
            state.generations[jobID] = state.nextGeneration
            let item = Item(due: due, jobID: jobID, generation: state.nextGeneration)
            let earliest = state.heap.min.map { item.due < $0.due } ?? true
            state.heap.insert(item)
            return earliest
        }
        if isEarliest { wake.signal() }
    }

    /// Gives `jobID` a turn as soon as possible.
    func runSoon(_ jobID: String) { schedule(jobID, after: .zero) }

    /// Drops `jobID` from the schedule.
    func cancel(_ jobID: String) {
        state.withLock { state in
            state.generations[jobID] = nil
            state.rerun.remove(jobID)
        }
    }

    /// Whether `jobID` has a turn scheduled or running.
    func isScheduled(_ jobID: String) -> Bool {
        state.withLock { $0.generations[jobID] != nil || $0.inFlight.contains(jobID) }
    }

    /// How many jobs are scheduled or running.
    var scheduledCount: Int { state.withLock { $0.generations.count + $0.inFlight.count } }

    /// Runs turns until graceful shutdown or cancellation; running turns are allowed to finish.
    func run(handler: @escaping @Sendable (String) async -> Duration?) async {
        let stopping = Atomic<Bool>(false)
        await withGracefulShutdownHandler {
            await withDiscardingTaskGroup { group in
                while !stopping.load(ordering: .relaxed) && !Task.isCancelled {
                    let (due, wait) = takeDue()
                    for jobID in due {
                        group.addTask {
                            let next = await handler(jobID)
                            self.finish(jobID, next: next)
                        }
                    }
                    if due.isEmpty {
                        await wake.wait(timeout: wait, clock: clock)
                    }
                }
            }
        } onGracefulShutdown: {
            stopping.store(true, ordering: .relaxed)
            self.wake.signal()
        }
    }

    /// Pops due jobs up to the concurrency limit; also says how long to wait when none are due.
    private func takeDue() -> ([String], Duration) {
        let now = clock.now
        return state.withLock { state in
            var due: [String] = []
            while state.inFlight.count < maxConcurrent, let top = state.heap.min {
                guard state.generations[top.jobID] == top.generation else {
                    _ = state.heap.removeMin()
                    continue
                }
                guard top.due <= now else { break }
                _ = state.heap.removeMin()
                state.generations[top.jobID] = nil
                state.inFlight.insert(top.jobID)
                due.append(top.jobID)
            }
            let wait: Duration
            if state.inFlight.count >= maxConcurrent {
                wait = .seconds(1)  // a finishing turn signals
            } else if let top = state.heap.min {
                wait = max(.milliseconds(1), now.duration(to: top.due))
            } else {
                wait = .seconds(60)
            }
            return (due, wait)
        }
    }

    private func finish(_ jobID: String, next: Duration?) {
        let rerun = state.withLock { state -> Bool in
            state.inFlight.remove(jobID)
            return state.rerun.remove(jobID) != nil
        }
        if rerun {
            schedule(jobID, after: .zero)
        } else if let next {
            schedule(jobID, after: next)
        }
        wake.signal()  // a concurrency slot is free
    }
}
