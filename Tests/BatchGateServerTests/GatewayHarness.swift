import BatchGateCore
import BatchGateServer
import BatchGateSimulators
import BatchGateTransport
import Foundation
import Logging
import ServiceLifecycle
import Testing

/// A gateway running in this process against a loopback AirOps simulator, on a fresh SQLite file.
struct GatewayHarness: Sendable {
    let baseURL: String
    let apiKey = "key-acme"
    let otherTenantKey = "key-globex"
    let simulator: AirOpsSimulator
    let aitronos: AitronosSimulator
    let tagger: TaggerSimulator
    let transport: CurlHTTPClient
    let databasePath: String
    /// Every route the gateway's HTTP server answers (`METHOD /path/{parameter}`).
    var routes: [String] = []

    static let vendorToken = "vendor-token"
    /// Quiet, unless `BATCHGATE_TEST_LOG` names a level (`debug`, `info`, ...): then to standard error.
    static let logger: Logger = {
        guard let level = ProcessInfo.processInfo.environment["BATCHGATE_TEST_LOG"].flatMap(Logger.Level.init(rawValue:)) else {
            return Logger(label: "test") { _ in SwiftLogNoOpLogHandler() }
        }
        var logger = Logger(label: "test") { label in StreamLogHandler.standardError(label: label) }
        logger.logLevel = level
        return logger
    }()

    /// The configuration the harness runs with; also written to disk for the process-level tests.
    /// Fast retries, loopback receivers allowed.
    static let testWebhooks = WebhookSettings(
        maxAttempts: 5,
        initialBackoff: .milliseconds(100),
        maxBackoff: .milliseconds(400),
        timeout: .seconds(2),
        allowInsecureLoopback: true
    )

    static func configuration(
        port: Int,
        vendorURL: String,
        aitronosURL: String,
        taggerURL: String = "http://127.0.0.1:9",
        databasePath: String,
        pollInterval: Duration,
        webhooks: WebhookSettings = testWebhooks,
        vendorTimeout: Duration = .seconds(5),
        tagger: TaggerSettings = TaggerSettings()
    ) -> GatewayConfiguration {
        GatewayConfiguration(
            server: .init(host: "127.0.0.1", port: port, publicURL: "http://127.0.0.1:\(port)", maxBodyBytes: 64 * 1024),
            store: .sqlite(path: databasePath),
            apiKeys: [.init(tenant: "acme", key: "key-acme"), .init(tenant: "globex", key: "key-globex")],
            webhooks: webhooks,
            providers: [
                .init(
                    name: "airops",
                    kind: "olostep-airops",
                    baseURL: vendorURL,
                    pollInterval: pollInterval,
                    timeout: vendorTimeout,
                    options: ["token": .string(vendorToken)]
                ),
                .init(
                    name: "aitronos",
                    kind: "aitronos-scrape",
                    baseURL: aitronosURL,
                    pollInterval: pollInterval,
                    timeout: vendorTimeout,
                    options: ["api_key": .string(vendorToken), "default_schema": .json(defaultSchema)]
                ),
                // The same Aitronos account without a default schema: inputs without one cannot go there.
                .init(
                    name: "aitronos-strict",
                    kind: "aitronos-scrape",
                    baseURL: aitronosURL,
                    pollInterval: pollInterval,
                    timeout: vendorTimeout,
                    options: ["api_key": .string(vendorToken)]
                ),
                .init(
                    name: "tagger",
                    kind: "doc-tagging-ws",
                    baseURL: taggerURL,
                    pollInterval: tagger.pollInterval,
                    timeout: .seconds(5),
                    options: [
                        "token": .string(tagger.token ?? vendorToken), "token_in": .string(tagger.tokenIn),
                        "keepalive_interval": .duration(tagger.keepalive),
                    ]
                ),
                // A second account at the same tagger, to migrate document jobs to.
                .init(
                    name: "tagger-b",
                    kind: "doc-tagging-ws",
                    baseURL: taggerURL,
                    pollInterval: tagger.pollInterval,
                    timeout: .seconds(5),
                    options: ["token": .string(vendorToken), "token_in": .string("header"), "keepalive_interval": .duration(tagger.keepalive)]
                ),
            ],
            routes: [
                .init(name: "scrape", kind: .urlBatch, targets: [.init(provider: "airops")]),
                .init(name: "scrape-aitronos", kind: .urlBatch, targets: [.init(provider: "aitronos")]),
                .init(name: "split", kind: .urlBatch, targets: [.init(provider: "airops", weight: 50), .init(provider: "aitronos", weight: 50)]),
                .init(name: "with-fallback", kind: .urlBatch, targets: [.init(provider: "airops")], fallback: ["aitronos"]),
                .init(name: "tag-documents", kind: .documentTagging, targets: [.init(provider: "tagger")]),
            ]
        )
    }

