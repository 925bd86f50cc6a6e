import BatchGateCore
import BatchGateSimulators
import BatchGateTransport
import Foundation
import Testing

/// Kills `batchgate serve` with SIGKILL while it observes tagger jobs, and starts it again on the same
/// SQLite file: every running job is observed again and ends with every row once.
@Suite(.serialized, .timeLimit(.minutes(3)))
struct TaggerCrashRecoveryTests {
    @Test func sigkillWhileObservingResumesEveryJob() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("bg-crash-\(Identifier.secret(byteCount: 6))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }

        // 30 documents take the vendor 6 s per job: still running when the gateway is killed on a loaded machine.
        let scenario = TaggerSimulator.Scenario(documentInterval: .milliseconds(200), failEvery: 5)
        try await CurlHTTPClient.withClient { transport in
            try await withTaggerSimulator(.init(token: "vendor-token", scenario: scenario, keepaliveInterval: .milliseconds(500))) {
                taggerURL,
                simulator in
                let port = try LoopbackPort.reserve()
                let config = directory.appendingPathComponent("providers.yaml").path
                try """
                server: {listen: "127.0.0.1:\(port)", public_url: "http://127.0.0.1:\(port)"}
                store: {sqlite: "\(directory.appendingPathComponent("gateway.sqlite").path)"}
                auth:
                  api_keys: [{tenant: acme, key: key-acme}]
                providers:
                  tagger: {kind: doc-tagging-ws, base_url: "\(taggerURL)", token: vendor-token, keepalive_interval: 500ms, poll_interval: 300ms, timeout: 5s}
                routes:
                  tag: {kind: document_tagging, targets: [{provider: tagger}]}
                """.write(toFile: config, atomically: true, encoding: .utf8)

                let gateway = GatewayHarness.Client(baseURL: "http://127.0.0.1:\(port)", apiKey: "key-acme", transport: transport)
                var first: CrashRecoveryTests.GatewayProcess? = try CrashRecoveryTests.GatewayProcess(config: config)
                try await gateway.waitUntilReady()
                var ids: [String] = []
                for job in 0..<3 {
                    let documents: [JSONValue] = (0..<30).map {
                        ["title": .string("Job \(job) doc \($0)"), "file_path": .string("s3://bucket/\(job)/\($0).pdf"), "file_source_type": "s3"]
                    }
                    let created = try await gateway.call("POST", "/v1/batches", json: ["route": "tag", "input": ["documents": .array(documents)]])
                    #expect(created.status == 201)
                    ids.append(try #require(created.body["id"]?.stringValue))
                }
                try await eventually("rows stored for every job", timeout: .seconds(20)) {
                    for id in ids where (try await gateway.call("GET", "/v1/batches/\(id)").body["progress"]?["succeeded"]?.intValue ?? 0) < 3 {
                        return false
                    }
                    return true
                }

                first?.kill9()
                first = nil
                // The vendor goes on while the gateway is down.
                let atKill = ids.map { simulator.jobStatus($0).map { $0.processed + $0.failed } ?? 0 }
                try await eventually("the vendor tagging more documents while the gateway is down", timeout: .seconds(20)) {
                    zip(ids, atKill).allSatisfy { id, done in
                        (simulator.jobStatus(id).map { $0.processed + $0.failed } ?? 0) >= min(done + 2, 30)
                    }
                }

                let second = try CrashRecoveryTests.GatewayProcess(config: config)
                defer { second.terminate() }
                try await gateway.waitUntilReady()
                for id in ids {
                    let batch = try await gateway.waitUntilCompleted(id, timeout: .seconds(40))
                    #expect(batch["progress"]?["total"]?.intValue == 30)
                    #expect(batch["progress"]?["failed"]?.intValue == 6)
                    #expect(batch["progress"]?["succeeded"]?.intValue == 24)
                    let rows = try await gateway.call("GET", "/v1/batches/\(id)/results?limit=100").body["data"]?.arrayValue ?? []
                    #expect(rows.count == 30)
                    #expect(Set(rows.compactMap { $0["index"]?.intValue }) == Set(0..<30))
                }
                #expect(simulator.jobIDs().count == 3, "no job was started twice")
            }
        }
    }
}
