import BatchGateCore
import BatchGateSimulators
import Foundation
import Testing

/// The gateway's HTTP API driven end to end against the AirOps simulator over loopback.
@Suite(.timeLimit(.minutes(2)))
struct AirOpsEndToEndTests {
    @Test func batchGoesPendingRunningCompletedWithPhasesAndResults() async throws {
        try await GatewayHarness.run { gateway in
            let urls = (0..<10).map { $0 == 3 ? "https://example.com/fail/\($0)" : "https://example.com/page/\($0)" }
            let created = try await gateway.createBatch(urls: urls, customIDs: urls.indices.map { "row-\($0)" })
            let id = try #require(created["id"]?.stringValue)
            #expect(created["lifecycle_status"]?.stringValue == "pending")
            #expect(created["provider"]?.stringValue == "airops")
            #expect(created["provider_kind"]?.stringValue == "olostep-airops")
            #expect(created["polling_url"]?.stringValue == "\(gateway.baseURL)/v1/batches/\(id)")
            #expect(created["cancel_url"] == .null, "AirOps cannot cancel")
            #expect(created["progress"]?["total"]?.intValue == 10)
            #expect(created["progress"]?["pending"]?.intValue == 10)

            let (batch, statuses) = try await gateway.waitForTerminal(id)
            #expect(statuses.first == "pending" || statuses.first == "running")
            #expect(statuses.last == "completed")
            #expect(statuses == statuses.sorted { LifecycleStatus(rawValue: $0)!.rank < LifecycleStatus(rawValue: $1)!.rank })
            let progress = try #require(batch["progress"])
            #expect(progress["total"]?.intValue == 10)
            #expect(progress["percent"]?.intValue == 100)
            #expect(progress["failed"]?.intValue == 1)
            #expect(progress["succeeded"]?.intValue == 9)
            #expect(progress["pending"]?.intValue == 0)
            let phases = batch["phases"]?.arrayValue ?? []
            #expect(phases.map { $0["name"]?.stringValue } == ["scraping", "analyzing", "enriching"])
            #expect(phases.allSatisfy { ["completed", "skipped"].contains($0["state"]?.stringValue ?? "") })
            #expect(batch["provider_status"]?.stringValue == "completed")
            #expect(batch["completed_at"]?.stringValue != nil)

            let (status, results, _) = try await gateway.call("GET", "/v1/batches/\(id)/results")
            #expect(status == 200)
            let items = results["data"]?.arrayValue ?? []
            #expect(items.count == 10)
            #expect(items.map { $0["key"]?.stringValue } == urls.indices.map { "row-\($0)" })
            #expect(items[3]["status"]?.stringValue == "failed")
            #expect(items[3]["error"]?["code"]?.stringValue == "SCRAPE_FAILED")
            #expect(items.filter { $0["status"]?.stringValue == "succeeded" }.count == 9)

            // The simulator's webhooks reached the gateway and are stored once each.
            #expect(gateway.simulator.sentWebhooks().contains { $0.outcome == .delivered })
        }
    }

    @Test func authenticationAndTenantIsolation() async throws {
        try await GatewayHarness.run { gateway in
            let created = try await gateway.createBatch(urls: ["https://example.com/a"])
            let id = try #require(created["id"]?.stringValue)
            #expect(try await gateway.call("GET", "/v1/batches/\(id)", key: "").status == 401)
            #expect(try await gateway.call("GET", "/v1/batches/\(id)", key: "wrong").status == 401)
            let other = try await gateway.call("GET", "/v1/batches/\(id)", key: gateway.otherTenantKey)
            #expect(other.status == 404)
            #expect(other.body["error"]?["code"]?.stringValue == "not_found")
            #expect(try await gateway.call("GET", "/v1/batches?limit=100", key: gateway.otherTenantKey).body["data"]?.arrayValue.isEmpty == true)
            #expect(try await gateway.call("GET", "/v1/batches/bat_garbage").status == 404)
            #expect(try await gateway.call("GET", "/healthz", key: "").status == 200)
        }
    }

