import BatchGateCore
import Logging
import ServiceLifecycle
import Synchronization

/// The jobs of streaming providers whose vendor connection is kept open: one observer per job, started
/// on request and run as children of one task group (`run`), so no connection outlives the gateway.
final class StreamObservers: Sendable {
    private let observed = Mutex<Set<String>>([])
    private let queue: AsyncStream<String>
    private let continuation: AsyncStream<String>.Continuation

    init() {
        (queue, continuation) = AsyncStream.makeStream(of: String.self)
    }

    /// Starts observing `jobID` unless it is observed already.
    func request(_ jobID: String) {
        let isNew = observed.withLock { $0.insert(jobID).inserted }
        if isNew { continuation.yield(jobID) }
    }

    /// Runs `observe` for every requested job concurrently until graceful shutdown, then cancels them
    /// (their connections close; nothing unacknowledged is lost: the next start's snapshot has it all).
    func run(_ observe: @escaping @Sendable (String) async -> Void) async {
        await withGracefulShutdownHandler {
            await withDiscardingTaskGroup { group in
                for await jobID in queue {
                    group.addTask {
                        await observe(jobID)
                        self.observed.withLock { _ = $0.remove(jobID) }
                    }
                }
                group.cancelAll()
            }
        } onGracefulShutdown: {
            self.continuation.finish()
        }
    }
}

/// What one observer knows of its job between messages: the rows so far and how the connection goes.
final class StreamSession: Sendable {
    private struct State {
        var book: StreamRowBook
        var messages = 0
        var heldTerminal = false
        var allowIncompleteTerminal = false
        var heldPolls = 0
    }

    let batchID: String
    private let state: Mutex<State>

    init(batchID: String, stored: [ItemResult]) {
        self.batchID = batchID
        state = Mutex(State(book: StreamRowBook(stored: stored)))
    }

    /// A new connection begins: counts its messages from zero. After a terminal message was held back
    /// for missing rows once, the next one is taken whatever rows arrived.
    func connectionStarted() {
        state.withLock { state in
            state.messages = 0
            if state.heldTerminal {
                state.heldTerminal = false
                state.allowIncompleteTerminal = true
            }
        }
    }

    /// Messages received on the current connection.
    var messages: Int { state.withLock { $0.messages } }

    /// Counts a message and merges its rows; returns the changed results and the final row counts.
    func merge(_ rows: [StreamRow]) -> (changed: [ItemResult], succeeded: Int, failed: Int) {
        state.withLock { state in
            state.messages += 1
            let changed = state.book.merge(rows)
            return (changed, state.book.succeeded, state.book.failed)
        }
    }

    /// Whether a terminal message saying `finalRows` documents are done must wait for the rows it
    /// reports (they come with the snapshot of a fresh connection); records the hold.
    func holdTerminal(finalRows: Int) -> Bool {
        state.withLock { state in
            guard !state.allowIncompleteTerminal, finalRows > state.book.finalCount else { return false }
            state.heldTerminal = true
            return true
        }
    }

    /// The final row counts.
    var counts: (succeeded: Int, failed: Int) { state.withLock { ($0.book.succeeded, $0.book.failed) } }

    /// Whether a status poll saying the job finished with `finalRows` documents done must wait for rows
    /// a socket has not brought yet; at most `limit` times.
    func holdPolledTerminal(finalRows: Int, limit: Int) -> Bool {
        state.withLock { state in
            guard finalRows > state.book.finalCount, state.heldPolls < limit else { return false }
            state.heldPolls += 1
            return true
        }
    }
}

/// Thrown from a message handler to close a connection whose job moved on (finished, migrated).
struct StreamNoLongerNeeded: Error {}

extension JobEngine {
    /// A turn of a streaming provider's job: submit it when it is not upstream yet, otherwise make sure
    /// it is observed. Checks again after `observerRecheck`.
    func streamingTurn(_ job: Job, _ provider: any StreamingBatchProvider) async throws -> Duration? {
        if job.providerBatchID == nil {
            let next = try await submit(job, to: provider)
            guard let stored = cache.job(job.id), stored.isActive, stored.providerBatchID != nil else { return next }
        }
        observers.request(job.id)
        return configuration.observerRecheck
    }

