import BatchGateCore
import BatchGateSimulators
import BatchGateTestSupport
import BatchGateTransport
import Foundation
import Testing

/// Traces of one job, end to end: `batchgate serve` with a `telemetry:` section exports spans over
/// OTLP/HTTP (JSON) to a loopback receiver in this process. A create sent with a W3C `traceparent`
/// yields one trace holding the API request, the store commits, the vendor submit and polls, the job's
/// turns and the client webhook attempt, each span's parent in the trace; the client webhook carries a
/// `traceparent` naming its attempt's span. With sampling 0, a create without `traceparent` records
/// nothing.
@Suite(.timeLimit(.minutes(2)))
struct TraceTests {
    /// One exported span.
    struct ExportedSpan: CustomStringConvertible {
        var traceID: String
        var spanID: String
        var parentSpanID: String
        var name: String
        var kind: String
        var attributes: [String: String]

        var description: String { "\(name) [\(spanID) ← \(parentSpanID)]" }
    }

    /// OTLP/JSON ids are hex by the specification; protobuf's JSON mapping writes bytes as base64. Both
    /// are read, as lowercase hex.
    static func hexID(_ text: String?) -> String {
        guard let text, !text.isEmpty else { return "" }
        if text.count == 32 || text.count == 16, text.allSatisfy(\.isHexDigit) { return text.lowercased() }
        guard let bytes = Data(base64Encoded: text) else { return text }
        return bytes.map { String(format: "%02x", $0) }.joined()
    }

    /// Every span of every OTLP/JSON export request received.
    static func spans(in requests: [WebhookRecorder.Received]) throws -> [ExportedSpan] {
        var spans: [ExportedSpan] = []
        for request in requests where request.path == "/v1/traces" {
            let export = try JSONDecoder().decode(JSONValue.self, from: Data(request.body))
            for resource in export["resourceSpans"]?.arrayValue ?? [] {
                for scope in resource["scopeSpans"]?.arrayValue ?? [] {
                    for span in scope["spans"]?.arrayValue ?? [] {
                        var attributes: [String: String] = [:]
                        for attribute in span["attributes"]?.arrayValue ?? [] {
                            guard let key = attribute["key"]?.stringValue, let value = attribute["value"] else { continue }
                            attributes[key] =
                                value["stringValue"]?.stringValue ?? value["intValue"]?.stringValue
                                ?? value["intValue"]?.intValue.map(String.init) ?? "\(value)"
                        }
                        spans.append(
                            ExportedSpan(
                                traceID: hexID(span["traceId"]?.stringValue),
                                spanID: hexID(span["spanId"]?.stringValue),
                                parentSpanID: hexID(span["parentSpanId"]?.stringValue),
                                name: span["name"]?.stringValue ?? "",
                                kind: span["kind"]?.stringValue ?? span["kind"]?.intValue.map(String.init) ?? "",
                                attributes: attributes
                            )
                        )
                    }
                }
            }
        }
        return spans
    }

