import BatchGateCore
import Synchronization

/// Tells subscribers of a job about each newer version of it that the job cache stores.
///
/// Every subscriber gets its own stream buffering only the newest version (`.bufferingNewest(1)`):
/// each version is the whole job, so a newer one supersedes any the subscriber has not read yet. A
/// slow subscriber therefore skips versions instead of holding memory, and publishing never waits
/// for one. It is fed by the cache, so it works the same for every provider.
final class JobChangeFeed: Sendable {
    private struct State {
        var nextSubscriber: UInt64 = 0
        var subscribers: [String: [UInt64: AsyncStream<Job>.Continuation]] = [:]
    }

    private let state = Mutex(State())

    init() {}

    /// A stream of the versions of job `id` stored from now on; it ends when the consumer stops
    /// iterating (which unsubscribes it) or on ``finishAll()``.
    func subscribe(_ id: String) -> AsyncStream<Job> {
        let (stream, continuation) = AsyncStream.makeStream(of: Job.self, bufferingPolicy: .bufferingNewest(1))
        let subscriber = state.withLock { state -> UInt64 in
            state.nextSubscriber += 1
            state.subscribers[id, default: [:]][state.nextSubscriber] = continuation
            return state.nextSubscriber
        }
        continuation.onTermination = { [weak self] _ in self?.unsubscribe(id, subscriber) }
        return stream
    }

    /// Hands `job` to every subscriber of its id. Never blocks.
    func publish(_ job: Job) {
        let continuations = state.withLock { state in state.subscribers[job.id].map { Array($0.values) } ?? [] }
        for continuation in continuations { continuation.yield(job) }
    }

    /// Ends every subscriber's stream.
    func finishAll() {
        let continuations = state.withLock { state in
            defer { state.subscribers = [:] }
            return state.subscribers.values.flatMap(\.values)
        }
        for continuation in continuations { continuation.finish() }
    }

    /// How many streams are subscribed to job `id`.
    func subscriberCount(_ id: String) -> Int {
        state.withLock { $0.subscribers[id]?.count ?? 0 }
    }

    private func unsubscribe(_ id: String, _ subscriber: UInt64) {
        state.withLock { state in
            state.subscribers[id]?[subscriber] = nil
            if state.subscribers[id]?.isEmpty == true { state.subscribers[id] = nil }
        }
    }
}
