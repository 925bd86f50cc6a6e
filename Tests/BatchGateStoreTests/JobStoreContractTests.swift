import BatchGateCore
import BatchGateStore
import Foundation
import Testing

/// The `JobStore` contract, on every back end: creates and reads, idempotency keys, version checks and
/// event dedupe, results paging, concurrent writers, lists with cursors and filters.
@Suite struct JobStoreContractTests {
    func makeJob(tenant: String = "acme", at ms: Int64 = 1_700_000_000_000) -> Job { StoreFixture.job(at: ms, tenant: tenant) }

    let input = JobInput.urlBatch(URLBatchInput(urls: ["https://example.com/a", "https://example.com/b"]))

    @Test(arguments: StoreBackend.allCases) func createReadAndReopen(_ backend: StoreBackend) async throws {
        try await StoreFixture.with(backend) { fixture in
            let job = makeJob()
            try await fixture.open { (store) async throws in
                guard case .created = try await store.create(job, input: input, idempotency: nil, deliveries: []) else {
                    Issue.record("expected created")
                    return
                }
            }
            try await fixture.open { (reopened) async throws in
                #expect(try await reopened.job(id: job.id) == job)
                #expect(try await reopened.input(jobID: job.id) == input)
                #expect(try await reopened.activeJobs().map(\.id) == [job.id])
                #expect(try await reopened.job(id: "bat_missing") == nil)
            }
        }
    }

    @Test(arguments: StoreBackend.allCases) func idempotencyKeys(_ backend: StoreBackend) async throws {
        try await StoreFixture.with(backend) { fixture in
            try await fixture.open { (store) async throws in
                let key = IdempotencyRecord(tenant: "acme", key: "k1", requestHash: "h1")
                let first = makeJob()
                _ = try await store.create(first, input: input, idempotency: key, deliveries: [])
                guard case .existing(let existing) = try await store.create(makeJob(), input: input, idempotency: key, deliveries: []) else {
                    Issue.record("expected the existing job")
                    return
                }
                #expect(existing.id == first.id)
                let otherBody = IdempotencyRecord(tenant: "acme", key: "k1", requestHash: "h2")
                guard case .keyReused = try await store.create(makeJob(), input: input, idempotency: otherBody, deliveries: []) else {
                    Issue.record("expected keyReused")
                    return
                }
                // Keys are per tenant.
                let otherTenant = IdempotencyRecord(tenant: "globex", key: "k1", requestHash: "h1")
                guard case .created = try await store.create(makeJob(tenant: "globex"), input: input, idempotency: otherTenant, deliveries: []) else {
                    Issue.record("expected created for another tenant")
                    return
                }
            }
        }
    }

    @Test(arguments: StoreBackend.allCases) func changesAreVersionCheckedAndEventsDeduplicated(_ backend: StoreBackend) async throws {
        try await StoreFixture.with(backend) { fixture in
            try await fixture.open { (store) async throws in
                var job = makeJob()
                _ = try await store.create(job, input: input, idempotency: nil, deliveries: [])
                job.version = 2
                job.state.lifecycle = .running
                let event = ProviderEventRecord(
                    jobID: job.id,
                    provider: "airops",
                    providerBatchID: "b1",
                    eventType: "e",
                    dedupeKey: "e",
                    receivedAt: Timestamp(milliseconds: 1),
                    payload: Array("{}".utf8)
                )
                #expect(try await store.apply(JobChange(job: job, event: event)) == .stored)
                var duplicate = job
                duplicate.version = 3
                duplicate.state.lifecycle = .completed
                #expect(try await store.apply(JobChange(job: duplicate, event: event)) == .duplicateEvent)
                #expect(try await store.job(id: job.id)?.state.lifecycle == .running, "a duplicate event writes nothing")
                var stale = job
                stale.version = 2
                #expect(try await store.apply(JobChange(job: stale)) == .conflict)
                #expect(try await store.events(jobID: job.id).count == 1)

                var finished = job
                finished.version = 3
                finished.state.lifecycle = .completed
                let results = [
                    ItemResult(index: 0, key: "a", status: .succeeded, data: ["title": "A"]),
                    ItemResult(index: 1, key: "b", status: .failed, error: ItemError(code: "SCRAPE_FAILED", message: "no")),
                ]
                let attempt = ProviderAttemptRecord(
                    jobID: job.id,
                    provider: "airops",
                    operation: "submit",
                    outcome: "ok",
                    at: Timestamp(milliseconds: 2)
                )
                #expect(try await store.apply(JobChange(job: finished, results: results, attempts: [attempt])) == .stored)
                #expect(try await store.results(jobID: job.id, afterIndex: nil, limit: 10) == results)
                #expect(try await store.results(jobID: job.id, afterIndex: 0, limit: 10) == [results[1]])
                #expect(try await store.attempts(jobID: job.id) == [attempt])
                #expect(try await store.activeJobs().isEmpty)
            }
        }
    }

    @Test(arguments: StoreBackend.allCases) func concurrentWritesAllCommit(_ backend: StoreBackend) async throws {
        try await StoreFixture.with(backend) { fixture in
            try await fixture.open { (store) async throws in
                let jobs = (0..<300).map { makeJob(at: 1_700_000_000_000 + Int64($0)) }
                try await withThrowingTaskGroup(of: Void.self) { group in
                    for job in jobs {
                        group.addTask {
                            _ = try await store.create(job, input: input, idempotency: nil, deliveries: [])
                            var next = job
                            next.version = 2
                            next.state.lifecycle = .running
                            #expect(try await store.apply(JobChange(job: next)) == .stored)
                        }
                    }
                    try await group.waitForAll()
                }
                let active = try await store.activeJobs()
                #expect(active.count == 300)
                #expect(active.allSatisfy { $0.version == 2 && $0.state.lifecycle == .running })
            }
        }
    }

    @Test(arguments: StoreBackend.allCases) func listIsNewestFirstWithCursorAndFilters(_ backend: StoreBackend) async throws {
        try await StoreFixture.with(backend) { fixture in
            try await fixture.open { (store) async throws in
                let jobs = (0..<5).map { makeJob(at: 1_700_000_000_000 + Int64($0) * 1000) }
                for job in jobs { _ = try await store.create(job, input: input, idempotency: nil, deliveries: []) }
                _ = try await store.create(makeJob(tenant: "globex"), input: input, idempotency: nil, deliveries: [])
                let page1 = try await store.jobs(JobQuery(tenant: "acme", limit: 2))
                #expect(page1.map(\.id) == [jobs[4].id, jobs[3].id])
                let page2 = try await store.jobs(JobQuery(tenant: "acme", limit: 10, after: page1.last!.id))
                #expect(page2.map(\.id) == [jobs[2].id, jobs[1].id, jobs[0].id])
                #expect(try await store.jobs(JobQuery(tenant: "acme", lifecycle: .completed)).isEmpty)
                #expect(try await store.jobs(JobQuery(tenant: "acme", provider: "airops")).count == 5)
            }
        }
    }
}
