import BatchGateCore
import BatchGateStore
import Foundation
import Testing

/// Two replicas on one store, on every back end: job leases, their takeover when a heartbeat lapses,
/// fencing of the replica that lost a job, claims of unleased jobs, and delivery claims of a replica that
/// is gone.
@Suite struct JobStoreLeaseTests {
    let start = Timestamp(milliseconds: 1_800_000_000_000)
    let ttl = Duration.seconds(15)

    func makeJob(_ n: Int) -> Job { StoreFixture.job(at: 1_700_000_000_000 + Int64(n)) }

    let input = JobInput.urlBatch(URLBatchInput(urls: ["https://example.com/a"]))

    @Test(arguments: StoreBackend.allCases) func oneReplicaHoldsAJobUntilItsHeartbeatLapses(_ backend: StoreBackend) async throws {
        try await StoreFixture.with(backend) { fixture in
            try await fixture.open("replica-a", "replica-b") { (a, b) async throws in
                let job = makeJob(1)
                _ = try await a.create(job, input: input, idempotency: nil, deliveries: [])
                #expect(try await a.heartbeat(now: start, ttl: ttl).isEmpty)
                #expect(try await b.heartbeat(now: start, ttl: ttl).isEmpty)
                #expect(try await a.claimUnleasedJobs(now: start, limit: 10) == [JobLease(jobID: job.id, owner: "replica-a", fence: 1)])

                let held = try #require(try await a.acquireLease(jobID: job.id, now: start))
                #expect(held == JobLease(jobID: job.id, owner: "replica-a", fence: 1))
                #expect(try await a.acquireLease(jobID: job.id, now: start) == held, "the holder keeps it")
                #expect(try await b.acquireLease(jobID: job.id, now: start) == nil, "not while its holder is alive")
                #expect(try await b.claimUnleasedJobs(now: start, limit: 10).isEmpty, "a holds it")
                #expect(try await a.heartbeat(now: start.adding(.seconds(10)), ttl: ttl) == [job.id])
                #expect(try await b.heartbeat(now: start.adding(.seconds(20)), ttl: ttl).isEmpty)
                #expect(try await b.acquireLease(jobID: job.id, now: start.adding(.seconds(20))) == nil, "renewed at 10 s: held until 25 s")

                // Replica a stops renewing: after its heartbeat lapses, b takes the job with a higher fence.
                let later = start.adding(.seconds(26))
                _ = try await b.heartbeat(now: later, ttl: ttl)
                #expect(try await b.claimUnleasedJobs(now: later, limit: 10) == [JobLease(jobID: job.id, owner: "replica-b", fence: 2)])
                let taken = try #require(try await b.acquireLease(jobID: job.id, now: later))
                #expect(taken == JobLease(jobID: job.id, owner: "replica-b", fence: 2))

                // a wakes up: its heartbeat no longer lists the job, and a change under its old lease is refused.
                #expect(try await a.heartbeat(now: later, ttl: ttl).isEmpty)
                var changed = job
                changed.version = job.version + 1
                #expect(try await a.apply(JobChange(job: changed, lease: held)) == .leaseLost)
                #expect(try await b.apply(JobChange(job: changed, lease: taken)) == .stored)
                #expect(try await a.acquireLease(jobID: job.id, now: later) == nil)

                // Released, the job is free again.
                try await a.releaseLease(held)
                #expect(try await a.acquireLease(jobID: job.id, now: later) == nil, "a stale release does not free b's lease")
                try await b.releaseLease(taken)
                let again = try #require(try await a.acquireLease(jobID: job.id, now: later))
                #expect(again.owner == "replica-a")
                #expect(try await a.apply(JobChange(job: changed, lease: taken)) == .leaseLost, "b's released lease is void")
            }
        }
    }

