import Dispatch
import GRDB
import Metrics
import Synchronization

/// Serialises writes onto one SQLite connection and commits every write that queued up while the
/// previous transaction was committing in one transaction (group commit): one fsync for many writers.
///
/// Each write runs in its own savepoint, so one failing write rolls back alone. A write's caller resumes
/// only after the transaction holding it has committed.
final class GroupCommitWriter: Sendable {
    private struct PendingWrite: Sendable {
        /// Runs the write inside the open transaction; returns what to do once the transaction is durable.
        var run: @Sendable (Database) -> @Sendable (Result<Void, any Error>) -> Void
        /// Fails the write when its transaction never ran it.
        var fail: @Sendable (any Error) -> Void
    }

    private struct State {
        var pending: [PendingWrite] = []
        var draining = false
    }

    private let pool: DatabasePool
    private let queue = DispatchQueue(label: "batchgate.store.writer")
    private let state = Mutex(State())
    private let maxBatch: Int
    /// `batchgate_store_group_commit_size`: writes committed together in each transaction.
    private let groupSize = Recorder(label: "batchgate_store_group_commit_size", aggregate: true)

    init(pool: DatabasePool, maxBatch: Int = 512) {
        self.pool = pool
        self.maxBatch = maxBatch
    }

    /// Runs `body` in a savepoint of the next group transaction and returns its value after the commit.
    func write<T: Sendable>(_ body: @escaping @Sendable (Database) throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, any Error>) in
            let item = PendingWrite { db in
                do {
                    var value: T?
                    try db.inSavepoint {
                        value = try body(db)
                        return .commit
                    }
                    let result = value!
                    return { committed in
                        switch committed {
                        case .success: continuation.resume(returning: result)
                        case .failure(let error): continuation.resume(throwing: error)
                        }
                    }
                } catch {
                    return { _ in continuation.resume(throwing: error) }
                }
            } fail: { error in
                continuation.resume(throwing: error)
            }
            let startDrain = state.withLock { state -> Bool in
                state.pending.append(item)
                if state.draining { return false }
                state.draining = true
                return true
            }
            if startDrain {
                queue.async { self.drain() }
            }
        }
    }

    private func drain() {
        while true {
            let batch = state.withLock { state -> [PendingWrite] in
                let count = min(state.pending.count, maxBatch)
                let batch = Array(state.pending.prefix(count))
                state.pending.removeFirst(count)
                if batch.isEmpty { state.draining = false }
                return batch
            }
            if batch.isEmpty { return }
            groupSize.record(batch.count)
            var completions: [@Sendable (Result<Void, any Error>) -> Void] = []
            completions.reserveCapacity(batch.count)
            let outcome: Result<Void, any Error> = Result {
                try pool.writeWithoutTransaction { db in
                    try db.inTransaction(.immediate) {
                        for item in batch { completions.append(item.run(db)) }
                        return .commit
                    }
                }
            }
            for completion in completions { completion(outcome) }
            if case .failure(let error) = outcome {
                // Writes the failed transaction never reached.
                for item in batch[completions.count...] { item.fail(error) }
            }
        }
    }
}