    @Test func oneJobIsOneTraceFromTheCreateToTheClientWebhook() async throws {
        #expect(FileManager.default.isExecutableFile(atPath: CrashRecoveryTests.binary), "build the batchgate product first")
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("bg-trace-\(Identifier.secret(byteCount: 6))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let traceID = Self.randomHex(bytes: 16)
        let clientSpanID = Self.randomHex(bytes: 8)

        try await CurlHTTPClient.withClient { transport in
            try await withAirOpsSimulator(.init(token: "vendor-token-trace"), transport: transport) { vendorURL, _ in
                try await withWebhookRecorder { collectorURL, collector in
                    try await withWebhookRecorder { hooksURL, hooks in
                        let port = try LoopbackPort.reserve()
                        let config = directory.appendingPathComponent("providers.yaml").path
                        try """
                        server: {listen: "127.0.0.1:\(port)", public_url: "http://127.0.0.1:\(port)"}
                        store: {sqlite: "\(directory.appendingPathComponent("gateway.sqlite").path)"}
                        auth:
                          api_keys: [{tenant: acme, key: key-acme-trace}]
                        webhooks: {allow_insecure_loopback: true}
                        telemetry: {traces_endpoint: "\(collectorURL)/v1/traces", sampling: 0, protocol: http/json, service_name: bg-trace-test}
                        providers:
                          airops: {kind: olostep-airops, base_url: "\(vendorURL)", token: vendor-token-trace, poll_interval: 200ms}
                        routes:
                          scrape: {kind: url_batch, targets: [{provider: airops}]}
                        """.write(toFile: config, atomically: true, encoding: .utf8)
                        let gateway = try CrashRecoveryTests.GatewayProcess(config: config)
                        defer { gateway.terminate() }
                        let client = GatewayHarness.Client(baseURL: "http://127.0.0.1:\(port)", apiKey: "key-acme-trace", transport: transport)
                        try await client.waitUntilReady()

                        func create(_ url: String, traceparent: String?) async throws -> String {
                            var headers: [(name: String, value: String)] = [
                                ("authorization", "Bearer key-acme-trace"), ("content-type", "application/json"),
                            ]
                            if let traceparent { headers.append(("traceparent", traceparent)) }
                            let body =
                                #"{"route": "scrape", "input": {"urls": ["\#(url)"]}, "webhook": {"url": "\#(hooksURL)/hooks", "events": ["batch.completed"]}}"#
                            let response = try await transport.send(
                                HTTPRequest(
                                    method: "POST",
                                    url: client.baseURL + "/v1/batches",
                                    headers: headers,
                                    body: Array(body.utf8),
                                    timeout: .seconds(10)
                                )
                            )
                            let created = try JSONDecoder().decode(JSONValue.self, from: Data(response.body))
                            return try #require(created["id"]?.stringValue, "\(response.status): \(created)")
                        }
                        // Sampled by the client's traceparent (flags 01), though the gateway samples nothing itself.
                        let traced = try await create("https://example.com/traced", traceparent: "00-\(traceID)-\(clientSpanID)-01")
                        let untraced = try await create("https://example.com/untraced", traceparent: nil)
                        _ = try await client.waitUntilCompleted(traced)
                        _ = try await client.waitUntilCompleted(untraced)
                        try await eventually("both completion webhooks delivered", timeout: .seconds(30)) {
                            hooks.received().count >= 2
                        }
                        // A graceful stop flushes the spans not exported yet.
                        gateway.terminate()

                        let spans = try Self.spans(in: collector.received())
                        let trace = spans.filter { $0.traceID == traceID }
                        let names = trace.map(\.name)
                        let byID = Dictionary(trace.map { ($0.spanID, $0) }, uniquingKeysWith: { a, _ in a })
                        print(
                            "trace \(traceID): \(trace.count) of \(spans.count) exported spans: \(Dictionary(names.map { ($0, 1) }, uniquingKeysWith: +).sorted { $0.key < $1.key })"
                        )

                        // The API request continues the client's span, and the create's commit is its child.
                        let request = try #require(trace.first { $0.name == "HTTP POST /v1/batches" }, "spans: \(names)")
                        #expect(request.parentSpanID == clientSpanID)
                        #expect(request.attributes["http.response.status_code"] == "201")
                        #expect(trace.contains { $0.name == "store create" && $0.parentSpanID == request.spanID }, "\(trace)")
                        // The vendor calls and job commits of later turns join the trace.
                        let submit = try #require(trace.first { $0.name == "airops submit" }, "spans: \(names)")
                        #expect(submit.attributes["batchgate.outcome"] == "ok")
                        #expect(byID[submit.parentSpanID]?.name == "job turn")
                        #expect(trace.contains { $0.name == "airops poll" }, "spans: \(names)")
                        #expect(trace.contains { $0.name == "store apply" }, "spans: \(names)")
                        #expect(trace.allSatisfy { $0.name != "job turn" || $0.attributes["batchgate.job"] == traced })
                        // The client webhook attempt is a span of the trace, and the receiver got its traceparent.
                        let attempt = try #require(trace.first { $0.name == "webhook batch.completed" }, "spans: \(names)")
                        #expect(attempt.attributes["batchgate.job"] == traced)
                        #expect(attempt.attributes["batchgate.delivery_status"] == "delivered")
                        #expect(trace.contains { $0.name == "store record_attempt" && $0.parentSpanID == attempt.spanID })
                        let hook = try #require(hooks.received().first { String(decoding: $0.body, as: UTF8.self).contains(traced) })
                        #expect(hook.headers["traceparent"] == "00-\(traceID)-\(attempt.spanID)-01")
                        // One tree: every span's parent is the client's span or another span of the trace.
                        for span in trace where span.spanID != request.spanID {
                            #expect(byID[span.parentSpanID] != nil, "\(span) has a parent outside the trace")
                        }
                        // Sampling 0: the job created without a traceparent recorded nothing.
                        #expect(!spans.contains { $0.attributes.values.contains(untraced) }, "\(spans.filter { $0.traceID != traceID })")
                        // No secret in any span.
                        for span in spans {
                            let text = "\(span.name) \(span.attributes)"
                            #expect(!text.contains("key-acme-trace") && !text.contains("vendor-token-trace"), "\(span)")
                            if let path = span.attributes["url.path"], path.contains("/webhooks/") {
                                #expect(path.hasSuffix("/[token]"), "\(path)")
                            }
                        }
                    }
                }
            }
        }
    }

    static func randomHex(bytes: Int) -> String {
        (0..<bytes).map { _ in String(format: "%02x", UInt8.random(in: 0...255)) }.joined()
    }
}
