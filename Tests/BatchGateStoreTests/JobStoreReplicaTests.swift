import BatchGateCore
import Foundation
import Testing

/// What replicas sharing one store rely on, on every back end: disjoint claims of unleased jobs, one job
/// per idempotency key however many replicas receive it at once, and the webhook outbox's claims,
/// outcomes and summaries.
@Suite struct JobStoreReplicaTests {
    let start = Timestamp(milliseconds: 1_800_000_000_000)
    let ttl = Duration.seconds(15)
    let input = JobInput.urlBatch(URLBatchInput(urls: ["https://example.com/a"]))

    func makeJob(_ n: Int, tenant: String = "acme") -> Job { StoreFixture.job(at: 1_700_000_000_000 + Int64(n), tenant: tenant) }

    func delivery(_ id: String, job: Job, key: String, at: Timestamp) -> WebhookDelivery {
        WebhookDelivery(
            id: id,
            jobID: job.id,
            tenant: job.tenant,
            deliveryKey: key,
            eventType: key,
            eventID: "evt_" + id,
            createdAt: at,
            url: "https://hooks.example.com/",
            secret: nil,
            data: Array("{\"job\":\"\(job.id)\",\"key\":\"\(key)\"}".utf8),
            attempt: 0,
            maxAttempts: 3,
            nextAttemptAt: at
        )
    }

    func attempt(_ id: String, of delivery: WebhookDelivery, _ outcome: DeliveryOutcome, number: Int, at: Timestamp) -> DeliveryAttempt {
        DeliveryAttempt(
            id: id,
            deliveryID: delivery.id,
            jobID: delivery.jobID,
            deliveryKey: delivery.deliveryKey,
            eventType: delivery.eventType,
            outcome: outcome,
            attemptNumber: number,
            maxAttempts: delivery.maxAttempts,
            triedAt: at,
            latency: .milliseconds(3)
        )
    }

    /// Two replicas claiming 60 unleased jobs at the same moment, 10 at a time: every job is claimed once.
    @Test(arguments: StoreBackend.allCases) func concurrentClaimsOfUnleasedJobsAreDisjoint(_ backend: StoreBackend) async throws {
        try await StoreFixture.with(backend) { fixture in
            try await fixture.open("replica-a", "replica-b") { (a, b) async throws in
                let jobs = (0..<60).map { makeJob($0) }
                for job in jobs { _ = try await a.create(job, input: input, idempotency: nil, deliveries: []) }
                _ = try await a.heartbeat(now: start, ttl: ttl)
                _ = try await b.heartbeat(now: start, ttl: ttl)
                let start = start
                let (claimedByA, claimedByB) = try await withThrowingTaskGroup(of: (String, [JobLease]).self) { group in
                    for (name, store) in [("a", a), ("b", b)] {
                        group.addTask {
                            var all: [JobLease] = []
                            for _ in 0..<10 { all += try await store.claimUnleasedJobs(now: start, limit: 10) }
                            return (name, all)
                        }
                    }
                    var byName: [String: [JobLease]] = [:]
                    for try await (name, leases) in group { byName[name] = leases }
                    return (byName["a"]!, byName["b"]!)
                }
                let ids = claimedByA.map(\.jobID) + claimedByB.map(\.jobID)
                #expect(ids.count == 60)
                #expect(Set(ids) == Set(jobs.map(\.id)))
                #expect(claimedByA.allSatisfy { $0.owner == "replica-a" } && claimedByB.allSatisfy { $0.owner == "replica-b" })
                #expect(try await a.heartbeat(now: start, ttl: ttl) == Set(claimedByA.map(\.jobID)))
                #expect(try await b.claimUnleasedJobs(now: start, limit: 100).isEmpty)
                // A change under a claimed lease is stored; under the other replica's name it is refused.
                let lease = (claimedByA + claimedByB)[0]
                let (holder, other) = lease.owner == "replica-a" ? (a, b) : (b, a)
                var job = try #require(try await holder.job(id: lease.jobID))
                job.version += 1
                let forged = JobLease(jobID: job.id, owner: other.owner, fence: lease.fence)
                #expect(try await other.apply(JobChange(job: job, lease: forged)) == .leaseLost)
                #expect(try await holder.apply(JobChange(job: job, lease: lease)) == .stored)
                // Nothing is claimed while the claimer's own heartbeat has lapsed.
                let later = start.adding(.seconds(30))
                #expect(try await b.claimUnleasedJobs(now: later, limit: 100).isEmpty)
                _ = try await b.heartbeat(now: later, ttl: ttl)
                let takenOver = try await b.claimUnleasedJobs(now: later, limit: 100)
                #expect(Set(takenOver.map(\.jobID)) == Set(claimedByA.map(\.jobID)), "a's heartbeat lapsed: b takes its jobs")
            }
        }
    }