    @Test func idempotencyKeyReturnsTheSameJob() async throws {
        try await GatewayHarness.run { gateway in
            let first = try await gateway.createBatch(urls: ["https://example.com/a"], idempotencyKey: "order-42")
            let again = try await gateway.call(
                "POST",
                "/v1/batches",
                json: .object(["route": "scrape", "input": .object(["urls": .array(["https://example.com/a"])])]),
                headers: [("Idempotency-Key", "order-42")]
            )
            #expect(again.status == 201)
            #expect(again.body["id"] == first["id"])
            #expect(again.response.header("Idempotent-Replayed") == "true")
            let reused = try await gateway.call(
                "POST",
                "/v1/batches",
                json: .object(["route": "scrape", "input": .object(["urls": .array(["https://example.com/b"])])]),
                headers: [("Idempotency-Key", "order-42")]
            )
            #expect(reused.status == 422)
            #expect(reused.body["error"]?["code"]?.stringValue == "idempotency_key_reused")
        }
    }

    @Test(arguments: [
        (#"{"route":"scrape"}"#, "input"),
        (#"{"route":"nope","input":{"urls":["https://a.example"]}}"#, "route"),
        (#"{"route":"scrape","input":{"urls":[]}}"#, "input.urls"),
        (#"{"route":"scrape","input":{"urls":["https://a.example","ftp://b"]}}"#, "input.urls[1]"),
        (#"{"route":"scrape","input":{"urls":["https://a.example"],"custom_ids":["a","b"]}}"#, "input.custom_ids"),
        (#"{"route":"scrape","input":{"urls":["https://a.example"]},"extra":1}"#, "extra"),
        (#"{"route":"scrape","input":{"urls":["https://a.example"],"country":"USA"}}"#, "input.country"),
        (#"{"route":"scrape","input":{"urls":["https://a.example"],"custom_ids":[""]}}"#, "input.custom_ids[0]"),
    ])
    func badBodiesNameTheField(body: String, field: String) async throws {
        try await GatewayHarness.run { gateway in
            let (status, answer, _) = try await gateway.call("POST", "/v1/batches", raw: Array(body.utf8))
            #expect(status == 400, "\(body) → \(status) \(answer)")
            #expect(answer["error"]?["field"]?.stringValue == field, "\(answer)")
            #expect(answer["error"]?["code"]?.stringValue == "invalid_request")
        }
    }

    @Test func malformedAndOversizedBodies() async throws {
        try await GatewayHarness.run { gateway in
            let broken = try await gateway.call("POST", "/v1/batches", raw: Array("{not json".utf8))
            #expect(broken.status == 400)
            #expect(broken.body["error"]?["message"]?.stringValue?.contains("JSON") == true)
            let huge = "{\"route\":\"scrape\",\"input\":{\"urls\":[\"https://a.example/" + String(repeating: "x", count: 70_000) + "\"]}}"
            let tooLarge = try await gateway.call("POST", "/v1/batches", raw: Array(huge.utf8))
            #expect(tooLarge.status == 413)
            #expect(tooLarge.body["error"]?["code"]?.stringValue == "payload_too_large")
            let list = try await gateway.call("GET", "/v1/batches?limit=0")
            #expect(list.status == 400)
            #expect(list.body["error"]?["field"]?.stringValue == "limit")
        }
    }

    @Test func cancelIsRefusedForAirOps() async throws {
        try await GatewayHarness.run { gateway in
            let created = try await gateway.createBatch(urls: ["https://example.com/a"])
            let id = try #require(created["id"]?.stringValue)
            let (status, body, _) = try await gateway.call("POST", "/v1/batches/\(id)/cancel")
            #expect(status == 409)
            #expect(body["error"]?["code"]?.stringValue == "not_cancellable")
        }
    }

    @Test func listPaginatesNewestFirst() async throws {
        try await GatewayHarness.run(scenario: .init(queueDelay: .seconds(30))) { gateway in
            var ids: [String] = []
            for index in 0..<5 {
                ids.append(try #require(try await gateway.createBatch(urls: ["https://example.com/\(index)"])["id"]?.stringValue))
            }
            var seen: [String] = []
            var after: String?
            repeat {
                let page = try await gateway.call("GET", "/v1/batches?limit=2" + (after.map { "&after=\($0)" } ?? ""))
                #expect(page.status == 200)
                seen += (page.body["data"]?.arrayValue ?? []).compactMap { $0["id"]?.stringValue }
                after = page.body["next_after"]?.stringValue
                #expect((page.body["has_more"] == .bool(true)) == (after != nil))
            } while after != nil && seen.count < 10
            #expect(seen == ids.reversed())
            let filtered = try await gateway.call("GET", "/v1/batches?lifecycle_status=completed")
            #expect(filtered.body["data"]?.arrayValue.isEmpty == true)
        }
    }
}
