import BatchGateCore
import BatchGateWebhooks
import Foundation
import Synchronization
import Testing

/// The sender against a real loopback receiver over `CurlHTTPClient`, with an in-memory outbox.
@Suite(.timeLimit(.minutes(1))) struct WebhookSenderTests {
    @Test func twoFailuresThenSuccessIsThreeSignedAttemptsUnderOneWebhookID() async throws {
        let receiver = Receiver { index in index < 2 ? Reply(status: 503, body: "busy") : Reply(status: 200, body: "thanks") }
        let outbox = InMemoryOutbox()
        let secret = WebhookSecret.generate()
        try await withReceiver(receiver) { url in
            let delivery = makeDelivery(url: url, secret: secret)
            await outbox.add(delivery)
            try await withSender(outbox: outbox, configuration: fastConfiguration()) { sender in
                sender.wake()
                try await waitUntil("the delivery to finish") { await outbox.isFinished(delivery.id) }
            }
            let attempts = await outbox.attempts(of: delivery.id)
            #expect(attempts.map(\.status) == [.scheduledRetry, .scheduledRetry, .delivered])
            #expect(attempts.map(\.attemptNumber) == [1, 2, 3])
            #expect(attempts.map(\.responseStatus) == [503, 503, 200])
            #expect(attempts.map(\.errorMessage) == ["HTTP 503", "HTTP 503", nil])
            #expect(attempts.map(\.responseBodyPreview) == ["busy", "busy", "thanks"])
            #expect(attempts.allSatisfy { $0.maxAttempts == 5 && $0.deliveryKey == "batch.completed" && $0.id.hasPrefix("dla_") })
            #expect(attempts[2].deliveredAt != nil)
            #expect(attempts[0].nextRetryAt != nil && attempts[2].nextRetryAt == nil)

            let requests = receiver.requests
            #expect(requests.count == 3)
            #expect(Set(requests.compactMap { $0.header("webhook-id") }) == [delivery.eventID])
            let signer = WebhookSigner(secret: secret)
            for (index, request) in requests.enumerated() {
                #expect(request.body == delivery.body(attempt: index + 1))
                let envelope = try #require(try JSONSerialization.jsonObject(with: Data(request.body)) as? [String: Any])
                let meta = try #require(envelope["delivery"] as? [String: Any])
                #expect(meta["attempt"] as? Int == index + 1)
                #expect(meta["max_attempts"] as? Int == 5)
                #expect(meta["key"] as? String == "batch.completed")
                #expect(envelope["id"] as? String == delivery.eventID)
                #expect(envelope["type"] as? String == "batch.completed")
                #expect(envelope["created_at"] as? String == "2026-01-01T00:00:00.123Z")
                #expect((envelope["data"] as? [String: Any])?["id"] as? String == delivery.jobID)
                #expect(request.header("content-type") == "application/json")
                #expect(request.header("user-agent") == "BatchGate-Webhooks/1.0")
                try signer.verify(headers: request.headers, body: request.body)
            }
            // The retry waited for the backoff (20 ms, then 40 ms).
            #expect(requests[1].at - requests[0].at >= .milliseconds(20))
            #expect(requests[2].at - requests[1].at >= .milliseconds(40))

            let last = try #require(requests.last)
            let id = try #require(last.header("webhook-id"))
            let timestampText = try #require(last.header("webhook-timestamp"))
            let timestamp = try #require(Int64(timestampText))
            let signature = try #require(last.header("webhook-signature"))
            let python = try runPythonVerifier(
                secret: secret.encoded,
                id: id,
                timestamp: timestamp,
                body: last.body,
                signature: signature
            )
            #expect(python.status == 0, "python said: \(python.output)")
        }
    }

    @Test func aReceiverThatNeverAnswersFailsPermanentlyWithATimeout() async throws {
        let receiver = Receiver { _ in Reply(hang: true) }
        let outbox = InMemoryOutbox()
        try await withReceiver(receiver) { url in
            let delivery = makeDelivery(url: url, maxAttempts: 2)
            await outbox.add(delivery)
            try await withSender(outbox: outbox, configuration: fastConfiguration(timeout: .milliseconds(300))) { sender in
                sender.wake()
                try await waitUntil("the delivery to finish") { await outbox.isFinished(delivery.id) }
            }
            let attempts = await outbox.attempts(of: delivery.id)
            #expect(attempts.map(\.status) == [.scheduledRetry, .failedPermanently])
            #expect(attempts.map(\.errorMessage) == ["timeout after 300ms", "timeout after 300ms"])
            #expect(attempts.allSatisfy { $0.responseStatus == nil && $0.responseBodyPreview == nil })
            #expect(attempts.allSatisfy { $0.latency >= .milliseconds(290) })
            #expect(receiver.requests.count == 2)
        }
    }

    @Test func goneStopsTheSubscriptionAfterOneAttempt() async throws {
        let receiver = Receiver { _ in Reply(status: 410, body: "unsubscribed") }
        let outbox = InMemoryOutbox()
        try await withReceiver(receiver) { url in
            let delivery = makeDelivery(url: url)
            await outbox.add(delivery)
            try await withSender(outbox: outbox, configuration: fastConfiguration()) { sender in
                sender.wake()
                try await waitUntil("the delivery to finish") { await outbox.isFinished(delivery.id) }
            }
            let attempts = await outbox.attempts(of: delivery.id)
            #expect(attempts.count == 1)
            #expect(attempts.first?.status == .failedPermanently)
            #expect(attempts.first?.outcome == .stopSubscription(status: 410))
            #expect(attempts.first?.stopsSubscription == true)
            #expect(await outbox.stoppedJobs == [delivery.jobID])
            #expect(receiver.requests.count == 1)
        }
    }

    @Test func retryAfterIsHonoured() async throws {
        let receiver = Receiver { index in index == 0 ? Reply(status: 429, retryAfter: "1") : Reply(status: 204, body: "") }
        let outbox = InMemoryOutbox()
        try await withReceiver(receiver) { url in
            let delivery = makeDelivery(url: url)
            await outbox.add(delivery)
            let configuration = fastConfiguration(initialBackoff: .milliseconds(10), maxBackoff: .seconds(5))
            try await withSender(outbox: outbox, configuration: configuration) { sender in
                sender.wake()
                try await waitUntil("the delivery to finish") { await outbox.isFinished(delivery.id) }
            }
            let attempts = await outbox.attempts(of: delivery.id)
            #expect(attempts.map(\.status) == [.scheduledRetry, .delivered])
            let first = try #require(attempts.first)
            let retryAt = try #require(first.nextRetryAt)
            #expect(first.triedAt.duration(to: retryAt) >= .seconds(1))
            let requests = receiver.requests
            #expect(requests.count == 2)
            #expect(requests[1].at - requests[0].at >= .milliseconds(990))
            #expect(attempts.last?.responseBodyPreview == nil)
        }
    }

    @Test func aForbiddenAddressFailsPermanentlyBeforeAnythingIsSent() async throws {
        let outbox = InMemoryOutbox()
        let literal = makeDelivery(url: "http://10.0.0.1/hook")
        let rebinding = makeDelivery(url: "https://hooks.example.com/in")
        await outbox.add(literal)
        await outbox.add(rebinding)
        let resolver = TableResolver(["hooks.example.com": .success([IPAddress.parse("169.254.169.254")!])])
        let policy = WebhookURLPolicy(allowInsecureLoopback: true, resolver: resolver)
        try await withSender(outbox: outbox, configuration: fastConfiguration(), policy: policy) { sender in
            sender.wake()
            try await waitUntil("both deliveries to finish") {
                let first = await outbox.isFinished(literal.id)
                let second = await outbox.isFinished(rebinding.id)
                return first && second
            }
        }
        let first = await outbox.attempts(of: literal.id)
        #expect(first.map(\.status) == [.failedPermanently])
        #expect(first.first?.errorMessage?.contains("resolves to a private address (10.0.0.1)") == true)
        let second = await outbox.attempts(of: rebinding.id)
        #expect(second.map(\.status) == [.failedPermanently])
        // The address the host resolved to is not the tenant's to see.
        #expect(
            second.first?.errorMessage
                == "'https://hooks.example.com/' resolves to a cloud metadata address; webhook URLs must be public https URLs."
        )
    }

    @Test func anAddressRefusedByTheTransportIsRecordedWithoutTheAddress() async throws {
        let receiver = Receiver { _ in Reply() }
        let outbox = InMemoryOutbox()
        try await withReceiver(receiver) { url in
            // `localhost` passes the policy (loopback is allowed), then the transport's filter refuses
            // the address it connects to, as it would after a DNS answer changed between check and send.
            let named = url.replacingOccurrences(of: "127.0.0.1", with: "localhost")
            let port = try #require(named.split(separator: ":").last?.split(separator: "/").first)
            let delivery = makeDelivery(url: named)
            await outbox.add(delivery)
            try await withSender(outbox: outbox, configuration: fastConfiguration(), allowRemoteAddress: { _ in false }) { sender in
                sender.wake()
                try await waitUntil("the delivery to finish") { await outbox.isFinished(delivery.id) }
            }
            let attempts = await outbox.attempts(of: delivery.id)
            #expect(attempts.map(\.status) == [.failedPermanently])
            let message = try #require(attempts.first?.errorMessage)
            #expect(
                message
                    == "'http://localhost:\(port)/' resolves to a loopback address; webhook URLs must be public https URLs (loopback receivers need webhooks.allow_insecure_loopback: true)."
            )
            #expect(!message.contains("127.0.0.1") && !message.contains("::1"))
            #expect(receiver.requests.isEmpty)
        }
    }

    /// A receiver that answers after longer than a fixed five-minute lease, but within the timeout,
    /// gets one copy per attempt: the claim is leased for longer than the timeout.
    @Test func aReceiverSlowerThanAFixedLeaseGetsOneCopyPerAttempt() async throws {
        let receiver = Receiver { index in index == 0 ? Reply(status: 503, body: "slow", hang: true) : Reply(status: 200, body: "ok") }
        let outbox = InMemoryOutbox()
        let start = Timestamp(milliseconds: 1_767_225_600_000)
        let wall = ManualWallClock(start)
        let configuration = fastConfiguration(timeout: .seconds(600))
        #expect(configuration.claimLease > configuration.timeout)
        try await withReceiver(receiver) { url in
            let delivery = makeDelivery(url: url, due: start)
            await outbox.add(delivery)
            try await withSender(outbox: outbox, configuration: configuration, now: { wall.now }) { sender in
                sender.wake()
                try await waitUntil("the first attempt to reach the receiver") { receiver.requests.count == 1 }
                // The wall clock passes a five-minute lease, then gets just short of the timeout, while
                // the receiver still holds the request; the sender looks for due deliveries each time.
                for elapsed in [Duration.seconds(301), .seconds(599)] {
                    let time = start.adding(elapsed)
                    wall.set(time)
                    sender.wake()
                    try await waitUntil("the sender to look for due deliveries at +\(elapsed)") {
                        await outbox.lastClaimAt.map { $0 >= time } ?? false
                    }
                }
                #expect(receiver.requests.count == 1)
                #expect(await outbox.reclaimed.isEmpty)
                receiver.release()
                try await waitUntil("the first attempt to be recorded") { await !outbox.attempts(of: delivery.id).isEmpty }
                wall.advance(by: .seconds(1))
                sender.wake()
                try await waitUntil("the delivery to finish") { await outbox.isFinished(delivery.id) }
            }
            let attempts = await outbox.attempts(of: delivery.id)
            #expect(attempts.map(\.status) == [.scheduledRetry, .delivered])
            #expect(attempts.map(\.attemptNumber) == [1, 2])
            #expect(receiver.requests.count == 2)
            #expect(receiver.maxInFlight == 1)
            #expect(await outbox.reclaimed.isEmpty)
            let leases = await outbox.leases
            #expect(!leases.isEmpty && leases.allSatisfy { $0 == configuration.claimLease })
        }
    }

    @Test func aRefusedConnectionIsRetriedThenGivenUp() async throws {
        let outbox = InMemoryOutbox()
        // Nothing listens on port 1 of the loopback interface.
        let delivery = makeDelivery(url: "http://127.0.0.1:1/hook", maxAttempts: 3)
        await outbox.add(delivery)
        try await withSender(outbox: outbox, configuration: fastConfiguration()) { sender in
            sender.wake()
            try await waitUntil("the delivery to finish") { await outbox.isFinished(delivery.id) }
        }
        let attempts = await outbox.attempts(of: delivery.id)
        #expect(attempts.map(\.status) == [.scheduledRetry, .scheduledRetry, .failedPermanently])
        #expect(attempts.map(\.errorMessage) == Array(repeating: "connection refused or unreachable", count: 3))
    }

    @Test func concurrencyIsBoundedAndUsed() async throws {
        let receiver = Receiver { _ in Reply(status: 200, delay: .milliseconds(100)) }
        let outbox = InMemoryOutbox()
        try await withReceiver(receiver) { url in
            let deliveries = (0..<9).map { makeDelivery(url: url, key: "batch.progress:\($0 * 10)") }
            for delivery in deliveries { await outbox.add(delivery) }
            try await withSender(outbox: outbox, configuration: fastConfiguration(concurrency: 3)) { sender in
                sender.wake()
                try await waitUntil("every delivery to finish") {
                    for delivery in deliveries where !(await outbox.isFinished(delivery.id)) { return false }
                    return true
                }
            }
            #expect(receiver.requests.count == 9)
            #expect(receiver.maxInFlight == 3)
            #expect(await outbox.attempts.allSatisfy { $0.status == .delivered })
        }
    }

    @Test func gracefulShutdownLetsAnAttemptInFlightFinish() async throws {
        let receiver = Receiver { _ in Reply(status: 200, delay: .milliseconds(300)) }
        let outbox = InMemoryOutbox()
        try await withReceiver(receiver) { url in
            let delivery = makeDelivery(url: url)
            await outbox.add(delivery)
            let late = makeDelivery(url: url)
            try await withSender(outbox: outbox, configuration: fastConfiguration()) { sender in
                sender.wake()
                try await waitUntil("the receiver to get the request") { !receiver.requests.isEmpty }
                // Shutdown begins (when this closure returns) while the receiver still holds the request.
                await outbox.add(late)
            }
            #expect(await outbox.isFinished(delivery.id))
            #expect(await outbox.attempts(of: delivery.id).map(\.status) == [.delivered])
        }
    }

    @Test func wakeSendsANewDeliveryWithoutWaitingForTheIdleInterval() async throws {
        let receiver = Receiver { _ in Reply() }
        let outbox = InMemoryOutbox()
        try await withReceiver(receiver) { url in
            try await withSender(outbox: outbox, configuration: fastConfiguration()) { sender in
                // Once the sender has asked for the next due time it is asleep (for up to 30 s).
                try await waitUntil("the sender to go idle") { await outbox.nextDueQueries >= 1 }
                let delivery = makeDelivery(url: url)
                await outbox.add(delivery)
                sender.wake()
                // Well within the 30 s the idle sender would otherwise sleep: the wake-up, not the idle check, sent it.
                try await waitUntil(timeout: .seconds(20), "the woken sender to deliver") { await outbox.isFinished(delivery.id) }
            }
        }
    }

    @Test func aFutureDeliveryIsSentWhenDueWithoutAWake() async throws {
        let receiver = Receiver { _ in Reply() }
        let outbox = InMemoryOutbox()
        try await withReceiver(receiver) { url in
            let delivery = makeDelivery(url: url, due: Timestamp.now().adding(.milliseconds(300)))
            await outbox.add(delivery)
            let started = ContinuousClock.now
            try await withSender(outbox: outbox, configuration: fastConfiguration()) { _ in
                // Well within the 30 s idle interval: the sender slept until the delivery was due, not until its idle check.
                try await waitUntil(timeout: .seconds(20), "the delivery to be sent when due") { await outbox.isFinished(delivery.id) }
            }
            // Never before it is due.
            #expect(ContinuousClock.now - started >= .milliseconds(280))
        }
    }

    @Test func anUnsignedDeliveryCarriesItsIDButNoSignature() async throws {
        let receiver = Receiver { _ in Reply() }
        let outbox = InMemoryOutbox()
        try await withReceiver(receiver) { url in
            let delivery = makeDelivery(url: url, secret: nil)
            await outbox.add(delivery)
            try await withSender(outbox: outbox, configuration: fastConfiguration()) { sender in
                sender.wake()
                try await waitUntil("the delivery to finish") { await outbox.isFinished(delivery.id) }
            }
            let request = try #require(receiver.requests.first)
            #expect(request.header("webhook-id") == delivery.eventID)
            #expect(request.header("webhook-timestamp") != nil)
            #expect(request.header("webhook-signature") == nil)
        }
    }
}
