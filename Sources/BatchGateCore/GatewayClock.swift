import Synchronization

/// The clock the engine waits on: the system's continuous clock in the gateway, or a `ManualClock` a
/// test moves forward, so timing (poll intervals, backoff, heartbeats, reconnects) is tested without
/// waiting for it.
public struct GatewayClock: Clock, Sendable {
    /// A point in time, as the time since the clock's origin.
    public struct Instant: InstantProtocol, Sendable {
        public var sinceOrigin: Duration

        public init(sinceOrigin: Duration) {
            self.sinceOrigin = sinceOrigin
        }

        public func advanced(by duration: Duration) -> Instant {
            Instant(sinceOrigin: sinceOrigin + duration)
        }

        public func duration(to other: Instant) -> Duration {
            other.sinceOrigin - sinceOrigin
        }

        public static func < (lhs: Instant, rhs: Instant) -> Bool {
            lhs.sinceOrigin < rhs.sinceOrigin
        }
    }

    private enum Source: Sendable {
        case continuous(origin: ContinuousClock.Instant)
        case manual(ManualClock)
    }

    private let source: Source

    /// The system's continuous clock (it keeps counting while the machine sleeps). One origin for the
    /// process, so instants from any two uses of it compare.
    public static let continuous = GatewayClock(source: .continuous(origin: ContinuousClock.now))

    /// A clock that moves only when `clock` is advanced.
    public static func manual(_ clock: ManualClock) -> GatewayClock {
        GatewayClock(source: .manual(clock))
    }

    public var now: Instant {
        switch source {
        case .continuous(let origin): Instant(sinceOrigin: ContinuousClock.now - origin)
        case .manual(let clock): Instant(sinceOrigin: clock.now)
        }
    }

    public var minimumResolution: Duration { .nanoseconds(1) }

    public func sleep(until deadline: Instant, tolerance: Duration?) async throws {
        switch source {
        case .continuous(let origin):
            try await ContinuousClock().sleep(until: origin + deadline.sinceOrigin, tolerance: tolerance)
        case .manual(let clock):
            try await clock.sleep(until: deadline.sinceOrigin)
        }
    }
}

/// Time that moves only when told to: `advance(by:)` wakes every sleeper whose deadline it reaches, in
/// deadline order. A sleeping task that is cancelled wakes at once with `CancellationError`.
public final class ManualClock: Sendable {
    private struct Sleeper {
        var deadline: Duration
        var continuation: CheckedContinuation<Void, any Error>
    }

    private struct State {
        var now: Duration = .zero
        var sleepers: [UInt64: Sleeper] = [:]
        var nextID: UInt64 = 0
    }

    private let state = Mutex(State())

    public init() {}

    /// The time since the clock was made.
    public var now: Duration { state.withLock(\.now) }

    /// How many tasks sleep on the clock now.
    public var sleepers: Int { state.withLock(\.sleepers.count) }

    /// Moves the clock forward and wakes the sleepers whose deadline has come.
    public func advance(by duration: Duration) {
        let due = state.withLock { state -> [Sleeper] in
            state.now += max(.zero, duration)
            let now = state.now
            let due = state.sleepers.filter { $0.value.deadline <= now }
            for id in due.keys { state.sleepers[id] = nil }
            return due.values.sorted { $0.deadline < $1.deadline }
        }
        for sleeper in due { sleeper.continuation.resume() }
    }

    func sleep(until deadline: Duration) async throws {
        let id = state.withLock { state -> UInt64 in
            state.nextID += 1
            return state.nextID
        }
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                let resume = state.withLock { state -> Result<Void, any Error>? in
                    if Task.isCancelled { return .failure(CancellationError()) }
                    if deadline <= state.now { return .success(()) }
                    state.sleepers[id] = Sleeper(deadline: deadline, continuation: continuation)
                    return nil
                }
                if let resume { continuation.resume(with: resume) }
            }
        } onCancel: {
            let sleeper = state.withLock { $0.sleepers.removeValue(forKey: id) }
            sleeper?.continuation.resume(throwing: CancellationError())
        }
    }
}
