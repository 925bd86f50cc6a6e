import BatchGateCore
import BatchGateSimulators
import BatchGateTestSupport
import BatchGateTransport
import BatchGateWebhooks
import Foundation
import Testing

/// `GET /openapi.yaml` against the gateway itself: every route of the router is documented (a method the
/// document leaves out of a documented path must be refused with 405), and real answers of an end-to-end
/// run, errors included, validate against the document with an independent validator (PyPI's
/// openapi-core, which also refuses a document that is not valid OpenAPI 3.1).
///
/// The validator's Python is `BATCHGATE_OPENAPI_PYTHON` (scripts/test.sh makes a virtual environment with
/// openapi-core). Without it the test is skipped with a note, unless `BATCHGATE_REQUIRE_OPENAPI=1` (CI).
@Suite(.timeLimit(.minutes(2)))
struct OpenAPITests {
    struct Exchange: Encodable {
        var method: String
        var path: String
        var query: [String: String]
        var status: Int
        var contentType: String
        var body: String

        enum CodingKeys: String, CodingKey { case method, path, query, status, contentType = "content_type", body }
    }

    static var validator: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("OpenAPI/validate.py")
    }

    @Test func everyRouteIsDocumentedAndRealAnswersValidate() async throws {
        let environment = ProcessInfo.processInfo.environment
        guard let python = environment["BATCHGATE_OPENAPI_PYTHON"], !python.isEmpty else {
            if environment["BATCHGATE_REQUIRE_OPENAPI"] == "1" {
                Issue.record("BATCHGATE_OPENAPI_PYTHON is not set, and BATCHGATE_REQUIRE_OPENAPI=1")
            } else {
                print("skipped: BATCHGATE_OPENAPI_PYTHON is not set (scripts/test.sh makes an environment with openapi-core)")
            }
            return
        }
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("bg-openapi-\(Identifier.secret(byteCount: 6))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }

        try await GatewayHarness.run(tagger: .init(scenario: .init(documentInterval: .milliseconds(300)))) { gateway in
            var exchanges: [Exchange] = []
            /// Sends a request and keeps its answer for the validator.
            @discardableResult
            func exchange(
                _ method: String,
                _ path: String,
                query: [String: String] = [:],
                json: JSONValue? = nil,
                raw: [UInt8]? = nil,
                key: String? = nil,
                headers: [(name: String, value: String)] = []
            ) async throws -> (status: Int, body: JSONValue) {
                let queryText = query.isEmpty ? "" : "?" + query.map { "\($0.key)=\($0.value)" }.sorted().joined(separator: "&")
                let (status, body, response) = try await gateway.call(method, path + queryText, key: key, json: json, raw: raw, headers: headers)
                let contentType = response.headers.first { $0.name.lowercased() == "content-type" }?.value ?? ""
                exchanges.append(
                    Exchange(
                        method: method,
                        path: path,
                        query: query,
                        status: status,
                        contentType: contentType,
                        body: String(decoding: response.body, as: UTF8.self)
                    )
                )
                return (status, body)
            }

            let document = try await gateway.transport.send(HTTPRequest(url: gateway.baseURL + "/openapi.yaml", timeout: .seconds(5)))
            #expect(document.status == 200)
            let documentPath = directory.appendingPathComponent("openapi.yaml").path
            try Data(document.body).write(to: URL(fileURLWithPath: documentPath))

            try await exchange("GET", "/healthz")
            try await exchange("GET", "/readyz")
            try await exchange("GET", "/metrics")
            try await withWebhookRecorder { recorderURL, _ in
                let webhook: JSONValue = ["url": .string(recorderURL + "/hooks"), "secret": .string(WebhookSecret.generate().encoded)]
                let urls: JSONValue = ["https://example.com/openapi/a", "https://example.com/openapi/b"]
                let created = try await exchange("POST", "/v1/batches", json: ["route": "scrape", "input": ["urls": urls], "webhook": webhook])
                let id = try #require(created.body["id"]?.stringValue)
                try await exchange("POST", "/v1/batches", json: ["route": "scrape"])
                try await exchange("POST", "/v1/batches", json: ["route": "scrape", "input": ["urls": urls]], key: "wrong-key")
                try await exchange(
                    "POST",
                    "/v1/batches",
                    raw: Array("route=scrape".utf8),
                    headers: [("content-type", "application/x-www-form-urlencoded")]
                )
                try await exchange("GET", "/v1/batches/\(id)")
                try await exchange("GET", "/v1/batches/bat_00000000000000000000000000")
                try await exchange("GET", "/v1/batches", query: ["limit": "5"])
                try await exchange("GET", "/v1/batches", query: ["lifecycle_status": "sleeping"])
                try await exchange("POST", "/v1/batches/\(id)/pause")
                #expect(try await gateway.waitForTerminal(id).statuses.last == "completed")
                try await eventually("the completion delivered", timeout: .seconds(30)) {
                    try await gateway.call("GET", "/v1/batches/\(id)").body["webhook"]?["delivery"]?["delivered_events"]?.intValue ?? 0 >= 1
                }
                try await exchange("GET", "/v1/batches/\(id)")
                try await exchange("GET", "/v1/batches/\(id)/results", query: ["limit": "1"])
                try await exchange("GET", "/v1/batches/\(id)/results", query: ["after": "-1"])
                try await exchange("GET", "/v1/batches/\(id)/deliveries")
                try await exchange("GET", "/v1/batches/\(id)/events")
                try await exchange("POST", "/v1/batches/\(id)/cancel")
                try await exchange("POST", "/v1/batches/\(id)/migrate", json: ["provider": "aitronos"])
            }
            let tagged = try await gateway.createTaggingBatch(documents: 20)
            let taggedID = try #require(tagged["id"]?.stringValue)
            try await eventually("the tagging batch runs", timeout: .seconds(20)) {
                try await gateway.call("GET", "/v1/batches/\(taggedID)").body["lifecycle_status"]?.stringValue == "running"
            }
            try await exchange("POST", "/v1/batches/\(taggedID)/pause")
            try await exchange("POST", "/v1/batches/\(taggedID)/resume")
            try await exchange("POST", "/v1/batches/\(taggedID)/migrate", json: ["provider": "tagger-b"])
            try await exchange("POST", "/v1/batches/\(taggedID)/cancel")
            try await exchange("POST", "/v1/providers/airops/webhooks/bat_00000000000000000000000000.x", raw: Array("{}".utf8))
            // The operator page's answers without a session: a redirect, the sign-in form, the assets, a refused stream.
            try await exchange("GET", "/ui")
            try await exchange("GET", "/ui/sign-in")
            try await exchange("GET", "/ui/assets/app.css")
            try await exchange("GET", "/ui/assets/app.js")
            try await exchange("GET", "/ui/live", query: ["ids": taggedID])

            // The routes and the answers, for the validator.
            let encoder = JSONEncoder()
            var lines = gateway.routes.map { String(decoding: try! encoder.encode(["route": $0]), as: UTF8.self) }
            lines += try exchanges.map { String(decoding: try encoder.encode($0), as: UTF8.self) }
            let exchangesPath = directory.appendingPathComponent("exchanges.jsonl").path
            try (lines.joined(separator: "\n") + "\n").write(toFile: exchangesPath, atomically: true, encoding: .utf8)

            let process = try ChildProcess(
                executable: python,
                arguments: [Self.validator.path, documentPath, exchangesPath],
                environment: ["PATH": "/usr/bin:/bin"]
            )
            let status = process.waitUntilExit()
            let (stdout, stderr) = process.output()
            #expect(status == 0, "the validator found problems:\n\(stdout)\(stderr)")
            #expect(stdout.contains("summary: \(exchanges.count) answers valid"), "\(stdout)")

            // The validator does refuse an answer that breaks the document (a batch without its fields).
            let wrong = Exchange(method: "GET", path: "/v1/batches/\(taggedID)", query: [:], status: 200, contentType: "application/json", body: "{}")
            let wrongPath = directory.appendingPathComponent("wrong.jsonl").path
            try (String(decoding: try encoder.encode(wrong), as: UTF8.self) + "\n").write(toFile: wrongPath, atomically: true, encoding: .utf8)
            let refusing = try ChildProcess(
                executable: python,
                arguments: [Self.validator.path, documentPath, wrongPath],
                environment: ["PATH": "/usr/bin:/bin"]
            )
            #expect(refusing.waitUntilExit() != 0)
            #expect(refusing.output().stdout.contains("invalid GET /v1/batches/\(taggedID) -> 200"))

            // A method the document leaves out of a documented path is refused.
            for line in stdout.split(separator: "\n") where line.hasPrefix("method-not-documented ") {
                let parts = line.split(separator: " ")
                let path = parts[2].replacingOccurrences(of: "{provider}", with: "airops")
                    .replacingOccurrences(of: "{token}", with: "x.y").replacingOccurrences(of: "{id}", with: taggedID)
                    .replacingOccurrences(of: "{action}", with: "cancel")
                let (refused, _, _) = try await gateway.call(String(parts[1]), path)
                #expect(refused == 405, "\(parts[1]) \(path) answered \(refused), and the document does not list it")
            }
        }
    }
}