    /// The `default_schema` of the harness's `aitronos` provider.
    static let defaultSchema: JSONValue = ["type": "object", "properties": ["headline": ["type": "string"]]]

    /// How the gateway talks to the tagger simulator.
    struct TaggerSettings: Sendable {
        /// The token the gateway sends; nil: the simulator's own.
        var token: String?
        var tokenIn = "query"
        /// The simulator's keepalive period, and the gateway's idea of it.
        var keepalive: Duration = .milliseconds(300)
        var pollInterval: Duration = .milliseconds(300)
        var scenario = TaggerSimulator.Scenario(documentInterval: .milliseconds(20))
        var faults = TaggerFaults()
    }

    /// Runs `body` with a gateway and a simulator; stops both afterwards.
    static func run(
        scenario: AirOpsSimulator.Scenario = .init(),
        faults: AirOpsFaults = .init(),
        pollInterval: Duration = .milliseconds(300),
        webhooks: WebhookSettings = testWebhooks,
        aitronosURLDuration: Duration = .milliseconds(20),
        aitronosFaults: AitronosFaults = AitronosFaults(),
        vendorTimeout: Duration = .seconds(5),
        tagger taggerSettings: TaggerSettings = TaggerSettings(),
        _ body: (GatewayHarness) async throws -> Void
    ) async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("bg-test-\(Identifier.secret(byteCount: 6))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let databasePath = directory.appendingPathComponent("gateway.sqlite").path
        try await CurlHTTPClient.withClient { transport in
            try await withAirOpsSimulator(
                .init(token: vendorToken, scenario: scenario, faults: faults),
                transport: transport,
                logger: logger
            ) { vendorURL, simulator in
                try await withAitronosSimulator(
                    .init(apiKey: vendorToken, perURLDuration: aitronosURLDuration, parallelJobs: 10, faults: aitronosFaults),
                    logger: logger
                ) { aitronosURL, aitronos in
                    try await withTaggerSimulator(
                        .init(
                            token: vendorToken,
                            scenario: taggerSettings.scenario,
                            faults: taggerSettings.faults,
                            keepaliveInterval: taggerSettings.keepalive
                        ),
                        logger: logger
                    ) { taggerURL, tagger in
                        let port = try LoopbackPort.reserve()
                        let configuration = configuration(
                            port: port,
                            vendorURL: vendorURL,
                            aitronosURL: aitronosURL,
                            taggerURL: taggerURL,
                            databasePath: databasePath,
                            pollInterval: pollInterval,
                            webhooks: webhooks,
                            vendorTimeout: vendorTimeout,
                            tagger: taggerSettings
                        )
                        let gateway = try await Gateway.make(configuration: configuration, transport: transport, logger: logger)
                        let services = ServiceGroup(services: gateway.services, logger: logger)
                        try await withThrowingTaskGroup(of: Void.self) { group in
                            group.addTask { try await services.run() }
                            let harness = GatewayHarness(
                                baseURL: "http://127.0.0.1:\(port)",
                                simulator: simulator,
                                aitronos: aitronos,
                                tagger: tagger,
                                transport: transport,
                                databasePath: databasePath,
                                routes: gateway.routes
                            )
                            do {
                                try await harness.waitUntilReady()
                                try await body(harness)
                            } catch {
                                await services.triggerGracefulShutdown()
                                throw error
                            }
                            await services.triggerGracefulShutdown()
                            try await group.waitForAll()
                        }
                    }
                }
            }
        }
    }

    var client: Client { Client(baseURL: baseURL, apiKey: apiKey, transport: transport) }

    /// One API call; returns the status and the decoded JSON body.
    func call(
        _ method: String,
        _ path: String,
        key: String? = nil,
        json: JSONValue? = nil,
        raw: [UInt8]? = nil,
        headers extra: [(name: String, value: String)] = []
    ) async throws -> (status: Int, body: JSONValue, response: HTTPResponse) {
        var headers = extra
        if let key = key ?? Optional(apiKey), !key.isEmpty { headers.append(("authorization", "Bearer \(key)")) }
        var body = raw
        if let json {
            body = [UInt8](try JSONEncoder().encode(json))
        }
        if body != nil { headers.append(("content-type", "application/json")) }
        let response = try await transport.send(
            HTTPRequest(method: method, url: baseURL + path, headers: headers, body: body, timeout: .seconds(10))
        )
        let value = (try? JSONDecoder().decode(JSONValue.self, from: Data(response.body))) ?? .null
        return (response.status, value, response)
    }

