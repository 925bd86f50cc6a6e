import BatchGateCore
import BatchGateSimulators
import BatchGateTestSupport
import BatchGateTransport
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Runs the real `batchgate serve` binary, kills it with SIGKILL mid-batch and restarts it on the same
/// SQLite file: the batch must still end right, with what the vendor sent meanwhile recovered by polling.
@Suite(.serialized, .timeLimit(.minutes(3)))
struct CrashRecoveryTests {
    /// The `batchgate` executable built beside the test bundle.
    static var binary: String {
        if let path = ProcessInfo.processInfo.environment["BATCHGATE_BINARY"] { return path }
        var directory = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        if directory.lastPathComponent == "MacOS" || directory.pathExtension == "xctest" {
            directory = directory.deletingLastPathComponent()
        }
        return directory.appendingPathComponent("batchgate").path
    }

    final class GatewayProcess {
        let process: ChildProcess

        init(config: String) throws {
            process = try ChildProcess(
                executable: CrashRecoveryTests.binary,
                arguments: ["serve", "--config", config],
                environment: ["LOG_LEVEL": "warning", "PATH": "/usr/bin:/bin"]
            )
        }

        func kill9() {
            process.signal(SIGKILL)
            process.waitUntilExit()
        }

        /// SIGTERM (a graceful shutdown), then waits for the end.
        func terminate() {
            guard process.isRunning else { return }
            process.signal(SIGTERM)
            process.waitUntilExit()
        }

        /// Ended by exiting (with any code), not by a signal.
        var exited: Bool { process.exitCode != nil }
    }

