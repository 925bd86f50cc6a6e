import BatchGateCore
import BatchGateSimulators
import BatchGateStore
import Foundation
import Testing

/// Inbound AirOps webhooks: per-job tokens, durability, duplicates, ordering, confirmation by poll.
@Suite(.timeLimit(.minutes(2)))
struct InboundWebhookTests {
    static func payload(_ type: String, batchID: String, overall: String) -> [UInt8] {
        let phase = #"{"state":"completed","submitted":1,"valid":1,"succeeded":1,"failed":0,"started_at":1,"completed_at":2,"error":null}"#
        return Array(
            """
            {"object":"event.batch.airops.\(type)","id":"\(batchID)","created":1705315200000,"timestamp":1705316800000,
             "status":{"overall":"\(overall)","scraping":\(phase),
               "analyzing":{"state":"completed","items_analyzed":1,"items_needing_enrichment":0,"items_complete":1,"started_at":1,"completed_at":2},
               "enriching":{"state":"skipped","items_to_enrich":0,"items_enriched":0,"items_failed":0,"llm_batch_id":null,"started_at":null,"completed_at":null,"error":null}}}
            """.utf8
        )
    }

    /// Creates a one-URL batch and waits until it is upstream; returns the job as stored.
    static func submittedJob(_ gateway: GatewayHarness, _ store: SQLiteJobStore) async throws -> Job {
        let id = try #require(try await gateway.createBatch(urls: ["https://example.com/a"])["id"]?.stringValue)
        var job: Job?
        try await eventually("submitted upstream") {
            job = try await store.job(id: id)
            return job?.providerBatchID != nil
        }
        return try #require(job)
    }

    @Test func badTokensAreRefusedAndNothingIsStored() async throws {
        try await GatewayHarness.run(scenario: .init(queueDelay: .seconds(60))) { gateway in
            let store = try SQLiteJobStore(path: gateway.databasePath)
            let job = try await Self.submittedJob(gateway, store)
            let id = job.id
            let batchID = try #require(job.providerBatchID)
            let body = Self.payload("completed", batchID: batchID, overall: "completed")
            for token in [
                "\(id).wrong-secret", "\(id)", "bat_00000000000000000000000000.\(job.inboundSecret)", "garbage",
                "\(id).\(job.inboundSecret)x",
            ] {
                let answer = try await gateway.call("POST", "/v1/providers/airops/webhooks/\(token)", key: "", raw: body)
                #expect(answer.status == 401, "token \(token)")
                #expect(answer.body["error"]?["code"]?.stringValue == "invalid_token")
            }
            let wrongProvider = try await gateway.call(
                "POST",
                "/v1/providers/aitronos/webhooks/\(job.inboundToken)",
                key: "",
                raw: body
            )
            #expect(wrongProvider.status == 401)
            #expect(try await store.events(jobID: id).isEmpty)
            #expect(try await store.job(id: id)?.state.lifecycle.isTerminal == false)

            let malformed = try await gateway.call(
                "POST",
                "/v1/providers/airops/webhooks/\(job.inboundToken)",
                key: "",
                raw: Array("{\"object\":1}".utf8)
            )
            #expect(malformed.status == 400)
            #expect(try await store.events(jobID: id).isEmpty)
        }
    }