    /// Replicas starting together on a new store: one creates the tables, the others find them.
    @Test(arguments: StoreBackend.allCases) func replicasOpeningANewStoreTogetherAllStart(_ backend: StoreBackend) async throws {
        try await StoreFixture.with(backend) { fixture in
            let opened = try await withThrowingTaskGroup(of: String.self) { group in
                for replica in 0..<6 {
                    group.addTask { try await fixture.open(owner: "replica-\(replica)") { $0.owner } }
                }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            #expect(opened.sorted() == (0..<6).map { "replica-\($0)" })
        }
    }

    @Test(arguments: StoreBackend.allCases) func aReplicaWhoseHeartbeatLapsedTakesNothingUntilItRenews(_ backend: StoreBackend) async throws {
        try await StoreFixture.with(backend) { fixture in
            try await fixture.open(owner: "replica-a") { (a) async throws in
                let job = makeJob(2)
                _ = try await a.create(job, input: input, idempotency: nil, deliveries: [])
                #expect(try await a.acquireLease(jobID: job.id, now: start) == nil, "no heartbeat yet")
                _ = try await a.heartbeat(now: start, ttl: ttl)
                #expect(try await a.acquireLease(jobID: job.id, now: start.adding(.seconds(16))) == nil, "its heartbeat lapsed")
                _ = try await a.heartbeat(now: start.adding(.seconds(16)), ttl: ttl)
                #expect(try await a.acquireLease(jobID: job.id, now: start.adding(.seconds(16))) != nil)
            }
        }
    }

    @Test(arguments: StoreBackend.allCases) func finishedJobsAreNotOffered(_ backend: StoreBackend) async throws {
        try await StoreFixture.with(backend) { fixture in
            try await fixture.open(owner: "replica-a") { (a) async throws in
                let active = makeJob(3)
                var finished = makeJob(4)
                _ = try await a.create(active, input: input, idempotency: nil, deliveries: [])
                _ = try await a.create(finished, input: input, idempotency: nil, deliveries: [])
                finished.version += 1
                finished.state = JobStateMachine.finish(finished.state, as: .completed, error: nil, at: start)
                #expect(try await a.apply(JobChange(job: finished)) == .stored)
                _ = try await a.heartbeat(now: start, ttl: ttl)
                #expect(try await a.claimUnleasedJobs(now: start, limit: 10).map(\.jobID) == [active.id])
            }
        }
    }

    @Test(arguments: StoreBackend.allCases) func deliveriesClaimedByAReplicaThatIsGoneAreClaimedAgain(_ backend: StoreBackend) async throws {
        try await StoreFixture.with(backend) { fixture in
            try await fixture.open("replica-a", "replica-b") { (a, b) async throws in
                let job = makeJob(5)
                let delivery = WebhookDelivery(
                    id: "dlv_1",
                    jobID: job.id,
                    tenant: "acme",
                    deliveryKey: "batch.created",
                    eventType: "batch.created",
                    eventID: "evt_1",
                    createdAt: start,
                    url: "https://hooks.example.com/",
                    secret: nil,
                    data: Array("{}".utf8),
                    attempt: 0,
                    maxAttempts: 3,
                    nextAttemptAt: start
                )
                _ = try await a.create(job, input: input, idempotency: nil, deliveries: [delivery])
                _ = try await a.heartbeat(now: start, ttl: ttl)
                _ = try await b.heartbeat(now: start, ttl: ttl)
                // a claims it for two minutes, then goes quiet.
                #expect(try await a.claimDue(now: start, limit: 10, lease: .seconds(120)).map(\.id) == ["dlv_1"])
                #expect(try await b.claimDue(now: start.adding(.seconds(5)), limit: 10, lease: .seconds(120)).isEmpty, "a is alive")
                let later = start.adding(.seconds(20))
                _ = try await b.heartbeat(now: later, ttl: ttl)
                #expect(try await b.claimDue(now: later, limit: 10, lease: .seconds(120)).map(\.id) == ["dlv_1"], "a is gone")
            }
        }
    }
}
