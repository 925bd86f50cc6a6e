import BatchGateCore
import BatchGatePostgresStore
import BatchGateTestSupport
import Synchronization
import Testing

/// What a listener heard, shared with the test.
final class Heard: Sendable {
    private let changes = Mutex<[StoreChange]>([])
    func append(_ change: StoreChange) { changes.withLock { $0.append(change) } }
    func withLock<R>(_ body: ([StoreChange]) -> R) -> R { changes.withLock { body($0) } }
}

/// The PostgreSQL store's change notifications: what any replica commits is heard by every replica's
/// listener, and a listener whose connection is cut reconnects and says `.resync` first.
@Suite struct PostgresChangeTests {
    let input = JobInput.urlBatch(URLBatchInput(urls: ["https://example.com/a"]))

    func makeJob(_ n: Int) -> Job { StoreFixture.job(at: 1_700_000_000_000 + Int64(n)) }

    @Test func changesOfEveryReplicaAreHeardAndACutListenerResyncs() async throws {
        try await StoreFixture.with(.postgres) { fixture in
            try await fixture.open("replica-a", "replica-b") { (a, b) async throws in
                let listener = try #require(a as? PostgresJobStore)
                let heard = Heard()
                let listening = Task { try await listener.listenForChanges { heard.append($0) } }
                defer { listening.cancel() }
                try await waitFor("the first resync") { heard.withLock { $0 == [.resync] } }

                // A job created and changed through the other replica, and a delivery recorded there.
                var job = makeJob(1)
                _ = try await b.create(job, input: input, idempotency: nil, deliveries: [])
                job.version = 2
                #expect(try await b.apply(JobChange(job: job)) == .stored)
                try await waitFor("b's changes") { heard.withLock { $0.suffix(2) == [.job(id: job.id, version: 1), .job(id: job.id, version: 2)] } }

                // The listening connection is cut: the listener connects again and resyncs, then hears on.
                try await PostgresTestCluster.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE pid <> pg_backend_pid() AND query ILIKE 'LISTEN%'",
                    on: fixture.location
                )
                try await waitFor("a resync after the reconnect") { heard.withLock { $0.last == .resync && $0.count == 4 } }
                job.version = 3
                #expect(try await b.apply(JobChange(job: job)) == .stored)
                _ = try await b.heartbeat(now: .now(), ttl: .seconds(15))
                let lease = try #require(try await b.acquireLease(jobID: job.id, now: .now()))
                try await b.releaseLease(lease)
                try await waitFor("changes after the reconnect") {
                    heard.withLock { $0.suffix(2) == [.job(id: job.id, version: 3), .leasesReleased] }
                }
            }
        }
    }

    /// Polls `condition` every 20 ms for at most 10 s.
    func waitFor(_ what: String, _ condition: () throws -> Bool) async throws {
        for _ in 0..<500 {
            if try condition() { return }
            try await Task.sleep(for: .milliseconds(20))
        }
        Issue.record("timed out waiting for \(what)")
    }
}
