import BatchGateCore
import BatchGateSimulators
import BatchGateStore
import Foundation
import Testing

/// Routes (weights, idempotent choice, fallback), chunking over Aitronos' 50-URL limit, migration.
@Suite(.timeLimit(.minutes(3)))
struct RoutingAndMigrationTests {
    static let schema: JSONValue = ["type": "object", "properties": ["title": ["type": "string"]]]

    @Test func oneHundredTwentyURLsBecomeThreeUpstreamBatchesOfOneJob() async throws {
        try await GatewayHarness.run { gateway in
            let urls = (0..<120).map { $0 == 77 ? "https://example.com/fail/\($0)" : "https://example.com/page/\($0)" }
            let created = try await gateway.createBatch(urls: urls, route: "scrape-aitronos", schema: Self.schema)
            let id = try #require(created["id"]?.stringValue)
            #expect(created["progress"]?["total"]?.intValue == 120)
            let (batch, _) = try await gateway.waitForTerminal(id)
            #expect(batch["lifecycle_status"]?.stringValue == "completed")
            #expect(batch["provider"]?.stringValue == "aitronos")
            #expect(batch["progress"]?["total"]?.intValue == 120)
            #expect(batch["progress"]?["succeeded"]?.intValue == 119)
            #expect(batch["progress"]?["failed"]?.intValue == 1)
            let created3 = gateway.aitronos.createdBatches()
            #expect(created3.map(\.urls.count).sorted() == [20, 50, 50])
            #expect(created3.flatMap(\.urls).sorted() == urls.sorted(), "every URL sent exactly once")
            let chunks = batch["chunks"]?.arrayValue ?? []
            #expect(chunks.map { $0["count"]?.intValue } == [50, 50, 20])
            #expect(chunks.allSatisfy { $0["lifecycle_status"]?.stringValue == "completed" })

            let results = try await gateway.call("GET", "/v1/batches/\(id)/results?limit=1000").body["data"]?.arrayValue ?? []
            #expect(results.count == 120)
            #expect(results.map { $0["index"]?.intValue } == Array(0..<120).map { Optional($0) })
            #expect(results.map { $0["key"]?.stringValue } == urls.map { Optional($0) })
            #expect(results[77]["status"]?.stringValue == "failed")
        }
    }

    @Test func weightsSplitCreatesAndAnIdempotencyKeyAlwaysLandsOnTheSameProvider() async throws {
        try await GatewayHarness.run(scenario: .init(queueDelay: .seconds(60))) { gateway in
            var counts: [String: Int] = [:]
            for index in 0..<200 {
                let created = try await gateway.createBatch(
                    urls: ["https://example.com/\(index)"],
                    idempotencyKey: "order-\(index)",
                    route: "split",
                    schema: Self.schema
                )
                counts[created["provider"]?.stringValue ?? "?", default: 0] += 1
            }
            #expect((75...125).contains(counts["airops"] ?? 0), "\(counts)")
            #expect((75...125).contains(counts["aitronos"] ?? 0), "\(counts)")
            for index in 0..<10 {
                let key = "retry-\(index)"
                let first = try await gateway.createBatch(
                    urls: ["https://example.com/r\(index)"],
                    idempotencyKey: key,
                    route: "split",
                    schema: Self.schema
                )
                let again = try await gateway.createBatch(
                    urls: ["https://example.com/r\(index)"],
                    idempotencyKey: key,
                    route: "split",
                    schema: Self.schema
                )
                #expect(first["provider"] == again["provider"])
                #expect(first["id"] == again["id"])
            }
        }
    }

    @Test func aFailingFirstTargetFallsBackAndHistorySaysWhy() async throws {
        try await GatewayHarness.run(faults: AirOpsFaults(unavailableResponses: 1000)) { gateway in
            let created = try await gateway.createBatch(
                urls: ["https://example.com/a", "https://example.com/b"],
                route: "with-fallback",
                schema: Self.schema
            )
            let id = try #require(created["id"]?.stringValue)
            let (batch, _) = try await gateway.waitForTerminal(id)
            #expect(batch["lifecycle_status"]?.stringValue == "completed")
            #expect(batch["provider"]?.stringValue == "aitronos")
            let history = batch["history"]?.arrayValue ?? []
            #expect(history.count == 1)
            #expect(history.first?["provider"]?.stringValue == "airops")
            #expect(history.first?["reason"]?.stringValue?.contains("503") == true, "\(history)")
        }
    }

