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
@Suite(.timeLimit(.minutes(1))) struct AitronosSimulatorTests {
    static let apiKey = "sim_key"

    typealias Send = (_ method: String, _ path: String, _ body: String?, _ headers: [(name: String, value: String)]) async throws -> (
        Int, JSONValue, HTTPResponse
    )

    static let bearer: [(name: String, value: String)] = [("Authorization", "Bearer \(apiKey)")]

    func withSimulator(
        _ configuration: AitronosSimulator.Configuration = .init(apiKey: apiKey, perURLDuration: .milliseconds(40)),
        _ body: (_ send: Send, AitronosSimulator) async throws -> Void
    ) async throws {
        let client = try CurlHTTPClient()
        defer { client.shutdown() }
        try await withAitronosSimulator(configuration) { baseURL, simulator in
            let send: Send = { method, path, body, headers in
                let response = try await client.send(
                    HTTPRequest(
                        method: method,
                        url: baseURL + path,
                        headers: [("Content-Type", "application/json")] + headers,
                        body: body.map { Array($0.utf8) },
                        timeout: .seconds(30)
                    )
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

    static let schema = #""schema":{"type":"object","properties":{"title":{"type":"string"}}}"#
    static let fiftyOne = (0...50).map { #""https://a.example/\#($0)""# }.joined(separator: ",")

    @Test(arguments: [
        BadBody(name: "not JSON", body: "nope", field: nil),
        BadBody(name: "no urls", body: #"{\#(schema)}"#, field: "urls"),
        BadBody(name: "empty urls", body: #"{"urls":[],\#(schema)}"#, field: "urls"),
        BadBody(name: "51 urls", body: #"{"urls":[\#(fiftyOne)],\#(schema)}"#, field: "urls"),
        BadBody(name: "bad URL", body: #"{"urls":["https://a.example","notaurl"],\#(schema)}"#, field: "urls[1]"),
        BadBody(name: "URL not a string", body: #"{"urls":[7],\#(schema)}"#, field: "urls[0]"),
        BadBody(name: "missing schema", body: #"{"urls":["https://a.example"]}"#, field: "schema"),
        BadBody(name: "schema not an object", body: #"{"urls":["https://a.example"],"schema":"x"}"#, field: "schema"),
        BadBody(name: "options not an object", body: #"{"urls":["https://a.example"],\#(schema),"options":[]}"#, field: "options"),
        BadBody(
            name: "max_items_per_url 0",
            body: #"{"urls":["https://a.example"],\#(schema),"options":{"max_items_per_url":0}}"#,
            field: "options.max_items_per_url"
        ),
        BadBody(
            name: "max_total_items 5001",
            body: #"{"urls":["https://a.example"],\#(schema),"options":{"max_total_items":5001}}"#,
            field: "options.max_total_items"
        ),
        BadBody(
            name: "parallel_jobs 11",
            body: #"{"urls":["https://a.example"],\#(schema),"options":{"parallel_jobs":11}}"#,
            field: "options.parallel_jobs"
        ),
        BadBody(
            name: "timeout_per_url 1.5",
            body: #"{"urls":["https://a.example"],\#(schema),"options":{"timeout_per_url":1.5}}"#,
            field: "options.timeout_per_url"
        ),
        BadBody(
            name: "date_filter a string",
            body: #"{"urls":["https://a.example"],\#(schema),"options":{"date_filter":"x"}}"#,
            field: "options.date_filter"
        ),
        BadBody(name: "unknown option", body: #"{"urls":["https://a.example"],\#(schema),"options":{"depth":2}}"#, field: "options.depth"),
        BadBody(name: "organization_id a number", body: #"{"urls":["https://a.example"],\#(schema),"organization_id":5}"#, field: "organization_id"),
    ])
    func createRejectsBadBodies(_ bad: BadBody) async throws {
        try await withSimulator { send, simulator in
            let (status, json, _) = try await send("POST", "/v1/scrape/batch", bad.body, Self.bearer)
            #expect(status == 400)
            #expect(json["success"] == false)
            #expect(json["error"]?["code"] == "invalid_request")
            #expect(json["error"]?["field"]?.stringValue == bad.field)
            #expect(simulator.createdBatches().isEmpty)
        }
    }

    @Test func authInTheConfiguredStyleOnly() async throws {
        let create = #"{"urls":["https://a.example"],\#(Self.schema)}"#
        try await withSimulator { send, simulator in
            let (none, noneJSON, _) = try await send("POST", "/v1/scrape/batch", create, [])
            #expect(none == 401)
            #expect(noneJSON["error"]?["code"] == "unauthorized")
            let (otherStyle, _, _) = try await send("POST", "/v1/scrape/batch", create, [("X-API-Key", Self.apiKey)])
            #expect(otherStyle == 401)
            let (wrong, _, _) = try await send("GET", "/v1/scrape/batch/b/progress", nil, [("Authorization", "Bearer nope")])
            #expect(wrong == 401)
            #expect(simulator.createdBatches().isEmpty)
            #expect(simulator.requestCount(AitronosSimulator.Route.create) == 2)
            #expect(simulator.requestCount(AitronosSimulator.Route.progress) == 1)
        }
        try await withSimulator(.init(apiKey: Self.apiKey, authStyle: .xAPIKey)) { send, simulator in
            let (bearer, _, _) = try await send("POST", "/v1/scrape/batch", create, Self.bearer)
            #expect(bearer == 401)
            let (ok, _, _) = try await send("POST", "/v1/scrape/batch", create, [("x-api-key", Self.apiKey)])
            #expect(ok == 200)
            #expect(simulator.createdBatches().count == 1)
        }
    }

    /// Create as on the vendor's page, progress wrapped as in the supplement, the job bare, the list paged.
    @Test func responseShapesFollowTheDocs() async throws {
        try await withSimulator { send, simulator in
            let create =
                #"{"urls":["https://a.example/blog/x","https://b.example/fail","https://c.example/"],\#(Self.schema),"options":{"parallel_jobs":3,"llm_mode":"structured","date_filter":null}}"#
            let (status, created, _) = try await send("POST", "/v1/scrape/batch", create, Self.bearer)
            #expect(status == 200)
            #expect(created["total_urls"] == 3)
            #expect(created["progress"] == ["completed": 0, "failed": 0, "pending": 3, "total_items_extracted": 0])
            #expect(created["created_at"]?.stringValue?.hasSuffix("Z") == true)
            guard case .array(let jobs)? = created["jobs"], jobs.count == 3 else {
                Issue.record("no jobs in \(created)")
                return
            }
            #expect(jobs.allSatisfy { $0["status"] == "pending" && $0["job_id"]?.stringValue?.hasPrefix("job_") == true })
            let id = try #require(created["batch_id"]?.stringValue)
            #expect(simulator.createdBatches().map(\.id) == [id])
            #expect(simulator.createdBatches().first?.jobIDs == jobs.compactMap { $0["job_id"]?.stringValue })

            try await waitUntil("every job finished") {
                let (_, progress, _) = try await send("GET", "/v1/scrape/batch/\(id)/progress", nil, Self.bearer)
                return progress["data"]?["pending"] == 0 && progress["data"]?["completed"] == 2
            }
            let (_, progress, _) = try await send("GET", "/v1/scrape/batch/\(id)/progress", nil, Self.bearer)
            #expect(progress["success"] == true)
            let data = try #require(progress["data"])
            #expect(data["batch_id"] == .string(id))
            #expect(data["failed"] == 1)
            #expect(data["estimated_completion"]?.stringValue != nil)
            for field in ["total_urls", "completed", "failed", "pending", "total_items_extracted", "jobs"] { #expect(data[field] != nil, "\(field)") }

            let failedJob = try #require(jobs[1]["job_id"]?.stringValue)
            let (_, failed, _) = try await send("GET", "/v1/scrape/jobs/\(failedJob)", nil, Self.bearer)
            #expect(failed["status"] == "failed")
            #expect(failed["extracted_data"] == .null)
            #expect(failed["error"]?.stringValue?.contains("b.example/fail") == true)

            let doneJob = try #require(jobs[0]["job_id"]?.stringValue)
            let (_, done, _) = try await send("GET", "/v1/scrape/jobs/\(doneJob)", nil, Self.bearer)
            #expect(done["status"] == "completed")
            #expect(done["url"] == "https://a.example/blog/x")
            guard case .array(let items)? = done["extracted_data"] else {
                Issue.record("no extracted_data in \(done)")
                return
            }
            #expect(!items.isEmpty)
            #expect(items.allSatisfy { $0["title"]?.stringValue?.contains("a.example/blog/x") == true })
            #expect(done["items_extracted"] == .number(Double(items.count)))
            let metadata = try #require(done["metadata"])
            #expect(metadata["engine_used"]?.stringValue != nil)
            #expect(metadata["llm_calls"] == 1)
            #expect(metadata["processing_time"] != nil && metadata["cache_hit"] != nil)

            let (_, unknownJob, _) = try await send("GET", "/v1/scrape/jobs/job_nope", nil, Self.bearer)
            #expect(unknownJob["error"]?["code"] == "not_found")
            let (missing, _, _) = try await send("GET", "/v1/scrape/batch/batch_nope/progress", nil, Self.bearer)
            #expect(missing == 404)
        }
    }

    @Test func listJobsFiltersAndPages() async throws {
        try await withSimulator { send, _ in
            let create = #"{"urls":["https://a.example/1","https://a.example/fail","https://a.example/3","https://a.example/4"],\#(Self.schema)}"#
            _ = try await send("POST", "/v1/scrape/batch", create, Self.bearer)
            try await waitUntil("every job finished") {
                let (_, list, _) = try await send("GET", "/v1/scrape/jobs?status=completed", nil, Self.bearer)
                return list["data"]?["total"] == 3
            }
            let (_, failed, _) = try await send("GET", "/v1/scrape/jobs?status=failed", nil, Self.bearer)
            #expect(failed["data"]?["total"] == 1)
            #expect(
                failed["data"]?["jobs"] == [
                    [
                        "job_id": try #require(failed["data"]?["jobs"].flatMap(Self.first)?["job_id"]),
                        "batch_id": try #require(failed["data"]?["jobs"].flatMap(Self.first)?["batch_id"]), "url": "https://a.example/fail",
                        "status": "failed", "items_extracted": 0,
                        "created_at": try #require(failed["data"]?["jobs"].flatMap(Self.first)?["created_at"]),
                    ]
                ]
            )

            let (_, page, _) = try await send("GET", "/v1/scrape/jobs?limit=2&offset=1", nil, Self.bearer)
            #expect(page["data"]?["total"] == 4)
            #expect(page["data"]?["limit"] == 2)
            #expect(page["data"]?["offset"] == 1)
            guard case .array(let listed)? = page["data"]?["jobs"] else {
                Issue.record("no jobs")
                return
            }
            #expect(listed.map { $0["url"] } == ["https://a.example/fail", "https://a.example/3"])

            for (query, field) in [
                ("limit=0", "limit"), ("limit=101", "limit"), ("limit=x", "limit"), ("offset=-1", "offset"), ("status=done", "status"),
            ] {
                let (status, json, _) = try await send("GET", "/v1/scrape/jobs?\(query)", nil, Self.bearer)
                #expect(status == 400, "\(query)")
                #expect(json["error"]?["field"] == .string(field), "\(query)")
            }
        }
    }

    /// `options.parallel_jobs` sets the lanes: with two lanes and slow URLs, two jobs run and two wait.
    @Test func parallelJobsOptionSetsTheLanes() async throws {
        try await withSimulator(.init(apiKey: Self.apiKey, perURLDuration: .seconds(5), parallelJobs: 3)) { send, _ in
            let create =
                #"{"urls":["https://a.example/1","https://a.example/2","https://a.example/3","https://a.example/4"],\#(Self.schema),"options":{"parallel_jobs":2}}"#
            let (_, created, _) = try await send("POST", "/v1/scrape/batch", create, Self.bearer)
            let id = try #require(created["batch_id"]?.stringValue)
            try await waitUntil("two jobs processing") {
                let (_, progress, _) = try await send("GET", "/v1/scrape/batch/\(id)/progress", nil, Self.bearer)
                guard case .array(let jobs)? = progress["data"]?["jobs"] else { return false }
                return jobs.map { $0["status"] } == ["processing", "processing", "pending", "pending"]
            }
        }
    }

    @Test func pathPrefixRoutes() async throws {
        try await withSimulator(.init(apiKey: Self.apiKey, pathPrefix: "/api/")) { send, simulator in
            let create = #"{"urls":["https://a.example"],\#(Self.schema)}"#
            let (bare, _, _) = try await send("POST", "/v1/scrape/batch", create, Self.bearer)
            #expect(bare == 404)
            let (prefixed, created, _) = try await send("POST", "/api/v1/scrape/batch", create, Self.bearer)
            #expect(prefixed == 200)
            let id = try #require(created["batch_id"]?.stringValue)
            let (progress, _, _) = try await send("GET", "/api/v1/scrape/batch/\(id)/progress", nil, Self.bearer)
            #expect(progress == 200)
            let (list, _, _) = try await send("GET", "/api/v1/scrape/jobs", nil, Self.bearer)
            #expect(list == 200)
            #expect(simulator.createdBatches().count == 1)
        }
    }

    @Test func faultsAreConsumedInOrder() async throws {
        try await withSimulator { send, simulator in
            simulator.setFaults(AitronosFaults(unavailableResponses: 1, rateLimitedResponses: 1, retryAfter: .milliseconds(1500)))
            let (first, firstJSON, _) = try await send("GET", "/v1/scrape/batch/x/progress", nil, Self.bearer)
            #expect(first == 503)
            #expect(firstJSON["error"]?["code"] == "service_unavailable")
            let (second, _, response) = try await send("GET", "/v1/scrape/jobs/x", nil, Self.bearer)
            #expect(second == 429)
            #expect(response.header("Retry-After") == "2")
            let (third, _, _) = try await send("GET", "/v1/scrape/batch/x/progress", nil, Self.bearer)
            #expect(third == 404)
            #expect(simulator.faults() == AitronosFaults(retryAfter: .milliseconds(1500)))
        }
    }

    @Test func slowCreateHoldsTheAnswerButCreatesTheBatch() async throws {
        try await withSimulator { send, simulator in
            simulator.setFaults(AitronosFaults(slowCreates: 1, slowCreateDelay: .milliseconds(300)))
            let create = #"{"urls":["https://a.example"],\#(Self.schema)}"#
            let started = ContinuousClock.now
            let (status, created, _) = try await send("POST", "/v1/scrape/batch", create, Self.bearer)
            #expect(status == 200)
            #expect(ContinuousClock.now - started >= .milliseconds(300))
            #expect(simulator.createdBatches().map(\.id) == [try #require(created["batch_id"]?.stringValue)])
            #expect(simulator.faults().slowCreates == 0)
        }
    }

    @Test func refusedCreatesDoNotConsumeSlowCreate() async throws {
        try await withSimulator { send, simulator in
            simulator.setFaults(AitronosFaults(slowCreates: 1, slowCreateDelay: .milliseconds(10)))
            _ = try await send("POST", "/v1/scrape/batch", #"{"urls":[]}"#, Self.bearer)
            _ = try await send("POST", "/v1/scrape/batch", #"{"urls":["https://a.example"],\#(Self.schema)}"#, [])
            #expect(simulator.faults().slowCreates == 1)
        }
    }

    static func first(_ array: JSONValue) -> JSONValue? {
        if case .array(let values) = array { return values.first }
        return nil
    }

    // MARK: Fault specifications

    @Test func parsesTheDocumentedFaultSpec() throws {
        let faults = try AitronosFaults.parse("latency=50ms,status503=3,ratelimit=2:1s,slow-create=1:10s")
        #expect(
            faults
                == AitronosFaults(
                    latency: .milliseconds(50),
                    unavailableResponses: 3,
                    rateLimitedResponses: 2,
                    retryAfter: .seconds(1),
                    slowCreates: 1,
                    slowCreateDelay: .seconds(10)
                )
        )
        let more = try AitronosFaults.parse(" slow_create=2 , ratelimit=1, latency=1m ")
        #expect(more.slowCreates == 2 && more.slowCreateDelay == .seconds(5))
        #expect(more.rateLimitedResponses == 1 && more.retryAfter == .seconds(1))
        #expect(more.latency == .seconds(60))
        #expect(try AitronosFaults.parse("") == AitronosFaults())
    }

    @Test(arguments: [
        ("latency=fast", "latency=fast"), ("status503=-1", "status503=-1"), ("ratelimit=2:1x", "ratelimit=2:1x"),
        ("ratelimit=2:", "ratelimit=2:"), ("slow-create=x:1s", "slow-create=x:1s"), ("slow-create", "slow-create"),
        ("status503=1,teleport", "teleport"), ("duplicate", "duplicate"),
    ])
    func rejectsBadFaultSpecs(_ spec: String, _ field: String) {
        #expect {
            _ = try AitronosFaults.parse(spec)
        } throws: { error in
            (error as? SimulatorError)?.field == field && (error as? SimulatorError)?.code == "invalid_fault"
        }
    }
}
