import BatchGateCore
import BatchGateSimulators
import BatchGateWebhooks
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Signed webhooks to clients, end to end: queued with the change, signed, retried, summarised.
@Suite(.timeLimit(.minutes(2)))
struct WebhookDeliveryTests {
    @Test func twoFailuresThenDeliveredShowsThreeAttemptsAndValidSignatures() async throws {
        let secret = WebhookSecret.generate()
        try await GatewayHarness.run { gateway in
            try await withWebhookRecorder { recorderURL, recorder in
                recorder.failNext(2, status: 503)
                let created = try await gateway.createBatch(
                    urls: ["https://example.com/a", "https://example.com/b"],
                    webhook: ["url": .string(recorderURL + "/hooks"), "secret": .string(secret.encoded), "events": ["batch.completed"]]
                )
                let id = try #require(created["id"]?.stringValue)
                #expect(created["webhook"]?["has_secret"] == true)
                #expect(created["webhook"]?["url"]?.stringValue == recorderURL + "/hooks")
                #expect(created["webhook"]?["secret"] == nil, "the secret is never shown")
                #expect(created["webhook"]?["events"] == ["batch.completed"])

                var batch = JSONValue.null
                try await eventually("the completion delivered", timeout: .seconds(30)) {
                    batch = try await gateway.call("GET", "/v1/batches/\(id)").body
                    return batch["webhook"]?["delivery"]?["delivered_events"]?.intValue == 1
                }
                let delivery = try #require(batch["webhook"]?["delivery"])
                #expect(delivery["total_attempts"]?.intValue == 3)
                #expect(delivery["last_attempt_status"]?.stringValue == "delivered")
                #expect(delivery["last_response_status"]?.intValue == 200)
                #expect(delivery["delivered_event_types"] == ["batch.completed"])
                #expect(delivery["pending_retries"]?.intValue == 0)
                #expect(delivery["last_error_message"]?.stringValue == "HTTP 503")
                #expect(delivery["last_delivered_at"]?.stringValue != nil)
                let attempts = batch["webhook"]?["attempts"]?.arrayValue ?? []
                #expect(attempts.map { $0["status"]?.stringValue } == ["delivered", "scheduled_retry", "scheduled_retry"])
                #expect(attempts.map { $0["attempt_number"]?.intValue } == [3, 2, 1])
                #expect(attempts.map { $0["response_status"]?.intValue } == [200, 503, 503])
                #expect(attempts.allSatisfy { $0["delivery_key"]?.stringValue == "batch.completed" })

                let received = recorder.received()
                #expect(received.count == 3)
                let signer = WebhookSigner(secret: secret)
                let ids = Set(received.compactMap { $0.headers["webhook-id"] })
                #expect(ids.count == 1, "every attempt carries the same webhook-id")
                for (index, request) in received.enumerated() {
                    let id = try #require(request.headers["webhook-id"])
                    let timestamp = try #require(request.headers["webhook-timestamp"])
                    let signature = try #require(request.headers["webhook-signature"])
                    try signer.verify(id: id, timestamp: timestamp, body: request.body, signatureHeader: signature, now: .now())
                    let body = try JSONDecoder().decode(JSONValue.self, from: Data(request.body))
                    #expect(body["type"]?.stringValue == "batch.completed")
                    #expect(body["id"]?.stringValue == id)
                    #expect(body["delivery"]?["attempt"]?.intValue == index + 1)
                    #expect(body["delivery"]?["key"]?.stringValue == "batch.completed")
                    #expect(body["data"]?["id"]?.stringValue == created["id"]?.stringValue)
                    #expect(body["data"]?["lifecycle_status"]?.stringValue == "completed")
                }

                let listed = try await gateway.call("GET", "/v1/batches/\(id)/deliveries?limit=2")
                #expect(listed.status == 200)
                #expect(listed.body["data"]?.arrayValue.count == 2)
                let next = try #require(listed.body["next_after"]?.stringValue)
                let rest = try await gateway.call("GET", "/v1/batches/\(id)/deliveries?after=\(next)")
                #expect(rest.body["data"]?.arrayValue.map { $0["attempt_number"]?.intValue } == [1])
            }
        }
    }