    @Test func terminalWebhookIsConfirmedByPollBeforeTheJobFinishes() async throws {
        try await GatewayHarness.run(scenario: .init(queueDelay: .seconds(60))) { gateway in
            let store = try SQLiteJobStore(path: gateway.databasePath)
            let job = try await Self.submittedJob(gateway, store)
            let id = job.id
            // A forged "completed" with a valid token: stored, but the vendor says the batch is pending.
            let polls = gateway.simulator.requestCount(AirOpsSimulator.Route.get)
            let answer = try await gateway.call(
                "POST",
                "/v1/providers/airops/webhooks/\(job.inboundToken)",
                key: "",
                raw: Self.payload("completed", batchID: job.providerBatchID!, overall: "completed")
            )
            #expect(answer.status == 200)
            #expect(try await store.events(jobID: id).count == 1)
            try await eventually("confirmation polls") {
                gateway.simulator.requestCount(AirOpsSimulator.Route.get) >= polls + 2
            }
            let batch = try await gateway.call("GET", "/v1/batches/\(id)").body
            #expect(batch["lifecycle_status"]?.stringValue != "completed")
            #expect(batch["completed_at"] == .null)

            // The same event again is a duplicate and changes nothing.
            let again = try await gateway.call(
                "POST",
                "/v1/providers/airops/webhooks/\(job.inboundToken)",
                key: "",
                raw: Self.payload("completed", batchID: job.providerBatchID!, overall: "completed")
            )
            #expect(again.status == 200)
            #expect(again.body["outcome"]?.stringValue == "duplicate")
            #expect(try await store.events(jobID: id).count == 1)
        }
    }

    /// The job's lock is never held across a vendor call: a vendor webhook for a job whose poll is stuck
    /// at the vendor is stored and answered at once, not after the poll.
    @Test func aVendorWebhookIsAnsweredWhileAPollIsStalled() async throws {
        try await GatewayHarness.run(
            scenario: .init(queueDelay: .seconds(60)),
            pollInterval: .milliseconds(100),
            vendorTimeout: .seconds(15)
        ) { gateway in
            let store = try SQLiteJobStore(path: gateway.databasePath)
            let job = try await Self.submittedJob(gateway, store)
            let id = job.id
            // Every answer now takes the vendor 10 s (less than the gateway's 15 s vendor timeout).
            var faults = gateway.simulator.faults()
            faults.latency = .seconds(10)
            gateway.simulator.setFaults(faults)
            try await eventually("a poll waiting at the vendor") { gateway.simulator.requestsInFlight(AirOpsSimulator.Route.get) >= 1 }

            let started = ContinuousClock.now
            let answer = try await gateway.call(
                "POST",
                "/v1/providers/airops/webhooks/\(job.inboundToken)",
                key: "",
                raw: Self.payload("scraping_started", batchID: job.providerBatchID!, overall: "in_progress")
            )
            let took = ContinuousClock.now - started
            let pollStillWaiting = gateway.simulator.requestsInFlight(AirOpsSimulator.Route.get) >= 1
            #expect(answer.status == 200, "\(answer.body)")
            #expect(pollStillWaiting, "the webhook was answered before the stalled poll ended (it took \(took))")
            #expect(try await store.events(jobID: id).count == 1)
            print("vendor webhook answered in \(took) while a poll was stalled at the vendor")
        }
    }

    @Test(arguments: ["duplicate", "out-of-order", "duplicate,out-of-order"])
    func duplicateAndOutOfOrderWebhooksNeverMoveAJobBack(faults: String) async throws {
        try await GatewayHarness.run(faults: try AirOpsFaults.parse(faults), pollInterval: .seconds(5)) { gateway in
            let id = try #require(try await gateway.createBatch(urls: (0..<6).map { "https://example.com/\($0)" })["id"]?.stringValue)
            var percents: [Int] = []
            var statuses: [String] = []
            try await eventually("completed", timeout: .seconds(30), interval: .milliseconds(15)) {
                let batch = try await gateway.call("GET", "/v1/batches/\(id)").body
                percents.append(batch["progress"]?["percent"]?.intValue ?? -1)
                let status = batch["lifecycle_status"]?.stringValue ?? "?"
                if statuses.last != status { statuses.append(status) }
                return status == "completed"
            }
            #expect(percents == percents.sorted(), "percent never goes down")
            #expect(Set(statuses).count == statuses.count, "no status is left and re-entered: \(statuses)")
            let store = try SQLiteJobStore(path: gateway.databasePath)
            let events = try await store.events(jobID: id)
            #expect(Set(events.map(\.dedupeKey)).count == events.count, "each vendor event stored once")
            #expect(!events.isEmpty)
        }
    }
}
