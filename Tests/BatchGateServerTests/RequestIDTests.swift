import BatchGateCore
import BatchGateServer
import BatchGateSimulators
import BatchGateTestSupport
import BatchGateTransport
import Foundation
import Logging
import Testing

/// `X-Request-Id`: the client's is kept, a bad or missing one replaced by a new `req_…` id, echoed on
/// every answer (errors too), and carried by the log lines of the request.
@Suite(.timeLimit(.minutes(1)))
struct RequestIDTests {
    /// Starts `batchgate serve` at debug level on a new SQLite file, with `server` settings added.
    static func serve(_ extraServer: String = "") throws -> (process: ChildProcess, port: Int, directory: URL) {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("bg-reqid-\(Identifier.secret(byteCount: 6))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let port = try LoopbackPort.reserve()
        let config = directory.appendingPathComponent("providers.yaml").path
        try """
        server: {listen: "127.0.0.1:\(port)", public_url: "http://127.0.0.1:\(port)"\(extraServer)}
        store: {sqlite: "\(directory.appendingPathComponent("gateway.sqlite").path)"}
        auth:
          api_keys: [{tenant: acme, key: key-acme}]
        providers:
          airops: {kind: olostep-airops, base_url: "http://127.0.0.1:9", token: t}
        routes:
          scrape: {kind: url_batch, targets: [{provider: airops}]}
        """.write(toFile: config, atomically: true, encoding: .utf8)
        let process = try ChildProcess(
            executable: CrashRecoveryTests.binary,
            arguments: ["serve", "--config", config],
            environment: ["LOG_LEVEL": "debug", "PATH": "/usr/bin:/bin"]
        )
        return (process, port, directory)
    }

    @Test func requestIDsAreEchoedAndLogged() async throws {
        let (process, port, directory) = try Self.serve()
        defer { try? FileManager.default.removeItem(at: directory) }
        try await CurlHTTPClient.withClient { transport in
            let base = "http://127.0.0.1:\(port)"
            try await GatewayHarness.Client(baseURL: base, apiKey: "key-acme", transport: transport).waitUntilReady()
            func requestID(_ path: String, sending id: String?, key: String? = nil) async throws -> (status: Int, id: String?) {
                var headers: [(name: String, value: String)] = []
                if let id { headers.append(("X-Request-Id", id)) }
                if let key { headers.append(("Authorization", "Bearer \(key)")) }
                let response = try await transport.send(HTTPRequest(url: base + path, headers: headers, timeout: .seconds(5)))
                return (response.status, response.headers.first { $0.name.lowercased() == "x-request-id" }?.value)
            }
            #expect(try await requestID("/healthz", sending: "client-id_1.a:b") == (200, "client-id_1.a:b"))
            let unauthorized = try await requestID("/v1/batches", sending: "unauthorized-call")
            #expect(unauthorized == (401, "unauthorized-call"), "an error answer echoes it too")
            let missing = try await requestID("/v1/batches/bat_00000000000000000000000000", sending: "quiet-404", key: "key-acme")
            #expect(missing == (404, "quiet-404"))
            let replaced = try await requestID("/healthz", sending: "has spaces and !", key: nil)
            #expect(replaced.id?.hasPrefix("req_") == true, "a bad id is replaced: \(replaced)")
            let generated = try await requestID("/nowhere", sending: nil)
            #expect(generated.status == 404 && generated.id?.hasPrefix("req_") == true, "\(generated)")
        }
        process.signal(SIGTERM)
        _ = process.waitUntilExit()
        let (_, stderr) = process.output()
        let lines = stderr.split(separator: "\n")
        #expect(lines.contains { $0.contains("request_id=client-id_1.a:b") && $0.contains("status=200") && $0.contains("path=/healthz") })
        #expect(lines.contains { $0.contains("request_id=unauthorized-call") && $0.contains("status=401") })
    }

    @Test func jsonLogLinesAreOneObjectEachWithTheRequestID() async throws {
        let (process, port, directory) = try Self.serve(", log_format: json")
        defer { try? FileManager.default.removeItem(at: directory) }
        try await CurlHTTPClient.withClient { transport in
            let base = "http://127.0.0.1:\(port)"
            try await GatewayHarness.Client(baseURL: base, apiKey: "key-acme", transport: transport).waitUntilReady()
            let quoted = #"a "quoted"\path"#.addingPercentEncoding(withAllowedCharacters: .urlPathAllowed) ?? ""
            _ = try await transport.send(HTTPRequest(url: base + "/healthz", headers: [("X-Request-Id", "json-1")], timeout: .seconds(5)))
            _ = try await transport.send(HTTPRequest(url: base + "/v1/" + quoted, headers: [("X-Request-Id", "json-2")], timeout: .seconds(5)))
            let listed = try await transport.send(
                HTTPRequest(
                    url: base + "/v1/batches",
                    headers: [("X-Request-Id", "json-3"), ("Authorization", "Bearer key-acme")],
                    timeout: .seconds(5)
                )
            )
            #expect(listed.status == 200)
        }
        process.signal(SIGTERM)
        _ = process.waitUntilExit()
        let stderr = process.output().stderr
        #expect(!stderr.contains("key-acme"), "the API key never reaches the logs")
        let lines = stderr.split(separator: "\n").map(String.init)
        #expect(!lines.isEmpty)
        var objects: [[String: String]] = []
        for line in lines {
            guard let object = try? JSONDecoder().decode([String: String].self, from: Data(line.utf8)) else {
                Issue.record("not one JSON object of strings: \(line)")
                continue
            }
            #expect(object["ts"] != nil && object["level"] != nil && object["message"] != nil && object["label"] == "batchgate")
            objects.append(object)
        }
        #expect(objects.contains { $0["request_id"] == "json-1" && $0["path"] == "/healthz" && $0["status"] == "200" })
        #expect(objects.contains { $0["request_id"] == "json-2" && $0["status"] == "404" })
        #expect(objects.contains { $0["request_id"] == "json-3" && $0["status"] == "200" })
    }
}

/// The log scope's metadata: a job turn's lines name the job and its provider, a request's its id.
@Suite struct LogScopeTests {
    @Test func scopesAddTheirMetadata() async {
        #expect(LogScope.metadataProvider.get().isEmpty)
        await LogScope.$requestID.withValue("req-7") {
            await LogScope.withJob("bat_01", provider: "airops") {
                let metadata = LogScope.metadataProvider.get()
                #expect(metadata["request_id"] == "req-7")
                #expect(metadata["job"] == "bat_01")
                #expect(metadata["provider"] == "airops")
            }
        }
    }
}