    func waitUntilReady() async throws { try await client.waitUntilReady() }

    /// A client of a gateway's API, in this process or another.
    struct Client: Sendable {
        let baseURL: String
        let apiKey: String
        let transport: CurlHTTPClient

        func call(_ method: String, _ path: String, json: JSONValue? = nil) async throws -> (status: Int, body: JSONValue) {
            var headers: [(name: String, value: String)] = [("authorization", "Bearer \(apiKey)")]
            var body: [UInt8]?
            if let json {
                body = [UInt8](try JSONEncoder().encode(json))
                headers.append(("content-type", "application/json"))
            }
            let response = try await transport.send(
                HTTPRequest(method: method, url: baseURL + path, headers: headers, body: body, timeout: .seconds(10))
            )
            return (response.status, (try? JSONDecoder().decode(JSONValue.self, from: Data(response.body))) ?? .null)
        }

        /// Waits until the batch is `completed` and returns it.
        func waitUntilCompleted(_ id: String, timeout: Duration = .seconds(60)) async throws -> JSONValue {
            var batch = JSONValue.null
            try await eventually("batch \(id) completed", timeout: timeout) {
                batch = try await call("GET", "/v1/batches/\(id)").body
                return batch["lifecycle_status"]?.stringValue == "completed"
            }
            return batch
        }

        func waitUntilReady() async throws {
            try await eventually("gateway ready", timeout: .seconds(60)) {
                (try? await transport.send(HTTPRequest(url: baseURL + "/readyz", timeout: .seconds(1))))?.status == 200
            }
        }
    }

    /// Creates a url_batch on route `scrape`.
    func createBatch(
        urls: [String],
        customIDs: [String]? = nil,
        idempotencyKey: String? = nil,
        webhook: JSONValue? = nil,
        route: String = "scrape",
        schema: JSONValue? = nil,
        options: JSONValue? = nil
    ) async throws -> JSONValue {
        var input: [String: JSONValue] = ["urls": .array(urls.map(JSONValue.string))]
        if let customIDs { input["custom_ids"] = .array(customIDs.map(JSONValue.string)) }
        if let schema { input["schema"] = schema }
        if let options { input["options"] = options }
        let headers: [(name: String, value: String)] = idempotencyKey.map { [("Idempotency-Key", $0)] } ?? []
        var request: [String: JSONValue] = ["route": .string(route), "input": .object(input)]
        if let webhook { request["webhook"] = webhook }
        let (status, body, _) = try await call("POST", "/v1/batches", json: .object(request), headers: headers)
        #expect(status == 201, "create answered \(status): \(body)")
        return body
    }

    /// Polls the batch until it is terminal; returns every distinct lifecycle_status seen, in order.
    func waitForTerminal(_ id: String, timeout: Duration = .seconds(30)) async throws -> (batch: JSONValue, statuses: [String]) {
        var statuses: [String] = []
        var last = JSONValue.null
        try await eventually("batch \(id) terminal", timeout: timeout, interval: .milliseconds(30)) {
            guard let (status, body, _) = try? await call("GET", "/v1/batches/\(id)"), status == 200 else { return false }
            last = body
            let lifecycle = body["lifecycle_status"]?.stringValue ?? "?"
            if statuses.last != lifecycle { statuses.append(lifecycle) }
            return LifecycleStatus(rawValue: lifecycle)?.isTerminal == true
        }
        return (last, statuses)
    }
}

/// Waits until `condition` holds, checking every `interval`; fails the test after `timeout`. The defaults
/// are generous: a wait ends as soon as the condition holds, and a loaded machine must not fail a test.
func eventually(
    _ what: String,
    timeout: Duration = .seconds(30),
    interval: Duration = .milliseconds(20),
    _ condition: () async throws -> Bool
) async throws {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if try await condition() { return }
        try await Task.sleep(for: interval)
    }
    Issue.record("timed out waiting for \(what)")
    throw TimeoutError(what: what)
}

struct TimeoutError: Error, CustomStringConvertible {
    let what: String
    var description: String { "timed out waiting for \(what)" }
}
