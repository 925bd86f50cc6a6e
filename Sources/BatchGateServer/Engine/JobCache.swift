import BatchGateCore
import DequeModule
import NIOCore
import Synchronization

/// The jobs the gateway works on, in memory: every active job, plus recently used finished ones.
///
/// It also keeps each job's rendered batch object for its current version, so `GET /v1/batches/{id}`
/// costs a lookup, not an encode.
final class JobCache: Sendable {
    private struct Entry {
        var job: Job
        var rendered: ByteBuffer?
        /// Counts invalidations, so a rendering begun before one is not kept after it.
        var renderEpoch: UInt64 = 0
    }

    private struct State {
        var entries: [String: Entry] = [:]
        /// Finished jobs in the order they were cached; the oldest is evicted first.
        var finished: Deque<String> = []
    }

    private let state = Mutex(State())
    private let finishedCapacity: Int
    /// Every newer version `put` stores, for the events stream.
    let changes = JobChangeFeed()

    /// - Parameter finishedCapacity: how many finished jobs to keep; active jobs are always kept.
    init(finishedCapacity: Int = 20_000) {
        self.finishedCapacity = finishedCapacity
    }

    func job(_ id: String) -> Job? {
        state.withLock { $0.entries[id]?.job }
    }

    /// The rendered batch object, if one is cached for the job's current version.
    func rendered(_ id: String) -> (job: Job, body: ByteBuffer?)? {
        state.withLock { state in state.entries[id].map { ($0.job, $0.rendered) } }
    }

    /// Stores `job` unless a newer version is cached; returns the job now cached.
    @discardableResult
    func put(_ job: Job) -> Job {
        state.withLock { state in
            if let existing = state.entries[job.id], existing.job.version >= job.version {
                return existing.job
            }
            let wasFinished = state.entries[job.id].map { !$0.job.isActive } ?? false
            state.entries[job.id] = Entry(job: job, rendered: nil)
            if !job.isActive && !wasFinished {
                state.finished.append(job.id)
                while state.finished.count > finishedCapacity, let oldest = state.finished.popFirst() {
                    state.entries[oldest] = nil
                }
            }
            changes.publish(job)
            return job
        }
    }

    /// The job's render epoch: read it before reading what a rendering shows, and hand it to `storeRendering`.
    func renderEpoch(_ id: String) -> UInt64? {
        state.withLock { $0.entries[id]?.renderEpoch }
    }

    /// Keeps a rendering of `version` made from data read after `epoch` was current; ignored if the job
    /// moved on or its rendering was invalidated meanwhile (the rendering may show the older data).
    func storeRendering(_ id: String, version: Int, epoch: UInt64?, body: ByteBuffer) {
        state.withLock { state in
            guard var entry = state.entries[id], entry.job.version == version, entry.renderEpoch == epoch else { return }
            entry.rendered = body
            state.entries[id] = entry
        }
    }

    /// Drops the rendering of a job whose shown state changed outside its version (webhook deliveries).
    func invalidateRendering(_ id: String) {
        state.withLock { state in
            state.entries[id]?.rendered = nil
            state.entries[id]?.renderEpoch &+= 1
        }
    }

    /// Every cached job that is not terminal.
    func activeJobs() -> [Job] {
        state.withLock { $0.entries.values.lazy.map(\.job).filter(\.isActive) }
    }

    /// Forgets job `id` if the cached version is older than `version` (another replica stored a newer one):
    /// the next read takes it from the store.
    func evict(_ id: String, olderThan version: Int) {
        state.withLock { state in
            if let entry = state.entries[id], entry.job.version < version { state.entries[id] = nil }
        }
    }

    /// The id of every cached job.
    func ids() -> [String] {
        state.withLock { Array($0.entries.keys) }
    }

    var count: Int { state.withLock { $0.entries.count } }
}
