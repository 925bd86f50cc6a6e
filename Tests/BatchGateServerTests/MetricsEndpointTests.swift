import BatchGateCore
import BatchGateSimulators
import BatchGateTransport
import BatchGateWebhooks
import Foundation
import Testing

/// `GET /metrics` after a small run (a URL batch with a client webhook, a tagging batch, a refused
/// vendor webhook): every family the README lists is there, with samples where something happened.
@Suite(.timeLimit(.minutes(2)))
struct MetricsEndpointTests {
    /// The samples of one family (`name{labels} value` lines), by their label text.
    static func samples(_ text: String, _ family: String) -> [String: Double] {
        var found: [String: Double] = [:]
        for line in text.split(separator: "\n") where !line.hasPrefix("#") {
            guard line.hasPrefix(family + "{") || line.hasPrefix(family + " ") else { continue }
            guard let space = line.lastIndex(of: " "), let value = Double(line[line.index(after: space)...]) else { continue }
            let name = line[..<space]
            let labels = name.firstIndex(of: "{").map { String(name[$0...]) } ?? ""
            found[labels] = value
        }
        return found
    }

    @Test func everyFamilyIsExposedWithSamplesAfterARun() async throws {
        try await GatewayHarness.run { gateway in
            try await withWebhookRecorder { recorderURL, _ in
                let secret = WebhookSecret.generate()
                let scraped = try await gateway.createBatch(
                    urls: ["https://example.com/metrics/a", "https://example.com/metrics/b"],
                    webhook: ["url": .string(recorderURL + "/hooks"), "secret": .string(secret.encoded)]
                )
                let tagged = try await gateway.createTaggingBatch(documents: 3)
                for batch in [scraped, tagged] {
                    let id = try #require(batch["id"]?.stringValue)
                    #expect(try await gateway.waitForTerminal(id).statuses.last == "completed")
                }
                try await eventually("the completion delivered", timeout: .seconds(30)) {
                    let id = scraped["id"]?.stringValue ?? ""
                    return try await gateway.call("GET", "/v1/batches/\(id)").body["webhook"]?["delivery"]?["delivered_events"]?.intValue == 1
                }
                // A vendor webhook with a token that names no job.
                _ = try await gateway.call("POST", "/v1/providers/airops/webhooks/bat_00000000000000000000000000.x", raw: Array("{}".utf8))

                let response = try await gateway.transport.send(HTTPRequest(url: gateway.baseURL + "/metrics", timeout: .seconds(10)))
                #expect(response.status == 200)
                #expect(response.headers.first { $0.name.lowercased() == "content-type" }?.value.hasPrefix("text/plain; version=0.0.4") == true)
                let text = String(decoding: response.body, as: UTF8.self)
                if ProcessInfo.processInfo.environment["PRINT_METRICS"] != nil { print(text) }

                // No credential reaches the metrics: API keys, vendor tokens, inbound webhook tokens.
                #expect(!text.contains("key-acme") && !text.contains(GatewayHarness.vendorToken) && !text.contains("webhooks/bat_"))

                func total(_ family: String, where labels: String = "") -> Double {
                    Self.samples(text, family).filter { labels.isEmpty || $0.key.contains(labels) }.values.reduce(0, +)
                }
                // HTTP requests by route, method and status, and their durations; unmatched paths share one label.
                #expect(total("batchgate_http_requests_total", where: "route=\"/v1/batches\",method=\"POST\",status=\"201\"") >= 2)
                #expect(total("batchgate_http_requests_total", where: "route=\"/v1/batches/{id}\",method=\"GET\",status=\"200\"") >= 1)
                #expect(total("batchgate_http_request_duration_seconds_count", where: "route=\"/v1/batches\"") >= 2)
                // Vendor calls by provider, operation and outcome, with durations.
                #expect(total("batchgate_vendor_requests_total", where: "provider=\"airops\",operation=\"submit\",outcome=\"ok\"") >= 1)
                #expect(total("batchgate_vendor_requests_total", where: "provider=\"airops\",operation=\"poll\",outcome=\"ok\"") >= 1)
                #expect(total("batchgate_vendor_requests_total", where: "provider=\"tagger\",operation=\"submit\",outcome=\"ok\"") >= 1)
                #expect(total("batchgate_vendor_request_duration_seconds_count", where: "provider=\"airops\"") >= 2)
                // Vendor sockets (the registry is the process's: other tests' gateways may hold sockets open now).
                #expect(Self.samples(text, "batchgate_vendor_sockets_open")["{provider=\"tagger\"}"] != nil)
                #expect(!Self.samples(text, "batchgate_vendor_socket_reconnects_total").isEmpty)
                // Inbound vendor webhooks: the simulator's, and the refused one.
                #expect(total("batchgate_inbound_webhooks_total", where: "provider=\"airops\",outcome=\"applied\"") >= 1)
                #expect(total("batchgate_inbound_webhooks_total", where: "provider=\"airops\",outcome=\"invalid_token\"") >= 1)
                // Client webhook deliveries and the outbox.
                #expect(total("batchgate_webhook_attempts_total", where: "outcome=\"delivered\"") >= 1)
                #expect(total("batchgate_webhook_delivery_latency_seconds_count") >= 1)
                #expect(Self.samples(text, "batchgate_webhook_outbox_depth")[""] != nil)
                #expect(Self.samples(text, "batchgate_webhook_outbox_oldest_due_seconds")[""] != nil)
                // Jobs by lifecycle and provider, sampled from the store at the scrape.
                #expect(total("batchgate_jobs", where: "lifecycle=\"completed\",provider=\"airops\"") >= 1)
                #expect(total("batchgate_jobs", where: "lifecycle=\"completed\",provider=\"tagger\"") >= 1)
                // Store commits and group commits, leases.
                #expect(total("batchgate_store_commit_duration_seconds_count", where: "operation=\"create\"") >= 2)
                #expect(total("batchgate_store_commit_duration_seconds_count", where: "operation=\"apply\"") >= 2)
                #expect(total("batchgate_store_group_commit_size_count") >= 1)
                #expect(!Self.samples(text, "batchgate_lease_claims_total").isEmpty)
                #expect(!Self.samples(text, "batchgate_lease_takeovers_total").isEmpty)
            }
        }
    }
}