    @Test func sigkillMidBatchLosesNothing() async throws {
        #expect(FileManager.default.isExecutableFile(atPath: Self.binary), "build the batchgate product first: \(Self.binary)")
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("bg-crash-\(Identifier.secret(byteCount: 6))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }

        let scenario = AirOpsSimulator.Scenario(
            scrapingDuration: .milliseconds(1500),
            analyzingDuration: .milliseconds(300),
            enrichingDuration: .milliseconds(1500)
        )
        try await CurlHTTPClient.withClient { transport in
            try await withAirOpsSimulator(.init(token: "vendor-token", scenario: scenario), transport: transport) { vendorURL, simulator in
                let port = try LoopbackPort.reserve()
                let config = directory.appendingPathComponent("providers.yaml").path
                try """
                server: {listen: "127.0.0.1:\(port)", public_url: "http://127.0.0.1:\(port)"}
                store: {sqlite: "\(directory.appendingPathComponent("gateway.sqlite").path)"}
                auth:
                  api_keys: [{tenant: acme, key: key-acme}]
                providers:
                  airops: {kind: olostep-airops, base_url: "\(vendorURL)", token: vendor-token, poll_interval: 300ms, timeout: 5s}
                routes:
                  scrape: {kind: url_batch, targets: [{provider: airops}]}
                """.write(toFile: config, atomically: true, encoding: .utf8)

                let gateway = GatewayHarness.Client(baseURL: "http://127.0.0.1:\(port)", apiKey: "key-acme", transport: transport)
                var first: GatewayProcess? = try GatewayProcess(config: config)
                try await gateway.waitUntilReady()
                let urls = (0..<20).map { $0 % 7 == 6 ? "https://example.com/fail/\($0)" : "https://example.com/doc/\($0)" }
                let created = try await gateway.call(
                    "POST",
                    "/v1/batches",
                    json: ["route": "scrape", "input": ["urls": .array(urls.map(JSONValue.string))]]
                )
                #expect(created.status == 201)
                let id = try #require(created.body["id"]?.stringValue)
                try await eventually("the batch running upstream", timeout: .seconds(20)) {
                    try await gateway.call("GET", "/v1/batches/\(id)").body["lifecycle_status"]?.stringValue == "running"
                }

                first?.kill9()
                first = nil
                // While the gateway is down the vendor finishes; its webhooks to the dead gateway fail.
                try await eventually("the vendor finishing while the gateway is down", timeout: .seconds(30)) {
                    simulator.sentWebhooks().contains { $0.eventType == "event.batch.airops.completed" }
                }
                #expect(simulator.sentWebhooks().contains { $0.outcome == .failed }, "some webhooks were lost while down")

                let second = try GatewayProcess(config: config)
                defer { second.terminate() }
                try await gateway.waitUntilReady()
                let batch = try await gateway.waitUntilCompleted(id)
                #expect(batch["progress"]?["total"]?.intValue == 20)
                #expect(batch["progress"]?["failed"]?.intValue == 2)
                #expect(batch["progress"]?["succeeded"]?.intValue == 18)
                let results = try await gateway.call("GET", "/v1/batches/\(id)/results?limit=100").body["data"]?.arrayValue ?? []
                #expect(results.count == 20)
                #expect(results.filter { $0["status"]?.stringValue == "failed" }.count == 2)
            }
        }
    }

    /// The completion is queued with the state change while the receiver is down; the gateway is killed
    /// before it could deliver; after a restart the event is sent, once.
    @Test func sigkillBeforeTheWebhookIsSentDeliversItOnceAfterRestart() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("bg-crash-\(Identifier.secret(byteCount: 6))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let scenario = AirOpsSimulator.Scenario(scrapingDuration: .milliseconds(200), enrichingDuration: .milliseconds(200))
        try await CurlHTTPClient.withClient { transport in
            try await withAirOpsSimulator(.init(token: "vendor-token", scenario: scenario), transport: transport) { vendorURL, _ in
                let port = try LoopbackPort.reserve()
                let receiverPort = try LoopbackPort.reserve()  // nothing listens there yet
                let config = directory.appendingPathComponent("providers.yaml").path
                try """
                server: {listen: "127.0.0.1:\(port)", public_url: "http://127.0.0.1:\(port)"}
                store: {sqlite: "\(directory.appendingPathComponent("gateway.sqlite").path)"}
                auth:
                  api_keys: [{tenant: acme, key: key-acme}]
                webhooks: {max_attempts: 50, initial_backoff: 200ms, max_backoff: 400ms, timeout: 10s, allow_insecure_loopback: true}
                providers:
                  airops: {kind: olostep-airops, base_url: "\(vendorURL)", token: vendor-token, poll_interval: 200ms, timeout: 5s}
                routes:
                  scrape: {kind: url_batch, targets: [{provider: airops}]}
                """.write(toFile: config, atomically: true, encoding: .utf8)
                let gateway = GatewayHarness.Client(baseURL: "http://127.0.0.1:\(port)", apiKey: "key-acme", transport: transport)
                var first: GatewayProcess? = try GatewayProcess(config: config)
                try await gateway.waitUntilReady()
                let created = try await gateway.call(
                    "POST",
                    "/v1/batches",
                    json: [
                        "route": "scrape", "input": ["urls": ["https://example.com/a"]],
                        "webhook": ["url": .string("http://127.0.0.1:\(receiverPort)/hook"), "events": ["batch.completed"]],
                    ]
                )
                let id = try #require(created.body["id"]?.stringValue)
                try await eventually("the completion queued and failing", timeout: .seconds(20)) {
                    let batch = try await gateway.call("GET", "/v1/batches/\(id)").body
                    return batch["lifecycle_status"]?.stringValue == "completed"
                        && (batch["webhook"]?["delivery"]?["total_attempts"]?.intValue ?? 0) >= 1
                }
                first?.kill9()
                first = nil

                try await withWebhookRecorder(port: receiverPort) { _, recorder in
                    let second = try GatewayProcess(config: config)
                    defer { second.terminate() }
                    try await gateway.waitUntilReady()
                    try await eventually("the completion delivered after restart", timeout: .seconds(20)) {
                        try await gateway.call("GET", "/v1/batches/\(id)").body["webhook"]?["delivery"]?["delivered_events"]?.intValue == 1
                    }
                    let completions = recorder.received().filter {
                        String(decoding: $0.body, as: UTF8.self).contains(#""key":"batch.completed""#)
                    }
                    // Delivery is at least once: an attempt whose 2xx comes back after the attempt timeout (a
                    // loaded machine) is sent again, always as the same event. So: one event id, and with a
                    // timeout far above any loopback answer, one copy.
                    #expect(Set(completions.compactMap { $0.headers["webhook-id"] }).count == 1, "one event, one webhook id")
                    #expect(completions.count == 1, "delivered once")
                }
            }
        }
    }
}