    @Test func aJobWithoutASchemaMovesOnlyToAnAitronosProviderWithADefaultSchema() async throws {
        let slow = AirOpsSimulator.Scenario(scrapingDuration: .seconds(60))
        try await GatewayHarness.run(scenario: slow) { gateway in
            let urls = (0..<3).map { "https://example.com/n/\($0)" }
            let id = try #require(try await gateway.createBatch(urls: urls)["id"]?.stringValue)
            // Refused where it could not run, naming why; nothing changes.
            let strict = try await gateway.call("POST", "/v1/batches/\(id)/migrate", json: ["provider": "aitronos-strict"])
            #expect(strict.status == 409, "\(strict.body)")
            #expect(strict.body["error"]?["code"]?.stringValue == "not_migratable")
            #expect(strict.body["error"]?["message"]?.stringValue?.contains("default_schema") == true)
            #expect(try await gateway.call("GET", "/v1/batches/\(id)").body["provider"]?.stringValue == "airops")
            // A dry run checks the same and changes nothing either.
            let dry = try await gateway.call("POST", "/v1/batches/\(id)/migrate", json: ["provider": "aitronos", "dry_run": true])
            #expect(dry.status == 200, "\(dry.body)")
            #expect(dry.body["provider"]?.stringValue == "airops")
            #expect(gateway.aitronos.createdBatches().isEmpty)

            let moved = try await gateway.call("POST", "/v1/batches/\(id)/migrate", json: ["provider": "aitronos"])
            #expect(moved.status == 200, "\(moved.body)")
            let (batch, _) = try await gateway.waitForTerminal(id)
            #expect(batch["lifecycle_status"]?.stringValue == "completed")
            #expect(batch["provider"]?.stringValue == "aitronos")
            let sent = try #require(gateway.aitronos.createdBatches().first)
            #expect(sent.urls == urls)
            let rows = try await gateway.call("GET", "/v1/batches/\(id)/results").body["data"]?.arrayValue ?? []
            // Extracted with the default schema's field.
            #expect(rows.count == 3)
            #expect(rows.allSatisfy { $0["data"]?["extracted_data"]?.arrayValue.first?["headline"]?.stringValue != nil })
        }
    }

    @Test func aJobMigratedMidFlightCompletesOnTheNewProviderUnderTheSameID() async throws {
        let slow = AirOpsSimulator.Scenario(scrapingDuration: .seconds(60))
        try await GatewayHarness.run(scenario: slow) { gateway in
            let urls = (0..<5).map { "https://example.com/m/\($0)" }
            let created = try await gateway.createBatch(urls: urls, schema: Self.schema)
            let id = try #require(created["id"]?.stringValue)
            try await eventually("running on AirOps") {
                try await gateway.call("GET", "/v1/batches/\(id)").body["lifecycle_status"]?.stringValue == "running"
            }
            let migrated = try await gateway.call("POST", "/v1/batches/\(id)/migrate", json: ["provider": "aitronos"])
            #expect(migrated.status == 200, "\(migrated.body)")
            #expect(migrated.body["id"]?.stringValue == id)
            #expect(migrated.body["provider"]?.stringValue == "aitronos")
            let (batch, _) = try await gateway.waitForTerminal(id)
            #expect(batch["lifecycle_status"]?.stringValue == "completed")
            #expect(batch["provider"]?.stringValue == "aitronos")
            #expect(batch["progress"]?["succeeded"]?.intValue == 5)
            let history = batch["history"]?.arrayValue ?? []
            #expect(history.first?["provider"]?.stringValue == "airops")
            #expect(history.first?["reason"]?.stringValue?.hasPrefix("migrated to aitronos") == true)
            #expect(gateway.aitronos.createdBatches().count == 1)
            let results = try await gateway.call("GET", "/v1/batches/\(id)/results").body["data"]?.arrayValue ?? []
            #expect(results.count == 5)
            #expect(results.allSatisfy { $0["status"]?.stringValue == "succeeded" })

            let again = try await gateway.call("POST", "/v1/batches/\(id)/migrate", json: ["provider": "airops"])
            #expect(again.status == 409)
            let unknown = try await gateway.call("POST", "/v1/batches/\(id)/migrate", json: ["provider": "nope"])
            #expect(unknown.status == 400)
        }
    }

