import BatchGateCore
import Synchronization
import Testing

@testable import BatchGateServer

/// The poll scheduler on a manual clock: turns come exactly when their time does, in order, and the
/// delay a turn returns is its next one — with no real waiting for any of it.
struct PollSchedulerTests {
    /// Turns seen so far: the job and the clock's time (in seconds) when it ran.
    final class Turns: Sendable {
        let seen = Mutex<[(job: String, at: Duration)]>([])
        var all: [(job: String, at: Duration)] { seen.withLock { $0 } }
    }

    @Test func turnsComeWhenTheClockReachesThemAndNotBefore() async throws {
        let manual = ManualClock()
        let clock = GatewayClock.manual(manual)
        let scheduler = PollScheduler(clock: clock, logger: GatewayHarness.logger)
        let turns = Turns()
        scheduler.schedule("a", after: .seconds(10))
        scheduler.schedule("b", after: .seconds(5))
        scheduler.schedule("c", after: .seconds(30))
        let runner = Task {
            await scheduler.run { job in
                let count = turns.seen.withLock { seen in
                    seen.append((job, manual.now))
                    return seen.filter { $0.job == job }.count
                }
                // "b" polls every 5 s three times; the others take one turn.
                return job == "b" && count < 3 ? .seconds(5) : nil
            }
        }
        defer { runner.cancel() }

        func advance(to seconds: Int, expecting count: Int) async throws {
            try await eventually("the scheduler waiting on the clock") { manual.sleepers >= 1 }
            manual.advance(by: .seconds(seconds) - manual.now)
            try await eventually("\(count) turns by \(seconds) s") { turns.all.count >= count }
        }
        try await eventually("the scheduler waiting on the clock") { manual.sleepers >= 1 }
        #expect(turns.all.isEmpty, "nothing runs before the clock moves")
        try await advance(to: 4, expecting: 0)
        #expect(turns.all.isEmpty)
        try await advance(to: 5, expecting: 1)
        try await advance(to: 10, expecting: 3)
        try await advance(to: 15, expecting: 4)
        try await advance(to: 29, expecting: 4)
        try await advance(to: 30, expecting: 5)
        let seen = turns.all.map { "\($0.job)@\($0.at.components.seconds)" }
        #expect(seen.count == 5)
        #expect(seen[0] == "b@5")
        #expect(Set(seen[1...2]) == ["a@10", "b@10"])
        #expect(seen[3...] == ["b@15", "c@30"])
        #expect(scheduler.scheduledCount == 0, "every job said it needs no more turns")
    }

    @Test func aSleepOnTheManualClockEndsWithItsTaskCancelled() async throws {
        let manual = ManualClock()
        let sleeper = Task { try await GatewayClock.manual(manual).sleep(for: .seconds(3_600)) }
        try await eventually("the sleeper") { manual.sleepers == 1 }
        sleeper.cancel()
        await #expect(throws: CancellationError.self) { try await sleeper.value }
        #expect(manual.sleepers == 0)
        // A deadline already passed returns at once.
        manual.advance(by: .seconds(10))
        try await GatewayClock.manual(manual).sleep(until: .init(sinceOrigin: .seconds(5)), tolerance: nil)
    }
}
