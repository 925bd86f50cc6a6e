import BatchGateCore
import BatchGateWebhooks
import Foundation
import Testing

/// Throughput and latency of signed deliveries to a loopback receiver. Off unless
/// `BATCHGATE_WEBHOOK_BENCH` is set (`Benchmarks/webhook-deliveries/run.sh` sets it); prints figures.
@Suite struct WebhookDeliveryBenchmark {
    static var settings: (count: Int, concurrency: Int)? {
        let environment = ProcessInfo.processInfo.environment
        guard environment["BATCHGATE_WEBHOOK_BENCH"] != nil else { return nil }
        let count = environment["BENCH_DELIVERIES"].flatMap(Int.init) ?? 2000
        let concurrency = environment["BENCH_CONCURRENCY"].flatMap(Int.init) ?? 64
        return (min(max(count, 1), 100_000), min(max(concurrency, 1), 512))
    }

    @Test(.enabled(if: settings != nil), .timeLimit(.minutes(5)))
    func deliversToALoopbackReceiver() async throws {
        let (count, concurrency) = try #require(Self.settings)
        let receiver = Receiver { _ in Reply(status: 200, body: "ok") }
        let outbox = InMemoryOutbox()
        let secret = WebhookSecret.generate()
        try await withReceiver(receiver) { url in
            let deliveries = (0..<count).map { makeDelivery(url: url, secret: secret, key: "batch.progress:\($0)") }
            for delivery in deliveries { await outbox.add(delivery) }
            let started = ContinuousClock.now
            try await withSender(outbox: outbox, configuration: fastConfiguration(concurrency: concurrency)) { sender in
                sender.wake()
                try await waitUntil(timeout: .seconds(240), "every delivery to finish") {
                    await outbox.finished.count == count
                }
            }
            let elapsed = ContinuousClock.now - started
            let attempts = await outbox.attempts
            #expect(attempts.count == count)
            #expect(attempts.allSatisfy { $0.status == .delivered })
            let latencies = attempts.map { Double($0.latency.milliseconds) }.sorted()
            func percentile(_ p: Double) -> Double { latencies[min(latencies.count - 1, Int(Double(latencies.count) * p))] }
            let rate = Double(count) / elapsed.seconds
            print(
                "webhook-deliveries: \(count) deliveries, concurrency \(concurrency): "
                    + "\(String(format: "%.0f", rate)) deliveries/s, elapsed \(String(format: "%.2f", elapsed.seconds)) s, "
                    + "latency p50 \(percentile(0.5)) ms, p99 \(percentile(0.99)) ms, max \(latencies.last ?? 0) ms, "
                    + "receiver max in flight \(receiver.maxInFlight)"
            )
            fflush(nil)
        }
    }
}
