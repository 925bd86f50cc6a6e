import BatchGateCore
import Dispatch
import Metrics
import Tracing

/// The gateway's own metrics (besides `VendorMetrics` and the webhook sender's), created once so
/// recording is an increment. Names follow `batchgate_<area>_<what>[_<unit>]`; every family is listed
/// in the README.
///
/// - `batchgate_inbound_webhooks_total{provider, outcome}`: vendor webhooks received; `outcome` is the
///   receipt (`applied`, `recorded`, `duplicate`) or the refusal (`invalid_token`, `invalid_signature`,
///   `invalid_payload`, `error`). A provider name that is not configured counts as `unknown`.
/// - `batchgate_store_commit_duration_seconds{operation}`: commits of creates, job changes and delivery
///   attempts, as the engine waits for them.
/// - `batchgate_lease_claims_total`, `batchgate_lease_takeovers_total`, `batchgate_leases_lost_total`:
///   unleased jobs this replica claimed, leases it took from a replica that was gone (fence raised), and
///   leases another replica took from it.
/// - `batchgate_jobs{lifecycle, provider}`, `batchgate_webhook_outbox_depth`,
///   `batchgate_webhook_outbox_oldest_due_seconds`: sampled from the store (`MetricsSampler`), so every
///   replica reports the whole store.
final class GatewayMetrics: Sendable {
    static let webhookOutcomes = ["applied", "recorded", "duplicate", "invalid_token", "invalid_signature", "invalid_payload", "error"]

    private let inbound: [String: [String: Counter]]
    private let commits: [String: Metrics.Timer]
    private let leaseClaims = Counter(label: "batchgate_lease_claims_total")
    private let leaseTakeovers = Counter(label: "batchgate_lease_takeovers_total")
    private let leasesLost = Counter(label: "batchgate_leases_lost_total")
    private let outboxDepth = Gauge(label: "batchgate_webhook_outbox_depth")
    private let outboxOldestDue = Gauge(label: "batchgate_webhook_outbox_oldest_due_seconds")
    private let providers: [String]

    init(providers: [String]) {
        self.providers = providers
        var inbound: [String: [String: Counter]] = [:]
        for provider in providers + ["unknown"] {
            for outcome in Self.webhookOutcomes {
                inbound[provider, default: [:]][outcome] = Counter(
                    label: "batchgate_inbound_webhooks_total",
                    dimensions: [("provider", provider), ("outcome", outcome)]
                )
            }
        }
        self.inbound = inbound
        var commits: [String: Metrics.Timer] = [:]
        for operation in ["create", "apply", "record_attempt"] {
            commits[operation] = Metrics.Timer(
                label: "batchgate_store_commit_duration_seconds",
                dimensions: [("operation", operation)],
                preferredDisplayUnit: .seconds
            )
        }
        self.commits = commits
    }

    func claimed(_ jobs: Int) { leaseClaims.increment(by: jobs) }
    func tookOver() { leaseTakeovers.increment() }
    func lost(_ jobs: Int) { leasesLost.increment(by: jobs) }

    /// Sets the outbox gauges: deliveries not finished, and how long ago the earliest due one was due.
    func setOutbox(pending: Int, oldestDue: Timestamp?, now: Timestamp) {
        outboxDepth.record(pending)
        outboxOldestDue.record(oldestDue.map { Double(max(0, now.milliseconds - $0.milliseconds)) / 1000 } ?? 0)
    }

    /// Counts one inbound vendor webhook.
    func inboundWebhook(provider: String, outcome: String) {
        let counters = inbound[provider] ?? inbound["unknown"]
        (counters?[outcome] ?? counters?["error"])?.increment()
    }

    /// Runs one store commit, as a span named `store <operation>` when its trace is sampled, and records how
    /// long it took.
    func commit<T>(_ operation: String, _ body: () async throws -> T) async rethrows -> T {
        let start = DispatchTime.now().uptimeNanoseconds
        defer { commits[operation]?.recordNanoseconds(Int64(DispatchTime.now().uptimeNanoseconds - start)) }
        return try await TraceContext.withSpan("store \(operation)", ofKind: .client) { span in
            span?.attributes["db.operation.name"] = operation
            return try await body()
        }
    }

    /// Sets `batchgate_jobs` from the store's counts; a (lifecycle, provider) pair with no jobs reads 0.
    func setJobCounts(_ counts: [JobCount]) {
        var byKey: [String: Int] = [:]
        for count in counts { byKey["\(count.lifecycle.rawValue)|\(count.provider)"] = count.count }
        let names = Set(providers + counts.map(\.provider))
        for lifecycle in LifecycleStatus.allCases {
            for provider in names {
                Gauge(label: "batchgate_jobs", dimensions: [("lifecycle", lifecycle.rawValue), ("provider", provider)])
                    .record(byKey["\(lifecycle.rawValue)|\(provider)"] ?? 0)
            }
        }
    }
}