    @Test func everyEventIsDeliveredOncePerKey() async throws {
        try await GatewayHarness.run { gateway in
            try await withWebhookRecorder { recorderURL, recorder in
                let created = try await gateway.createBatch(
                    urls: (0..<10).map { "https://example.com/\($0)" },
                    webhook: ["url": .string(recorderURL + "/all"), "events": ["batch.created", "batch.progress", "batch.completed"]]
                )
                let id = try #require(created["id"]?.stringValue)
                _ = try await gateway.waitForTerminal(id)
                try await eventually("the completion delivered", timeout: .seconds(20)) {
                    recorder.received().contains { String(decoding: $0.body, as: UTF8.self).contains(#""type":"batch.completed""#) }
                }
                // Deliveries are sent concurrently and may arrive in any order; event ids sort by the millisecond
                // the event happened.
                let bodies = try recorder.received().map { try JSONDecoder().decode(JSONValue.self, from: Data($0.body)) }
                    .sorted { ($0["id"]?.stringValue ?? "") < ($1["id"]?.stringValue ?? "") }
                let keys = bodies.compactMap { $0["delivery"]?["key"]?.stringValue }
                #expect(Set(keys).count == keys.count, "each delivery key once: \(keys)")
                #expect(keys.first == "batch.created")
                #expect(keys.last == "batch.completed")
                // Each progress event carries the batch as it was when the bucket was reached.
                var buckets: [Int] = []
                for body in bodies {
                    guard let key = body["delivery"]?["key"]?.stringValue, key.hasPrefix("batch.progress:"),
                        let bucket = Int(key.dropFirst("batch.progress:".count))
                    else { continue }
                    buckets.append(bucket)
                    #expect((body["data"]?["progress"]?["percent"]?.intValue ?? -1) >= bucket, "\(key): \(body["data"]?["progress"] ?? .null)")
                }
                #expect(!buckets.isEmpty)
                #expect(buckets.allSatisfy { $0 % 10 == 0 && $0 > 0 && $0 < 100 })
                #expect(recorder.received().allSatisfy { $0.headers["webhook-signature"] == nil }, "no secret: unsigned")
            }
        }
    }

    @Test func unansweredDeliveriesFailPermanentlyAfterMaxAttempts() async throws {
        // A socket that accepts connections (kernel backlog) but never answers.
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        #expect(fd >= 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        _ = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        #expect(listen(fd, 64) == 0)
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) } }
        let port = Int(UInt16(bigEndian: address.sin_port))

        let settings = WebhookSettings(
            maxAttempts: 2,
            initialBackoff: .milliseconds(50),
            maxBackoff: .milliseconds(100),
            timeout: .milliseconds(300),
            allowInsecureLoopback: true
        )
        try await GatewayHarness.run(scenario: .init(queueDelay: .seconds(60)), webhooks: settings) { gateway in
            let created = try await gateway.createBatch(
                urls: ["https://example.com/a"],
                webhook: ["url": .string("http://127.0.0.1:\(port)/silent"), "events": ["batch.created"]]
            )
            let id = try #require(created["id"]?.stringValue)
            var batch = JSONValue.null
            try await eventually("the delivery given up", timeout: .seconds(20)) {
                batch = try await gateway.call("GET", "/v1/batches/\(id)").body
                return batch["webhook"]?["delivery"]?["last_attempt_status"]?.stringValue == "failed_permanently"
            }
            let delivery = try #require(batch["webhook"]?["delivery"])
            #expect(delivery["total_attempts"]?.intValue == 2)
            #expect(delivery["delivered_events"]?.intValue == 0)
            #expect(delivery["last_error_message"]?.stringValue?.contains("timeout") == true, "\(delivery)")
            #expect(delivery["last_response_status"] == .null)
            #expect(batch["webhook"]?["attempts"]?.arrayValue.first?["max_attempts"]?.intValue == 2)
        }
    }

    @Test(arguments: [
        (#"{"url":"http://10.0.0.1/"}"#, "webhook.url"),
        (#"{"url":"https://169.254.169.254/"}"#, "webhook.url"),
        (#"{"url":"https://localhost/"}"#, "webhook.url"),
        (#"{"url":"http://127.0.0.1:9/hook"}"#, "webhook.url"),
        (#"{"url":"https://hooks.example.com/","events":["batch.finished"]}"#, "webhook.events[0]"),
        (#"{"url":"https://hooks.example.com/","secret":"whsec_short"}"#, "webhook.secret"),
        (#"{"url":"https://hooks.example.com/","extra":true}"#, "webhook.extra"),
        (#"{"events":["batch.completed"]}"#, "webhook.url"),
    ])
    func badSubscriptionsAreRefused(webhook: String, field: String) async throws {
        var settings = GatewayHarness.testWebhooks
        settings.allowInsecureLoopback = false
        try await GatewayHarness.run(webhooks: settings) { gateway in
            let body = #"{"route":"scrape","input":{"urls":["https://example.com/a"]},"webhook":"# + webhook + "}"
            let (status, answer, _) = try await gateway.call("POST", "/v1/batches", raw: Array(body.utf8))
            #expect(status == 400, "\(webhook) → \(status)")
            #expect(answer["error"]?["field"]?.stringValue == field, "\(answer)")
            #expect(try await gateway.call("GET", "/v1/batches").body["data"]?.arrayValue.isEmpty == true, "nothing stored")
        }
    }
}

@Suite(.timeLimit(.minutes(1)))
struct DefaultWebhookTests {
    @Test func aTenantsDefaultSubscriptionAppliesWhenTheRequestNamesNone() async throws {
        try await withWebhookRecorder { recorderURL, recorder in
            var settings = GatewayHarness.testWebhooks
            settings.defaults = ["acme": WebhookSubscription(url: recorderURL + "/default", secret: nil, events: [.created])]
            try await GatewayHarness.run(scenario: .init(queueDelay: .seconds(60)), webhooks: settings) { gateway in
                let created = try await gateway.createBatch(urls: ["https://example.com/a"])
                #expect(created["webhook"]?["url"]?.stringValue == recorderURL + "/default")
                try await eventually("the default subscription receives batch.created") {
                    recorder.received().contains { $0.path == "/default" }
                }
                let other = try await gateway.call(
                    "POST",
                    "/v1/batches",
                    key: gateway.otherTenantKey,
                    json: ["route": "scrape", "input": ["urls": ["https://example.com/b"]]]
                )
                #expect(other.status == 201)
                #expect(other.body["webhook"] == .null, "globex has no default")
            }
        }
    }
}
