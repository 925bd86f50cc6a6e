import BatchGateCore
import Logging
import ServiceLifecycle
import Synchronization

/// The jobs this replica works on, claimed as leases in the store.
///
/// The store is the source of truth: a job is this replica's to submit, poll or observe only while the
/// store says it holds the job's lease. This keeps the leases it took (so a turn need not ask the store
/// each time), renews them all with one heartbeat, drops the ones the heartbeat says were taken over,
/// and finds active jobs nobody alive holds (a replica died, or a job was created elsewhere) so this
/// replica can take them.
final class JobLeases: Sendable {
    struct Configuration: Sendable {
        /// How long a heartbeat keeps this replica's leases: another replica takes its jobs over this long
        /// after it stops renewing them.
        var ttl: Duration = .seconds(15)
        /// How often the heartbeat renews them and unleased jobs are looked for.
        var heartbeatInterval: Duration = .seconds(5)
        /// The most unleased jobs taken up in one look.
        var adoptBatch = 1000
    }

    let store: any JobStore
    let configuration: Configuration
    private let held = Mutex<[String: JobLease]>([:])
    /// Ends the heartbeat loop's wait early: at shutdown, or when unleased jobs should be claimed now.
    private let wakeUp = WakeSignal()
    private let now: @Sendable () -> Timestamp
    /// What the heartbeat loop waits on.
    private let clock: GatewayClock
    private let metrics: GatewayMetrics?
    private let logger: Logger

    init(
        store: any JobStore,
        configuration: Configuration,
        now: @escaping @Sendable () -> Timestamp,
        clock: GatewayClock = .continuous,
        metrics: GatewayMetrics? = nil,
        logger: Logger
    ) {
        self.metrics = metrics
        self.store = store
        self.configuration = configuration
        self.now = now
        self.clock = clock
        self.logger = logger
    }

    /// The lease this replica holds on `jobID`, as far as it knows.
    func lease(_ jobID: String) -> JobLease? {
        held.withLock { $0[jobID] }
    }

    /// The lease on `jobID`: the one held already, or a new one from the store; nil while another live
    /// replica holds it.
    func acquire(_ jobID: String) async throws -> JobLease? {
        if let lease = lease(jobID) { return lease }
        guard let lease = try await store.acquireLease(jobID: jobID, now: now()) else { return nil }
        if lease.fence > 1 {
            metrics?.tookOver()
            logger.info("took over a job", metadata: ["job": "\(jobID)", "fence": "\(lease.fence)"])
        }
        held.withLock { $0[jobID] = lease }
        return lease
    }

    /// Gives up the lease on `jobID` (its job needs no more turns).
    func release(_ jobID: String) async {
        guard let lease = held.withLock({ $0.removeValue(forKey: jobID) }) else { return }
        do {
            try await store.releaseLease(lease)
        } catch {
            // It lapses with this replica's heartbeat at the latest.
            logger.warning("could not release a job lease", metadata: ["job": "\(jobID)", "error": "\(error)"])
        }
    }

    /// Forgets a lease the store refused (`leaseLost`): another replica has the job now.
    func forget(_ jobID: String) {
        held.withLock { _ = $0.removeValue(forKey: jobID) }
    }

    /// Renews this replica's leases; returns the jobs whose leases were taken over meanwhile (this
    /// replica was paused or cut off past its heartbeat), which it must stop working on.
    @discardableResult
    func heartbeat() async throws -> [String] {
        let stillHeld = try await store.heartbeat(now: now(), ttl: configuration.ttl)
        return held.withLock { held in
            let lost = held.keys.filter { !stillHeld.contains($0) }
            for jobID in lost { held[jobID] = nil }
            if !lost.isEmpty { metrics?.lost(lost.count) }
            return lost
        }
    }

    /// Claims active jobs nobody alive holds a lease on (replicas claiming together get disjoint jobs);
    /// returns their ids, whose leases this replica now holds.
    func claimUnleased() async throws -> [String] {
        let claimed = try await store.claimUnleasedJobs(now: now(), limit: configuration.adoptBatch)
        held.withLock { held in
            for lease in claimed { held[lease.jobID] = lease }
        }
        if !claimed.isEmpty {
            metrics?.claimed(claimed.count)
            logger.info("claimed unleased jobs", metadata: ["jobs": "\(claimed.count)"])
        }
        return claimed.map(\.jobID)
    }

    /// Whether this replica still holds `jobID`'s lease, asked of the store (not of what this replica
    /// remembers): before opening a vendor connection, so a replica that was paused past its heartbeat
    /// does not open one beside the new owner's. A lease found lost is forgotten.
    func confirm(_ jobID: String) async -> Bool {
        guard let remembered = lease(jobID) else { return false }
        do {
            if let current = try await store.acquireLease(jobID: jobID, now: now()), current == remembered { return true }
        } catch {
            logger.warning("could not confirm a job lease", metadata: ["job": "\(jobID)", "error": "\(error)"])
            return false
        }
        forget(jobID)
        return false
    }

    /// Looks for unleased jobs now instead of at the next heartbeat (another replica gave its jobs up).
    func wake() {
        wakeUp.signal()
    }

    /// Renews the leases every `heartbeatInterval` and hands lost and unleased jobs to the engine, until
    /// graceful shutdown; then gives up every lease so other replicas take the jobs over at once.
    func run(lost: @escaping @Sendable ([String]) -> Void, claimed: @escaping @Sendable ([String]) -> Void) async {
        let stopped = Atomic<Bool>(false)
        var lastBeat = clock.now
        await withGracefulShutdownHandler {
            while !stopped.load(ordering: .relaxed) && !Task.isCancelled {
                await wakeUp.wait(timeout: configuration.heartbeatInterval, clock: clock)
                if stopped.load(ordering: .relaxed) { break }
                do {
                    // Woken early (leases released elsewhere), only claim; the heartbeat keeps its period.
                    if lastBeat.duration(to: clock.now) >= configuration.heartbeatInterval * 0.9 {
                        lastBeat = clock.now
                        let gone = try await heartbeat()
                        if !gone.isEmpty {
                            logger.warning("jobs were taken over by another replica", metadata: ["jobs": "\(gone.count)"])
                            lost(gone)
                        }
                    }
                    claimed(try await claimUnleased())
                } catch {
                    logger.error("job lease heartbeat failed", metadata: ["error": "\(error)"])
                }
            }
        } onGracefulShutdown: { [wakeUp] in
            stopped.store(true, ordering: .relaxed)
            wakeUp.signal()
        }
    }

    /// Gives up every lease this replica holds.
    func releaseAll() async {
        for jobID in held.withLock({ Array($0.keys) }) { await release(jobID) }
    }
}
