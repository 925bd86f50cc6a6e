import BatchGateCore
import Hummingbird
import Logging
import Metrics
public import Prometheus
import Synchronization

/// The process's metrics: swift-metrics bootstrapped once with a Prometheus registry, which `GET /metrics`
/// renders.
public enum GatewayMetricsSystem {
    /// The registry every metric of this process is recorded in; the first use bootstraps swift-metrics.
    public static let registry: PrometheusCollectorRegistry = {
        let registry = PrometheusCollectorRegistry()
        var factory = PrometheusMetricsFactory(registry: registry)
        // Names and label keys from libraries (Hummingbird's `http.server.request.duration`) as Prometheus
        // accepts them: anything but letters, digits, `_` and `:` becomes `_`.
        factory.nameAndLabelSanitizer = { name, dimensions in
            (sanitized(name), dimensions.map { (sanitized($0.0), $0.1) })
        }
        // Writes per group commit: powers of two up to the writer's largest batch.
        factory.valueHistogramBuckets["batchgate_store_group_commit_size"] = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512]
        MetricsSystem.bootstrap(factory)
        return registry
    }()

    static func sanitized(_ name: String) -> String {
        String(
            name.unicodeScalars.map { scalar -> Character in
                scalar.isASCII && (scalar.properties.isAlphabetic || ("0"..."9").contains(scalar) || scalar == "_" || scalar == ":")
                    ? Character(scalar) : "_"
            }
        )
    }
}

/// Samples what only the store knows into gauges when `GET /metrics` is scraped (at most once a second,
/// however often it is scraped): jobs by lifecycle status and provider, and the webhook outbox's depth and
/// oldest due delivery.
final class StoreSampler: Sendable {
    let engine: JobEngine
    private let last = Mutex<ContinuousClock.Instant?>(nil)

    init(engine: JobEngine) {
        self.engine = engine
    }

    func refresh() async {
        let due = last.withLock { last -> Bool in
            if let previous = last, previous.duration(to: .now) < .seconds(1) { return false }
            last = .now
            return true
        }
        guard due else { return }
        do {
            engine.metrics.setJobCounts(try await engine.store.jobCounts())
            let now = engine.now()
            let backlog = try await engine.store.outboxBacklog(now: now)
            engine.metrics.setOutbox(pending: backlog.pending, oldestDue: backlog.oldestDue, now: now)
        } catch {
            engine.logger.warning("could not sample store metrics", metadata: ["error": "\(error)"])
        }
    }
}