    /// Observes one job until it is finished, leaves its streaming provider, or the gateway stops:
    /// reconnects with backoff after every disconnect, and polls the vendor's status between attempts
    /// once several connects in a row failed.
    func observe(_ id: String) async {
        var connectFailures = 0
        var session: StreamSession?
        while !Task.isCancelled {
            let job: Job
            let provider: any StreamingBatchProvider
            let batchID: String
            do {
                // Only the replica holding the job's lease keeps a connection open for it, as the store says: a
                // replica paused past its heartbeat must not open one beside the new owner's.
                guard await leases.confirm(id), let found = try await Self.inChildTask({ try await self.currentJob(id) }), found.isActive,
                    let streaming = providers[found.provider] as? any StreamingBatchProvider, let upstream = found.providerBatchID
                else { return }
                (job, provider, batchID) = (found, streaming, upstream)
                if session?.batchID != batchID {
                    let stored = try await Self.inChildTask { try await self.store.results(jobID: id, afterIndex: nil, limit: Int.max) }
                    session = StreamSession(batchID: batchID, stored: stored)
                }
            } catch {
                logger.error("cannot read the observed job", metadata: ["job": "\(id)", "error": "\(error)"])
                if (try? await clock.sleep(for: configuration.maxReconnectDelay)) == nil { return }
                continue
            }
            let current = session!
            current.connectionStarted()
            do {
                let end = try await provider.observe(providerBatchID: batchID) { update in
                    try await Self.inChildTask { try await self.applyStreamUpdate(update, jobID: id, session: current) }
                }
                connectFailures = current.messages > 0 ? 0 : connectFailures + 1
                switch end {
                case .terminal:
                    // Finished (the loop ends), or held back for missing rows: reconnect at once for the snapshot.
                    continue
                case .disconnected(let reason):
                    logger.info(
                        "vendor connection ended; reconnecting",
                        metadata: ["job": "\(id)", "provider": "\(job.provider)", "reason": "\(reason)"]
                    )
                }
            } catch is StreamNoLongerNeeded {
                continue
            } catch is CancellationError where Task.isCancelled {
                return
            } catch let error as ProviderError where error.code == .rejected {
                await failObserved(id, batchID: batchID, error)
                return
            } catch {
                connectFailures = current.messages > 0 ? 0 : connectFailures + 1
                logger.warning(
                    "vendor connection failed",
                    metadata: ["job": "\(id)", "provider": "\(job.provider)", "failures": "\(connectFailures)", "error": "\(error)"]
                )
            }
            if Task.isCancelled { return }
            if connectFailures >= configuration.connectFailuresBeforePolling {
                _ = try? await Self.inChildTask { await self.pollObserved(id, batchID: batchID, provider, session: current) }
            }
            let delay = connectFailures == 0 ? configuration.reconnectBaseDelay : reconnectDelay(failures: connectFailures)
            if (try? await clock.sleep(for: delay)) == nil { return }
        }
    }

    /// Exponential backoff from `reconnectBaseDelay`, capped at `maxReconnectDelay`, with jitter.
    private func reconnectDelay(failures: Int) -> Duration {
        var random = random
        return Backoff(base: configuration.reconnectBaseDelay, cap: configuration.maxReconnectDelay, jitter: .equal)
            .delay(afterAttempt: failures, using: &random)
    }

    /// Folds one pushed message into the job: rows merged by index and stored, counts and lifecycle
    /// through the state machine, committed before the next message is read.
    ///
    /// A terminal message that reports more finished documents than the rows received is held back
    /// once: the observer reconnects, and the snapshot of the new connection brings the missing rows.
    func applyStreamUpdate(_ update: StreamUpdate, jobID id: String, session: StreamSession) async throws {
        guard leases.lease(id) != nil, let job = try await currentJob(id), job.isActive, job.providerBatchID == session.batchID else {
            throw StreamNoLongerNeeded()
        }
        // A row the vendor numbers outside the job's documents cannot be anyone's result.
        let rows = update.rows.filter { $0.index < job.state.progress.total }
        if rows.count < update.rows.count {
            logger.warning(
                "ignoring rows numbered outside the job",
                metadata: ["job": "\(id)", "rows": "\(update.rows.count - rows.count)"]
            )
        }
        let (changed, rowsSucceeded, rowsFailed) = session.merge(rows)
        var observation: ProviderObservation
        if let told = update.observation {
            observation = told
        } else if !changed.isEmpty {
            observation = ProviderObservation(lifecycle: .running, providerStatus: job.state.providerStatus ?? "processing")
        } else {
            return
        }
        var event: ProviderEventRecord?
        if observation.lifecycle.isTerminal {
            if session.holdTerminal(finalRows: observation.succeeded + observation.failed) {
                logger.info(
                    "terminal message reports rows not received yet; reconnecting for the snapshot",
                    metadata: ["job": "\(id)", "rows": "\(rowsSucceeded + rowsFailed)"]
                )
                observation.lifecycle = .running
                observation.providerStatus = job.state.providerStatus ?? "processing"
                observation.error = nil
            } else {
                event = streamEvent(job, update, dedupeKey: "ws:\(update.messageType)")
            }
        } else if update.kind == .row, let row = rows.first {
            var retry = 0
            if let count = row.result.data?["retry_count"]?.intValue { retry = count }
            event = streamEvent(job, update, dedupeKey: "ws:row:\(row.index):\(row.result.status.rawValue):\(retry)")
        }
        observation.succeeded = max(observation.succeeded, rowsSucceeded)
        observation.failed = max(observation.failed, rowsFailed)
        let folded = observation
        try await updateJob(id, results: changed, event: event) { fresh in
            guard fresh.isActive, fresh.providerBatchID == session.batchID else { throw StreamNoLongerNeeded() }
            var updated = fresh
            updated.state = JobStateMachine.apply(folded, to: fresh.state, at: now())
            return updated.state != fresh.state || !changed.isEmpty ? updated : nil
        }
    }