    @Test(arguments: [
        // (No schema at all is taken: the harness's Aitronos provider has a `default_schema`.)
        (#"{"urls":["https://a.example"],"schema":5}"#, "input.schema"),
        (#"{"urls":["https://a.example"],"schema":[]}"#, "input.schema"),
        (#"{"urls":["https://a.example"],"schema":{},"options":{"max_items_per_url":0}}"#, "input.options.max_items_per_url"),
        (#"{"urls":["https://a.example"],"schema":{},"options":{"max_items_per_url":501}}"#, "input.options.max_items_per_url"),
        (#"{"urls":["https://a.example"],"schema":{},"options":{"max_total_items":5001}}"#, "input.options.max_total_items"),
        (#"{"urls":["https://a.example"],"schema":{},"options":{"max_total_items":0}}"#, "input.options.max_total_items"),
        (#"{"urls":["https://a.example"],"schema":{},"options":{"parallel_jobs":11}}"#, "input.options.parallel_jobs"),
        (#"{"urls":["https://a.example"],"schema":{},"options":{"parallel_jobs":0}}"#, "input.options.parallel_jobs"),
        (#"{"urls":["https://a.example"],"schema":{},"options":{"timeout_per_url":301}}"#, "input.options.timeout_per_url"),
        (#"{"urls":["https://a.example"],"schema":{},"options":{"timeout_per_url":0}}"#, "input.options.timeout_per_url"),
    ])
    func everyAitronosLimitIsRefusedBeforeAnythingIsSent(input: String, field: String) async throws {
        try await GatewayHarness.run { gateway in
            let body = #"{"route":"scrape-aitronos","input":"# + input + "}"
            let (status, answer, _) = try await gateway.call("POST", "/v1/batches", raw: Array(body.utf8))
            #expect(status == 400, "\(input) → \(status) \(answer)")
            #expect(answer["error"]?["field"]?.stringValue == field, "\(answer)")
            #expect(gateway.aitronos.createdBatches().isEmpty)
            #expect(gateway.aitronos.requestCount(AitronosSimulator.Route.create) == 0)
        }
    }
}

@Suite(.timeLimit(.minutes(2)))
struct BulkMigrationTests {
    @Test func migrateCommandMovesEveryActiveJobOfARoute() async throws {
        try await GatewayHarness.run(scenario: .init(scrapingDuration: .seconds(60))) { gateway in
            var ids: [String] = []
            for index in 0..<3 {
                ids.append(
                    try #require(
                        try await gateway.createBatch(
                            urls: ["https://example.com/bulk/\(index)"],
                            schema: RoutingAndMigrationTests.schema
                        )["id"]?.stringValue
                    )
                )
            }
            let other = try #require(
                try await gateway.createBatch(
                    urls: ["https://example.com/other"],
                    route: "scrape-aitronos",
                    schema: RoutingAndMigrationTests.schema
                )["id"]?.stringValue
            )
            let arguments = [
                "migrate", "--url", gateway.baseURL, "--api-key", gateway.apiKey, "--route", "scrape", "--from", "airops", "--to", "aitronos",
            ]
            let dry = try await CommandLineTests().runOffThePool(arguments + ["--dry-run"])
            #expect(dry.status == 0, "\(dry.stderr)")
            #expect(
                Set(ids.map { "would migrate \($0) from airops to aitronos" }).isSubset(of: Set(dry.stdout.split(separator: "\n").map(String.init)))
            )
            #expect(dry.stdout.contains("3 jobs would move"))
            #expect(!dry.stdout.contains(other))
            for id in ids { #expect(try await gateway.call("GET", "/v1/batches/\(id)").body["provider"]?.stringValue == "airops") }

            let real = try await CommandLineTests().runOffThePool(arguments)
            #expect(real.status == 0, "\(real.stderr)")
            #expect(real.stdout.contains("3 of 3 jobs moved"))
            for id in ids {
                let (batch, _) = try await gateway.waitForTerminal(id)
                #expect(batch["provider"]?.stringValue == "aitronos")
                #expect(batch["lifecycle_status"]?.stringValue == "completed")
            }
        }
    }
}

/// A create that times out at the gateway although the vendor made the batch is found again, not
/// submitted twice.
@Suite(.timeLimit(.minutes(2)))
struct SafeResubmitTests {
    @Test(arguments: [10, 60])
    func aTimedOutCreateIsFoundInsteadOfDuplicated(urlCount: Int) async throws {
        try await GatewayHarness.run(
            aitronosFaults: AitronosFaults(slowCreates: 1, slowCreateDelay: .seconds(2)),
            vendorTimeout: .milliseconds(500)
        ) { gateway in
            let urls = (0..<urlCount).map { "https://example.com/slow/\($0)" }
            let created = try await gateway.createBatch(urls: urls, route: "scrape-aitronos", schema: RoutingAndMigrationTests.schema)
            let id = try #require(created["id"]?.stringValue)
            let (batch, _) = try await gateway.waitForTerminal(id)
            #expect(batch["lifecycle_status"]?.stringValue == "completed")
            #expect(batch["progress"]?["succeeded"]?.intValue == urlCount)
            let upstream = gateway.aitronos.createdBatches()
            #expect(upstream.count == (urlCount + 49) / 50, "one upstream batch per chunk: \(upstream.map(\.urls.count))")
            #expect(upstream.flatMap(\.urls).sorted() == urls.sorted(), "every URL sent once")
            let store = try SQLiteJobStore(path: gateway.databasePath)
            let submits = try await store.attempts(jobID: id).filter { $0.operation == "submit" }
            #expect(submits.contains { $0.outcome == "timeout" }, "the first create timed out: \(submits.map(\.outcome))")
        }
    }
}
