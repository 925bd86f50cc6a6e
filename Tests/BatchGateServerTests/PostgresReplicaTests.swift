import BatchGateCore
import BatchGateSimulators
import BatchGateTestSupport
import BatchGateTransport
import Foundation
import Testing

/// Two `batchgate serve` processes on one PostgreSQL database (a new schema of `PostgresTestCluster`): one job per idempotency key whichever replicas receive it, and
/// a change made through one replica shown by the other's `GET` and events stream at once.
@Suite(.serialized, .timeLimit(.minutes(3)))
struct PostgresReplicaTests {
    /// Starts `replicas` gateways on a new schema with `providers` and `routes` (YAML lines indented by
    /// two spaces), runs `body` with their base URLs, then stops them and drops the schema.
    static func withReplicas(
        _ replicas: Int,
        providers: String,
        routes: String,
        _ body: ([String]) async throws -> Void
    ) async throws {
        guard let cluster = try PostgresTestCluster.url() else { return }
        try await PostgresTestCluster.withSchema(cluster, prefix: "r_") { database in
            let directory = FileManager.default.temporaryDirectory.appendingPathComponent("bg-pg-replicas-\(Identifier.secret(byteCount: 6))")
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(at: directory) }
            var processes: [CrashRecoveryTests.GatewayProcess] = []
            defer { for process in processes { process.terminate() } }
            var urls: [String] = []
            for index in 0..<replicas {
                let port = try LoopbackPort.reserve()
                let config = directory.appendingPathComponent("replica-\(index).yaml").path
                try """
                server: {listen: "127.0.0.1:\(port)", public_url: "http://127.0.0.1:\(port)"}
                store: {postgres: "\(database)", pool_size: 8}
                auth:
                  api_keys: [{tenant: acme, key: key-acme}]
                providers:
                \(providers)
                routes:
                \(routes)
                """.write(toFile: config, atomically: true, encoding: .utf8)
                processes.append(try CrashRecoveryTests.GatewayProcess(config: config))
                urls.append("http://127.0.0.1:\(port)")
            }
            try await body(urls)
        }
    }

    /// One request with headers of the test's choosing.
    static func send(
        _ transport: CurlHTTPClient,
        _ method: String,
        _ url: String,
        json: String? = nil,
        headers extra: [(name: String, value: String)] = []
    ) async throws -> (status: Int, body: JSONValue) {
        var headers: [(name: String, value: String)] = [("authorization", "Bearer key-acme")] + extra
        if json != nil { headers.append(("content-type", "application/json")) }
        let response = try await transport.send(
            HTTPRequest(method: method, url: url, headers: headers, body: json.map { Array($0.utf8) }, timeout: .seconds(10))
        )
        return (response.status, (try? JSONDecoder().decode(JSONValue.self, from: Data(response.body))) ?? .null)
    }

    @Test func oneIdempotencyKeySentToTwoReplicasAtOnceCreatesOneJob() async throws {
        try await CurlHTTPClient.withClient { transport in
            // Batches stay queued at the vendor: the test is about creates only.
            let scenario = AirOpsSimulator.Scenario(queueDelay: .seconds(600))
            try await withAirOpsSimulator(.init(token: "vendor-token", scenario: scenario), transport: transport) { vendorURL, _ in
                try await Self.withReplicas(
                    2,
                    providers: "  airops: {kind: olostep-airops, base_url: \"\(vendorURL)/\", token: vendor-token, poll_interval: 30s}",
                    routes: "  scrape: {kind: url_batch, targets: [{provider: airops}]}"
                ) { replicas in
                    for replica in replicas {
                        try await GatewayHarness.Client(baseURL: replica, apiKey: "key-acme", transport: transport).waitUntilReady()
                    }
                    var ids = Set<String>()
                    for round in 0..<100 {
                        let body = #"{"route": "scrape", "input": {"urls": ["https://example.com/\#(round)/a"]}}"#
                        let key = [(name: "idempotency-key", value: "round-\(round)")]
                        async let first = Self.send(transport, "POST", replicas[0] + "/v1/batches", json: body, headers: key)
                        async let second = Self.send(transport, "POST", replicas[1] + "/v1/batches", json: body, headers: key)
                        let answers = try await [first, second]
                        let answered = answers.compactMap { $0.body["id"]?.stringValue }
                        // Both answer 201 with the one job (the later one as a replay, with Idempotent-Replayed).
                        #expect(answers.map(\.status) == [201, 201], "round \(round): \(answers.map(\.status))")
                        #expect(answered.count == 2 && answered[0] == answered[1], "round \(round): \(answered)")
                        ids.formUnion(answered)
                    }
                    #expect(ids.count == 100)
                    // Exactly those 100 jobs are stored.
                    let listed = try await Self.send(transport, "GET", replicas[1] + "/v1/batches?limit=100")
                    let stored = Set((listed.body["data"]?.arrayValue ?? []).compactMap { $0["id"]?.stringValue })
                    #expect(stored == ids)
                }
            }
        }
    }

    @Test func aChangeThroughOneReplicaIsShownByTheOtherAtOnce() async throws {
        try await CurlHTTPClient.withClient { transport in
            // Ten documents a second apart: the job is running long enough to be paused.
            let configuration = TaggerSimulator.Configuration(token: "tagger-token", scenario: .init(documentInterval: .seconds(1)))
            try await withTaggerSimulator(configuration) { taggerURL, _ in
                try await Self.withReplicas(
                    2,
                    providers: "  tagger: {kind: doc-tagging-ws, base_url: \"\(taggerURL)\", token: tagger-token}",
                    routes: "  tag-documents: {kind: document_tagging, targets: [{provider: tagger}]}"
                ) { replicas in
                    let (a, b) = (replicas[0], replicas[1])
                    for replica in replicas {
                        try await GatewayHarness.Client(baseURL: replica, apiKey: "key-acme", transport: transport).waitUntilReady()
                    }
                    let documents = (0..<10).map {
                        #"{"title": "Document \#($0)", "file_path": "https://files.example/\#($0).pdf", "file_source_type": "url"}"#
                    }
                    let created = try await Self.send(
                        transport,
                        "POST",
                        a + "/v1/batches",
                        json: #"{"route": "tag-documents", "input": {"documents": [\#(documents.joined(separator: ","))]}}"#
                    )
                    let id = try #require(created.body["id"]?.stringValue, "\(created)")
                    try await eventually("the job runs", timeout: .seconds(30)) {
                        try await Self.send(transport, "GET", b + "/v1/batches/\(id)").body["lifecycle_status"]?.stringValue == "running"
                    }
                    // B's events stream is open before the change: it records when each version arrives.
                    let arrivals = Locked<[(at: ContinuousClock.Instant, updatedAt: String)]>([])
                    let reader = Task {
                        let request = HTTPRequest(
                            url: b + "/v1/batches/\(id)/events",
                            headers: [("authorization", "Bearer key-acme"), ("accept", "text/event-stream")],
                            timeout: .seconds(30)
                        )
                        try await transport.stream(request) { parts in
                            var parser = ServerSentEventParser()
                            for try await part in parts {
                                guard case .body(let bytes) = part else { continue }
                                for case .event(let event) in parser.feed(bytes) {
                                    let data = try? JSONDecoder().decode(JSONValue.self, from: Data(event.data.utf8))
                                    if let updatedAt = data?["updated_at"]?.stringValue {
                                        arrivals.withLock { $0.append((.now, updatedAt)) }
                                    }
                                }
                            }
                        }
                    }
                    defer { reader.cancel() }
                    try await eventually("B's stream is open", timeout: .seconds(10)) { arrivals.withLock { !$0.isEmpty } }

                    let paused = try await Self.send(transport, "POST", a + "/v1/batches/\(id)/pause")
                    let changedAt = ContinuousClock.now
                    #expect(paused.status == 202, "\(paused)")
                    let version = try #require(paused.body["updated_at"]?.stringValue)
                    // B's GET shows A's change (its updated_at or a later one).
                    var shownAfter: Duration?
                    try await eventually("B's GET shows the change", timeout: .seconds(5), interval: .milliseconds(2)) {
                        let shown = try await Self.send(transport, "GET", b + "/v1/batches/\(id)").body
                        guard let at = shown["updated_at"]?.stringValue, at >= version else { return false }
                        shownAfter = changedAt.duration(to: .now)
                        return true
                    }
                    var streamedAfter: Duration?
                    try await eventually("B's stream shows the change", timeout: .seconds(5), interval: .milliseconds(2)) {
                        guard let arrival = arrivals.withLock({ $0.first { $0.updatedAt >= version } }) else { return false }
                        streamedAfter = changedAt.duration(to: arrival.at)
                        return true
                    }
                    let getDelay = try #require(shownAfter)
                    let streamDelay = try #require(streamedAfter)
                    print("replica B showed A's change: GET after \(getDelay), events stream after \(streamDelay)")
                    #expect(getDelay < .milliseconds(100), "B's GET showed A's change after \(getDelay)")
                    #expect(streamDelay < .milliseconds(100), "B's events stream showed A's change after \(streamDelay)")
                }
            }
        }
    }
}
