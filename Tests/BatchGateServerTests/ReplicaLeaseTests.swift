import BatchGateCore
import BatchGateSimulators
import BatchGateTransport
import Foundation
import Testing

/// Two `batchgate serve` processes on one SQLite file share the work through job leases in the store: each
/// active job is polled by one of them at a time, and when one is killed the other takes its jobs over.
@Suite(.serialized, .timeLimit(.minutes(3)))
struct ReplicaLeaseTests {
    @Test func twoReplicasPollEachJobOnceAndOneTakesOverWhenTheOtherIsKilled() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("bg-replicas-\(Identifier.secret(byteCount: 6))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }

        // Batches stay queued upstream for 25 s, then finish quickly: long enough to see who polls them and
        // for the survivor to take over after the kill (a lease lasts 15 s).
        let scenario = AirOpsSimulator.Scenario(
            queueDelay: .seconds(25),
            scrapingDuration: .milliseconds(300),
            analyzingDuration: .milliseconds(100),
            enrichingDuration: .milliseconds(300)
        )
        try await CurlHTTPClient.withClient { transport in
            try await withAirOpsSimulator(.init(token: "vendor-token", scenario: scenario), transport: transport) { vendorURL, simulator in
                let vendorPort = try #require(URL(string: vendorURL)?.port)
                let database = directory.appendingPathComponent("gateway.sqlite").path
                // The replicas address the vendor by different names, so the vendor can tell their polls apart.
                let hosts = ["127.0.0.1:\(vendorPort)", "localhost:\(vendorPort)"]
                var ports: [Int] = []
                var configs: [String] = []
                for (index, host) in hosts.enumerated() {
                    let port = try LoopbackPort.reserve()
                    ports.append(port)
                    let config = directory.appendingPathComponent("replica-\(index).yaml").path
                    try """
                    server: {listen: "127.0.0.1:\(port)", public_url: "http://127.0.0.1:\(port)"}
                    store: {sqlite: "\(database)"}
                    auth:
                      api_keys: [{tenant: acme, key: key-acme}]
                    providers:
                      airops: {kind: olostep-airops, base_url: "http://\(host)/", token: vendor-token, poll_interval: 300ms, timeout: 5s}
                    routes:
                      scrape: {kind: url_batch, targets: [{provider: airops}]}
                    """.write(toFile: config, atomically: true, encoding: .utf8)
                    configs.append(config)
                }
                let clients = ports.map { GatewayHarness.Client(baseURL: "http://127.0.0.1:\($0)", apiKey: "key-acme", transport: transport) }
                var first: CrashRecoveryTests.GatewayProcess? = try CrashRecoveryTests.GatewayProcess(config: configs[0])
                let second = try CrashRecoveryTests.GatewayProcess(config: configs[1])
                defer { second.terminate() }
                for client in clients { try await client.waitUntilReady() }

                // Six jobs through each replica.
                var ids: [String] = []
                for index in 0..<12 {
                    let urls: [JSONValue] = [.string("https://example.com/\(index)/a"), .string("https://example.com/\(index)/b")]
                    let created = try await clients[index % 2].call(
                        "POST",
                        "/v1/batches",
                        json: ["route": "scrape", "input": ["urls": .array(urls)]]
                    )
                    #expect(created.status == 201)
                    ids.append(try #require(created.body["id"]?.stringValue))
                }
                var batchIDs: [String: String] = [:]
                try await eventually("every job upstream", timeout: .seconds(30)) {
                    for id in ids where batchIDs[id] == nil {
                        batchIDs[id] = try await clients[1].call("GET", "/v1/batches/\(id)").body["provider_batch_id"]?.stringValue
                    }
                    return batchIDs.count == ids.count
                }
                // Some polls of every job, then one replica dies.
                try await eventually("three polls of every job", timeout: .seconds(30)) {
                    let polled = simulator.receivedRequests().filter { $0.route == AirOpsSimulator.Route.get }
                    return batchIDs.values.allSatisfy { batch in polled.filter { $0.path.hasSuffix("/\(batch)") }.count >= 3 }
                }
                first?.kill9()
                first = nil
                let killedAt = ContinuousClock.now

                for id in ids {
                    let batch = try await clients[1].waitUntilCompleted(id, timeout: .seconds(60))
                    #expect(batch["progress"]?["succeeded"]?.intValue == 2, "\(batch)")
                }

                let polls = simulator.receivedRequests().filter { $0.route == AirOpsSimulator.Route.get }
                var takenOver = 0
                var takeover: Duration?
                for (id, batch) in batchIDs {
                    let own = polls.filter { $0.path.hasSuffix("/\(batch)") }
                    let before = own.filter { $0.at < killedAt }
                    // While both ran, one replica polled the job.
                    #expect(Set(before.map(\.host)).count == 1, "\(id) was polled by \(Set(before.map(\.host))) at once")
                    // After the kill the survivor alone polled it; the killed one's jobs moved over once. (Polls the
                    // killed replica sent just before it died may reach a loaded simulator a little later.)
                    let after = own.filter { $0.at > killedAt + .seconds(5) }
                    #expect(after.allSatisfy { $0.host == hosts[1] }, "\(id) polled after the kill by \(Set(after.map(\.host)))")
                    if before.first?.host == hosts[0], let firstAfter = own.first(where: { $0.at > killedAt && $0.host == hosts[1] }) {
                        takenOver += 1
                        let waited = killedAt.duration(to: firstAfter.at)
                        takeover = max(takeover ?? .zero, waited)
                    }
                }
                #expect(takenOver >= 1, "the killed replica held some jobs")
                print("replica takeover: \(takenOver) jobs polled by the survivor at most \(takeover ?? .zero) after the kill (lease 15 s)")
            }
        }
    }
}
