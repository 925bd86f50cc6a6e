import BatchGateCore
import BatchGateSimulators
import BatchGateTransport
import Testing

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// The simulator's own wire behaviour, checked with raw HTTP requests.
@Suite(.timeLimit(.minutes(1))) struct AirOpsSimulatorTests {
    static let token = "sim_token"

    func withSimulator(
        _ scenario: AirOpsSimulator.Scenario = AirOpsAdapterTests.fast,
        _ body: (_ send: (String, String, String?, String?) async throws -> (Int, JSONValue, HTTPResponse), AirOpsSimulator) async throws -> Void
    ) async throws {
        let client = try CurlHTTPClient()
        defer { client.shutdown() }
        try await withAirOpsSimulator(.init(token: Self.token, scenario: scenario), transport: client) { baseURL, simulator in
            let send = { (method: String, path: String, body: String?, token: String?) async throws -> (Int, JSONValue, HTTPResponse) in
                var headers: [(name: String, value: String)] = [("Content-Type", "application/json")]
                if let token { headers.append(("Authorization", "Bearer \(token)")) }
                let response = try await client.send(
                    HTTPRequest(method: method, url: baseURL + path, headers: headers, body: body.map { Array($0.utf8) }, timeout: .seconds(30))
                )
                let json = (try? JSONDecoder().decode(JSONValue.self, from: Data(response.body))) ?? .null
                return (response.status, json, response)
            }
            try await body(send, simulator)
        }
    }

    struct BadBody: Sendable, CustomTestStringConvertible {
        var name: String
        var body: String
        var field: String?
        var testDescription: String { name }
    }

    @Test(arguments: [
        BadBody(name: "not JSON", body: "nope", field: nil),
        BadBody(name: "no items", body: #"{"items":[]}"#, field: "items"),
        BadBody(name: "items missing", body: #"{"brands":["A"]}"#, field: "items"),
        BadBody(name: "bad URL", body: #"{"items":[{"url":"https://a.example"},{"url":"notaurl"}]}"#, field: "items[1].url"),
        BadBody(name: "ftp URL", body: #"{"items":[{"url":"ftp://a.example/x"}]}"#, field: "items[0].url"),
        BadBody(
            name: "long custom_id",
            body: #"{"items":[{"url":"https://a.example","custom_id":"\#(String(repeating: "x", count: 256))"}]}"#,
            field: "items[0].custom_id"
        ),
        BadBody(name: "empty custom_id", body: #"{"items":[{"url":"https://a.example","custom_id":""}]}"#, field: "items[0].custom_id"),
        BadBody(name: "bad webhook", body: #"{"items":[{"url":"https://a.example"}],"webhook":"mailto:x"}"#, field: "webhook"),
    ])
    func createRejectsBadBodies(_ bad: BadBody) async throws {
        try await withSimulator { send, simulator in
            let (status, json, _) = try await send("POST", "/v1/batches-airops", bad.body, Self.token)
            #expect(status == 400)
            #expect(json["error"]?["code"] == .string("invalid_request"))
            #expect(json["error"]?["field"]?.stringValue == bad.field)
            #expect(simulator.batchIDs().isEmpty)
        }
    }

    @Test func authAndUnknownIDs() async throws {
        try await withSimulator { send, simulator in
            let (noAuth, noAuthJSON, _) = try await send("GET", "/v1/batches-airops/batch_x", nil, nil)
            #expect(noAuth == 401)
            #expect(noAuthJSON["error"]?["code"] == .string("unauthorized"))
            let (wrong, _, _) = try await send("POST", "/v1/batches-airops", #"{"items":[{"url":"https://a.example"}]}"#, "nope")
            #expect(wrong == 401)
            #expect(simulator.batchIDs().isEmpty)
            let (missing, missingJSON, _) = try await send("GET", "/v1/batches-airops/batch_x", nil, Self.token)
            #expect(missing == 404)
            #expect(missingJSON["error"]?["code"] == .string("not_found"))
            let (missingItems, _, _) = try await send("GET", "/v1/batches-airops/batch_x/items", nil, Self.token)
            #expect(missingItems == 404)
            #expect(simulator.requestCount(AirOpsSimulator.Route.get) == 2)
            #expect(simulator.requestCount(AirOpsSimulator.Route.items) == 1)
            #expect(simulator.requestCount(AirOpsSimulator.Route.create) == 1)
        }
    }

    /// The three documented shapes: create nests phases under `status`, GET has a plain-string status
    /// with top-level phases, items are listed only once completed.
    @Test func responseShapesFollowTheDocs() async throws {
        var scenario = AirOpsAdapterTests.observable
        // Long enough that the first read of the items is before completion even on a loaded machine.
        scenario.queueDelay = .seconds(5)
        try await withSimulator(scenario) { send, _ in
            let create =
                #"{"items":[{"url":"https://a.example/blog/x","custom_id":"a"},{"url":"https://b.example/fail"}],"brands":["Acme"],"country":"US"}"#
            let (status, created, _) = try await send("POST", "/v1/batches-airops", create, Self.token)
            #expect(status == 201)
            #expect(created["object"] == .string("batch_airops"))
            #expect(created["total_urls"] == .number(2))
            #expect(created["created"] != nil)
            #expect(created["status"]?["overall"] == .string("pending"))
            #expect(created["status"]?["scraping"]?["state"] == .string("pending"))
            #expect(created["scraping"] == nil)
            let id = try #require(created["id"]?.stringValue)

            let (_, got, _) = try await send("GET", "/v1/batches-airops/\(id)", nil, Self.token)
            #expect(got["object"] == .string("batch"))
            #expect(got["status"]?.stringValue != nil)
            #expect(got["created_at"] == created["created"])
            #expect(got["batch_mode"] == .bool(true))
            #expect(got["enriching"]?["batch_mode"] == .bool(true))
            for phase in ["scraping", "analyzing", "enriching"] { #expect(got[phase]?.isObject == true) }

            let (_, early, _) = try await send("GET", "/v1/batches-airops/\(id)/items", nil, Self.token)
            #expect(early["items"] == .array([]))
            #expect(early["batch_id"] == .string(id))

            try await waitUntil("completion") {
                let (_, now, _) = try await send("GET", "/v1/batches-airops/\(id)", nil, Self.token)
                return now["status"] == .string("completed")
            }
            let (_, items, _) = try await send("GET", "/v1/batches-airops/\(id)/items", nil, Self.token)
            #expect(items["status"] == .string("completed"))
            #expect(items["counts"] == .object(["total": .number(2), "succeeded": .number(1), "failed": .number(1)]))
            guard case .array(let list)? = items["items"] else {
                Issue.record("no items array")
                return
            }
            #expect(list.count == 2)
            #expect(list[0]["custom_id"] == .string("a"))
            #expect(list[0]["page_type"] == .string("article"))
            for field in ["author", "date_published", "date_modified", "brand_mentions"] { #expect(list[0][field] != nil) }
            #expect(list[1]["custom_id"] == .null)
            #expect(list[1]["failed_stage"] == .string("scraping"))
            #expect(list[1]["error"]?["code"] == .string("SCRAPE_FAILED"))
        }
    }

    /// Extracted fields are a function of the URL: two batches give the same content.
    @Test func recordsEachBatchsPollsAndServesThem() async throws {
        try await withSimulator { send, simulator in
            let (_, created, _) = try await send("POST", "/v1/batches-airops", #"{"items":[{"url":"https://a.example/x"}]}"#, Self.token)
            let id = try #require(created["id"]?.stringValue)
            let before = Timestamp.now()
            for _ in 0..<3 { _ = try await send("GET", "/v1/batches-airops/\(id)", nil, Self.token) }
            _ = try await send("GET", "/v1/batches-airops/\(id)/items", nil, Self.token)
            let times = try #require(simulator.polls.timesByBatch()[id])
            #expect(times.count == 3)
            #expect(times.allSatisfy { $0 >= before.milliseconds && $0 <= Timestamp.now().milliseconds })
            #expect(times == times.sorted())
            let (status, json, _) = try await send("GET", "/simulator/polls", nil, nil)
            #expect(status == 200)
            #expect(json["requests"] == .number(3))
            #expect(json["batches"]?[id] == .array(times.map { .number(Double($0)) }))
        }
    }

    @Test func batchesCreatedApartFinishTogetherAtFinishAt() async throws {
        // Far enough ahead that both batches are created in time even when a loaded machine stalls the test.
        let finishAt = Timestamp.now().adding(.seconds(4))
        var scenario = AirOpsAdapterTests.fast
        scenario.finishAt = finishAt
        try await withSimulator(scenario) { send, _ in
            let (_, first, _) = try await send("POST", "/v1/batches-airops", #"{"items":[{"url":"https://a.example/1"}]}"#, Self.token)
            try await Task.sleep(for: .milliseconds(300))
            let (_, second, _) = try await send("POST", "/v1/batches-airops", #"{"items":[{"url":"https://a.example/2"}]}"#, Self.token)
            let wait = Timestamp.now().duration(to: finishAt) + .milliseconds(500)
            if wait > .zero { try await Task.sleep(for: wait) }
            for batch in [first, second] {
                let id = try #require(batch["id"]?.stringValue)
                let (_, json, _) = try await send("GET", "/v1/batches-airops/\(id)", nil, Self.token)
                #expect(json["status"] == .string("completed"))
                // Enriched batches end at finishAt; ones that need no enrichment end when analysis does, just before.
                let completedAt = Int64(try #require(json["enriching"]?["completed_at"]?.intValue))
                #expect(completedAt <= finishAt.milliseconds && completedAt >= finishAt.milliseconds - 250)
            }
        }
    }

    @Test func extractedFieldsAreDeterministic() async throws {
        var scenario = AirOpsAdapterTests.fast
        scenario.outcome = .enrichingSkipped
        try await withSimulator(scenario) { send, _ in
            var contents: [JSONValue] = []
            for _ in 0..<2 {
                let (_, created, _) = try await send(
                    "POST",
                    "/v1/batches-airops",
                    #"{"items":[{"url":"https://a.example/page","custom_id":"a"}],"brands":["Acme","Globex"]}"#,
                    Self.token
                )
                let id = try #require(created["id"]?.stringValue)
                try await waitUntil("completion") {
                    let (_, now, _) = try await send("GET", "/v1/batches-airops/\(id)", nil, Self.token)
                    return now["status"] == .string("completed")
                }
                let (_, items, _) = try await send("GET", "/v1/batches-airops/\(id)/items", nil, Self.token)
                contents.append(items["items"] ?? .null)
            }
            #expect(contents[0] == contents[1])
            #expect(contents[0] != .array([]))
        }
    }

    @Test func faultsAreConsumedInOrder() async throws {
        try await withSimulator { send, simulator in
            simulator.setFaults(AirOpsFaults(unavailableResponses: 1, rateLimitedResponses: 1, retryAfter: .milliseconds(1500)))
            let (first, firstJSON, _) = try await send("GET", "/v1/batches-airops/x", nil, Self.token)
            #expect(first == 503)
            #expect(firstJSON["error"]?["code"] != nil)
            let (second, _, response) = try await send("GET", "/v1/batches-airops/x", nil, Self.token)
            #expect(second == 429)
            #expect(response.header("Retry-After") == "2")
            let (third, _, _) = try await send("GET", "/v1/batches-airops/x", nil, Self.token)
            #expect(third == 404)
        }
    }

    // MARK: Fault specifications

    @Test func parsesTheDocumentedFaultSpec() throws {
        let faults = try AirOpsFaults.parse("latency=50ms,status503=3,ratelimit=2:1s,duplicate,out-of-order,drop=scraping_completed")
        #expect(
            faults
                == AirOpsFaults(
                    latency: .milliseconds(50),
                    unavailableResponses: 3,
                    rateLimitedResponses: 2,
                    retryAfter: .seconds(1),
                    duplicateWebhooks: true,
                    outOfOrderWebhooks: true,
                    droppedEvents: ["event.batch.airops.scraping_completed"]
                )
        )
        let more = try AirOpsFaults.parse(" pause , drop=event.batch.airops.failed,drop=completed, latency=2s,ratelimit=1 ")
        #expect(more.webhooksPaused)
        #expect(more.droppedEvents == ["event.batch.airops.failed", "event.batch.airops.completed"])
        #expect(more.latency == .seconds(2))
        #expect(more.rateLimitedResponses == 1 && more.retryAfter == .seconds(1))
        #expect(try AirOpsFaults.parse("") == AirOpsFaults())
    }

    @Test(arguments: [
        ("latency=fast", "latency=fast"), ("status503=-1", "status503=-1"), ("ratelimit=2:1x", "ratelimit=2:1x"),
        ("drop=exploded", "drop=exploded"), ("duplicate,teleport", "teleport"), ("latency", "latency"), ("drop=", "drop="),
    ])
    func rejectsBadFaultSpecs(_ spec: String, _ field: String) {
        #expect {
            _ = try AirOpsFaults.parse(spec)
        } throws: { error in
            (error as? SimulatorError)?.field == field && (error as? SimulatorError)?.code == "invalid_fault"
        }
    }

    // MARK: Retry-After

    @Test(arguments: [
        ("120", Duration.seconds(120)), (" 0 ", .zero), ("Sun, 06 Nov 1994 08:49:37 GMT", .zero),
        ("Wed, 21 Oct 2015 07:28:10 GMT", .seconds(10)), ("Wednesday, 21-Oct-15 07:29:00 GMT", .seconds(60)),
        ("Wed Oct 21 07:28:05 2015", .seconds(5)), ("99999999999999999999", .seconds(Int64(Int32.max))),
    ])
    func retryAfterParses(_ text: String, _ expected: Duration) {
        let now = Timestamp(milliseconds: 1_445_412_480_000)  // 2015-10-21T07:28:00Z
        #expect(RetryAfter.parse(text, now: now) == expected)
    }

    @Test(arguments: ["", "-1", "1.5", "soon", "Wed, 32 Oct 2015 07:28:00 GMT", "Wed, 21 Foo 2015 07:28:00 GMT"])
    func retryAfterRejects(_ text: String) {
        #expect(RetryAfter.parse(text, now: Timestamp(milliseconds: 0)) == nil)
    }
}