    /// Runs `body` in a child task of its own and returns its result.
    ///
    /// A task keeps the memory its deepest call chain ever needed: Swift's task allocator holds on to its
    /// slabs until the task ends. An observer's task lives as long as its socket, so folding and committing
    /// each message there kept tens of KB per open socket (heaptrack: about 36 KB of the 62 KB each observer
    /// held); in a child task that memory is returned after every message. Store reads and status polls
    /// between connections run the same way.
    static func inChildTask<T: Sendable>(_ body: @escaping @Sendable () async throws -> T) async throws -> T {
        try await withThrowingTaskGroup(of: T.self) { group in
            group.addTask(operation: body)
            guard let result = try await group.next() else { throw CancellationError() }
            return result
        }
    }

    private func streamEvent(_ job: Job, _ update: StreamUpdate, dedupeKey: String) -> ProviderEventRecord? {
        guard !update.payload.isEmpty, let batchID = job.providerBatchID else { return nil }
        return ProviderEventRecord(
            jobID: job.id,
            provider: job.provider,
            providerBatchID: batchID,
            eventType: update.messageType,
            dedupeKey: dedupeKey,
            receivedAt: now(),
            payload: update.payload
        )
    }

    /// Fails an observed job the vendor refused to let us observe (credentials).
    private func failObserved(_ id: String, batchID: String, _ error: ProviderError) async {
        do {
            try await failForCredentials(id, batchID: batchID, error, operation: "observe")
        } catch {
            logger.error("cannot fail the observed job", metadata: ["job": "\(id)", "error": "\(error)"])
        }
    }

    /// Fails job `id` (still on upstream batch `batchID`) because its vendor refused the gateway's credentials.
    private func failForCredentials(_ id: String, batchID: String, _ error: ProviderError, operation: String) async throws {
        guard let job = try await currentJob(id) else { return }
        let failure = BatchError(
            code: "provider_auth_failed",
            message: "Provider \(job.provider) refused the credentials: \(error.message)",
            providerCode: error.providerCode
        )
        try await updateJob(
            id,
            attempts: [attempt(job, operation, outcome: error.code.rawValue, batch: batchID, message: error.message)]
        ) { fresh in
            guard fresh.isActive, fresh.providerBatchID == batchID else { return nil }
            var updated = fresh
            updated.state = JobStateMachine.finish(fresh.state, as: .failed, error: failure, at: now())
            return updated
        }
    }

    /// Reads the vendor's status while no connection can be opened; its counts and lifecycle are folded
    /// in as a poll's would be, so a job whose socket stays down still ends.
    private func pollObserved(_ id: String, batchID: String, _ provider: any StreamingBatchProvider, session: StreamSession) async {
        do {
            var observation: ProviderObservation
            do throws(ProviderError) {
                observation = try await provider.poll(providerBatchID: batchID)
            } catch {
                logger.warning("status poll failed", metadata: ["job": "\(id)", "error": "\(error)"])
                if error.code == .rejected { try await failForCredentials(id, batchID: batchID, error, operation: "poll") }
                return
            }
            if observation.lifecycle.isTerminal,
                session.holdPolledTerminal(finalRows: observation.succeeded + observation.failed, limit: configuration.heldTerminalPolls)
            {
                logger.info("the vendor reports the job finished; waiting for its rows over a socket", metadata: ["job": "\(id)"])
                return
            }
            let rows = session.counts
            observation.succeeded = max(observation.succeeded, rows.succeeded)
            observation.failed = max(observation.failed, rows.failed)
            let folded = observation
            try await updateJob(id) { fresh in
                guard fresh.isActive, fresh.providerBatchID == batchID else { return nil }
                var updated = fresh
                updated.state = JobStateMachine.apply(folded, to: fresh.state, at: now())
                return updated.state != fresh.state ? updated : nil
            }
        } catch {
            logger.error("cannot store the polled status", metadata: ["job": "\(id)", "error": "\(error)"])
        }
    }
}