    /// The same key sent to two replicas at the same moment, 100 times: one job per key.
    @Test(arguments: StoreBackend.allCases) func oneIdempotencyKeyOnTwoReplicasCreatesOneJob(_ backend: StoreBackend) async throws {
        try await StoreFixture.with(backend) { fixture in
            try await fixture.open("replica-a", "replica-b") { (a, b) async throws in
                let input = input
                for round in 0..<100 {
                    let key = IdempotencyRecord(tenant: "acme", key: "key-\(round)", requestHash: "hash-\(round)")
                    let first = makeJob(2 * round)
                    let second = makeJob(2 * round + 1)
                    async let fromA = a.create(first, input: input, idempotency: key, deliveries: [])
                    async let fromB = b.create(second, input: input, idempotency: key, deliveries: [])
                    let outcomes = try await [fromA, fromB]
                    var created: [String] = []
                    var existing: [String] = []
                    for outcome in outcomes {
                        switch outcome {
                        case .created(let job): created.append(job.id)
                        case .existing(let job): existing.append(job.id)
                        case .keyReused: Issue.record("round \(round): the same body was refused as a reused key")
                        }
                    }
                    #expect(created.count == 1, "round \(round)")
                    #expect(existing == created, "round \(round): the other replica answers with the job created")
                }
                let stored = try await a.jobs(JobQuery(tenant: "acme", limit: 1000))
                #expect(stored.count == 100)
            }
        }
    }

    /// Claims, retries, the final outcome, a 410 that stops the subscription, the delivery summary, and
    /// `nextDueTime` as deliveries are claimed and recorded.
    @Test(arguments: StoreBackend.allCases) func outboxClaimsRecordsAndSummarises(_ backend: StoreBackend) async throws {
        try await StoreFixture.with(backend) { fixture in
            try await fixture.open(owner: "replica-a") { (store) async throws in
                _ = try await store.heartbeat(now: start, ttl: ttl)
                var job = makeJob(1)
                // The trace context of the job and of its deliveries is kept (a delivery without one has none).
                job.traceParent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
                var created = delivery("dlv_01", job: job, key: "batch.created", at: start)
                created.traceParent = job.traceParent
                let later = delivery("dlv_02", job: job, key: "batch.progress:10", at: start.adding(.seconds(5)))
                _ = try await store.create(job, input: input, idempotency: nil, deliveries: [created, later])
                // The same delivery key again is not queued twice.
                var finished = job
                finished.version = 2
                let duplicateKey = delivery("dlv_03", job: job, key: "batch.created", at: start)
                #expect(try await store.apply(JobChange(job: finished, deliveries: [duplicateKey])) == .stored)

                #expect(try await store.nextDueTime(now: start) == start)
                let claimed = try await store.claimDue(now: start, limit: 10, lease: .seconds(60))
                #expect(claimed.map(\.id) == ["dlv_01"], "only what is due")
                #expect(claimed.first?.data == created.data)
                #expect(claimed.first?.traceParent == job.traceParent)
                #expect(try await store.job(id: job.id)?.traceParent == job.traceParent)
                #expect(try await store.claimDue(now: start, limit: 10, lease: .seconds(60)).isEmpty, "claimed already")
                #expect(try await store.nextDueTime(now: start) == start.adding(.seconds(5)))

                // A retry releases the claim and schedules the next attempt.
                let retryAt = start.adding(.seconds(2))
                try await store.record(
                    attempt("dla_01", of: created, .retry(status: 503, error: "unavailable", at: retryAt), number: 1, at: start),
                    for: created
                )
                #expect(try await store.nextDueTime(now: start) == retryAt)
                let again = try await store.claimDue(now: retryAt, limit: 10, lease: .seconds(60))
                #expect(again.map(\.id) == ["dlv_01"])
                #expect(again.first?.attempt == 1)
                try await store.record(attempt("dla_02", of: created, .delivered(status: 200), number: 2, at: retryAt), for: created)

                var (summary, attempts) = try await store.webhookDelivery(jobID: job.id, recent: 10)
                #expect(attempts.map(\.id) == ["dla_02", "dla_01"])
                #expect(summary.totalAttempts == 2)
                #expect(summary.deliveredEventTypes == ["batch.created"])
                #expect(summary.pendingRetries == 0)
                #expect(summary.lastErrorMessage == "unavailable")
                #expect(summary.lastDeliveredAt == retryAt)
                #expect(try await store.deliveryAttempts(jobID: job.id, after: "dla_02", limit: 10).map(\.id) == ["dla_01"])

                // 410: the delivery fails, the job's other pending deliveries too, and nothing more is queued.
                let progress = try await store.claimDue(now: start.adding(.seconds(5)), limit: 10, lease: .seconds(60))
                #expect(progress.map(\.id) == ["dlv_02"])
                #expect(progress.first?.traceParent == nil)
                try await store.record(
                    attempt("dla_03", of: later, .stopSubscription(status: 410), number: 1, at: start.adding(.seconds(5))),
                    for: later
                )
                finished.version = 3
                let afterStop = delivery("dlv_04", job: job, key: "batch.completed", at: start.adding(.seconds(6)))
                #expect(try await store.apply(JobChange(job: finished, deliveries: [afterStop])) == .stored)
                #expect(try await store.claimDue(now: start.adding(.seconds(60)), limit: 10, lease: .seconds(60)).isEmpty)
                #expect(try await store.nextDueTime(now: start.adding(.seconds(60))) == nil)
                (summary, attempts) = try await store.webhookDelivery(jobID: job.id, recent: 1)
                #expect(summary.stopped)
                #expect(attempts.map(\.id) == ["dla_03"])
            }
        }
    }

    /// One tenant's overview: its active jobs per provider (finished ones and other tenants' left out) and its
    /// deliveries due, waiting to retry and failed.
    @Test(arguments: StoreBackend.allCases) func tenantOverviewCountsOnlyThatTenant(_ backend: StoreBackend) async throws {
        try await StoreFixture.with(backend) { fixture in
            try await fixture.open(owner: "replica-a") { (store) async throws in
                _ = try await store.heartbeat(now: start, ttl: ttl)
                var running = makeJob(1)
                running.state.lifecycle = .running
                var tagging = makeJob(2)
                tagging.provider = "tagger"
                var finished = makeJob(3)
                finished.state.lifecycle = .completed
                let foreign = makeJob(4, tenant: "globex")
                let due = delivery("dlv_11", job: running, key: "batch.created", at: start)
                let retrying = delivery("dlv_12", job: running, key: "batch.progress:10", at: start)
                let failing = delivery("dlv_13", job: tagging, key: "batch.created", at: start)
                let later = delivery("dlv_14", job: tagging, key: "batch.progress:10", at: start.adding(.seconds(60)))
                _ = try await store.create(running, input: input, idempotency: nil, deliveries: [due, retrying])
                _ = try await store.create(tagging, input: input, idempotency: nil, deliveries: [failing, later])
                _ = try await store.create(finished, input: input, idempotency: nil, deliveries: [])
                _ = try await store.create(
                    foreign,
                    input: input,
                    idempotency: nil,
                    deliveries: [delivery("dlv_15", job: foreign, key: "batch.created", at: start)]
                )
                let claimed = try await store.claimDue(now: start, limit: 10, lease: .seconds(60))
                #expect(Set(claimed.map(\.id)) == ["dlv_11", "dlv_12", "dlv_13", "dlv_15"])
                try await store.record(
                    attempt("dla_12", of: retrying, .retry(status: 503, error: "unavailable", at: start.adding(.seconds(30))), number: 1, at: start),
                    for: retrying
                )
                try await store.record(
                    attempt("dla_13", of: failing, .failedPermanently(status: 400, error: "bad"), number: 1, at: start),
                    for: failing
                )
                let overview = try await store.tenantOverview(tenant: "acme", now: start.adding(.seconds(1)))
                #expect(overview.activeJobs == ["airops": 1, "tagger": 1])
                #expect(overview.deliveriesDue == 1, "dlv_11 (dlv_12 waits for its retry, dlv_14 is due later)")
                #expect(overview.deliveriesRetrying == 1)
                #expect(overview.deliveriesFailed == 1)
                let globex = try await store.tenantOverview(tenant: "globex", now: start.adding(.seconds(1)))
                #expect(globex == TenantOverview(activeJobs: ["airops": 1], deliveriesDue: 1))
                #expect(try await store.tenantOverview(tenant: "nobody", now: start) == TenantOverview())
            }
        }
    }

    /// Results: upserted by index, replaced wholesale by a migration, paged in index order.
    @Test(arguments: StoreBackend.allCases) func resultsAreUpsertedReplacedAndPaged(_ backend: StoreBackend) async throws {
        try await StoreFixture.with(backend) { fixture in
            try await fixture.open { (store) async throws in
                var job = makeJob(1)
                _ = try await store.create(job, input: input, idempotency: nil, deliveries: [])
                let rows = (0..<25).map { ItemResult(index: $0, key: "https://example.com/\($0)", status: .pending) }
                job.version = 2
                #expect(try await store.apply(JobChange(job: job, results: rows)) == .stored)
                let done = ItemResult(index: 7, key: "https://example.com/7", status: .succeeded, data: ["title": "Page 7"])
                job.version = 3
                #expect(try await store.apply(JobChange(job: job, results: [done])) == .stored)
                var pages: [[ItemResult]] = []
                var after: Int?
                while pages.count < 10 {
                    let page = try await store.results(jobID: job.id, afterIndex: after, limit: 10)
                    if page.isEmpty { break }
                    pages.append(page)
                    after = page.last!.index
                }
                #expect(pages.map(\.count) == [10, 10, 5])
                #expect(pages.flatMap { $0 }.map(\.index) == Array(0..<25))
                #expect(pages[0][7] == done)
                let moved = [ItemResult(index: 3, key: "https://example.com/3", status: .failed, error: ItemError(code: "x", message: "y"))]
                job.version = 4
                #expect(try await store.apply(JobChange(job: job, results: moved, replacesResults: true)) == .stored)
                #expect(try await store.results(jobID: job.id, afterIndex: nil, limit: 100) == moved)
            }
        }
    }
}
