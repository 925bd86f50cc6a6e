import BatchGateCore
import Dispatch
import Metrics
import Synchronization
import Tracing

/// The metrics of one provider's vendor calls, created once per provider so recording is a lookup-free
/// increment.
///
/// - `batchgate_vendor_requests_total{provider, operation, outcome}`: each call (submit, poll, results,
///   cancel, pause, resume, find_submitted), `outcome` `ok` or the error code (`rate_limited`, ...).
/// - `batchgate_vendor_request_duration_seconds{provider, operation}`: how long each call took.
/// - `batchgate_vendor_sockets_open{provider}`: vendor sockets open now (streaming providers).
/// - `batchgate_vendor_socket_reconnects_total{provider, reason}`: sockets that ended before the job did
///   (`dropped` by the vendor or the network, `failed` to connect or read), each followed by a reconnect.
struct VendorMetrics: Sendable {
    static let operations = ["submit", "poll", "results", "cancel", "pause", "resume", "find_submitted"]
    static let outcomes =
        ["ok"]
        + [ProviderError.Code.rateLimited, .unavailable, .timeout, .rejected, .badResponse, .notFound, .notSupported]
        .map(\.rawValue)

    let provider: String
    /// What this replica saw of the vendor lately, for the operator page.
    let stats = VendorStats()
    private let requests: [String: [String: Counter]]
    private let durations: [String: Metrics.Timer]
    let socketsOpen: Meter
    let dropped: Counter
    let failed: Counter

    init(provider: String) {
        self.provider = provider
        var requests: [String: [String: Counter]] = [:]
        var durations: [String: Metrics.Timer] = [:]
        for operation in Self.operations {
            for outcome in Self.outcomes {
                requests[operation, default: [:]][outcome] = Counter(
                    label: "batchgate_vendor_requests_total",
                    dimensions: [("provider", provider), ("operation", operation), ("outcome", outcome)]
                )
            }
            durations[operation] = Metrics.Timer(
                label: "batchgate_vendor_request_duration_seconds",
                dimensions: [("provider", provider), ("operation", operation)],
                preferredDisplayUnit: .seconds
            )
        }
        self.requests = requests
        self.durations = durations
        socketsOpen = Meter(label: "batchgate_vendor_sockets_open", dimensions: [("provider", provider)])
        dropped = Counter(label: "batchgate_vendor_socket_reconnects_total", dimensions: [("provider", provider), ("reason", "dropped")])
        failed = Counter(label: "batchgate_vendor_socket_reconnects_total", dimensions: [("provider", provider), ("reason", "failed")])
    }

    /// Runs one vendor call, as a client span named `<provider> <operation>` when its trace is sampled, and
    /// records its outcome and duration.
    func measure<T>(_ operation: String, _ call: () async throws(ProviderError) -> T) async throws(ProviderError) -> T {
        let start = DispatchTime.now().uptimeNanoseconds
        // The span is current for the call, so the vendor request's `traceparent` names it.
        let result = await TraceContext.withSpan("\(provider) \(operation)", ofKind: .client) { span -> Result<T, ProviderError> in
            let result: Result<T, ProviderError>
            do throws(ProviderError) { result = .success(try await call()) } catch { result = .failure(error) }
            if let span {
                span.attributes["batchgate.provider"] = provider
                span.attributes["batchgate.operation"] = operation
                span.attributes["batchgate.outcome"] = result.failure?.code.rawValue ?? "ok"
                if let failure = result.failure { span.setStatus(SpanStatus(code: .error, message: failure.code.rawValue)) }
            }
            return result
        }
        let elapsed = DispatchTime.now().uptimeNanoseconds - start
        durations[operation]?.recordNanoseconds(Int64(elapsed))
        stats.record(operation, failure: result.failure, nanoseconds: elapsed)
        requests[operation]?[result.failure?.code.rawValue ?? "ok"]?.increment()
        return try result.get()
    }
}

/// A provider whose vendor calls are counted and timed (`VendorMetrics`); everything else is the
/// wrapped provider's.
struct MeteredProvider: BatchProvider {
    let base: any BatchProvider
    let metrics: VendorMetrics

    init(_ base: any BatchProvider) {
        self.base = base
        metrics = VendorMetrics(provider: base.name)
    }

    var name: String { base.name }
    var kind: String { base.kind }
    var capabilities: ProviderCapabilities { base.capabilities }
    var pollInterval: Duration { base.pollInterval }

    func validate(_ input: JobInput) throws(GatewayError) { try base.validate(input) }
    func decodeWebhook(_ body: [UInt8]) throws(ProviderError) -> InboundEvent { try base.decodeWebhook(body) }
    func decodeWebhook(_ request: InboundWebhookRequest) throws(ProviderError) -> InboundEvent { try base.decodeWebhook(request) }

    func submit(_ submission: Submission) async throws(ProviderError) -> SubmitOutcome {
        try await metrics.measure("submit") { () async throws(ProviderError) in try await base.submit(submission) }
    }

    func poll(providerBatchID: String) async throws(ProviderError) -> ProviderObservation {
        try await metrics.measure("poll") { () async throws(ProviderError) in try await base.poll(providerBatchID: providerBatchID) }
    }

    func results(providerBatchID: String, input: JobInput) async throws(ProviderError) -> [ItemResult] {
        try await metrics.measure("results") { () async throws(ProviderError) in
            try await base.results(providerBatchID: providerBatchID, input: input)
        }
    }

    func cancel(providerBatchID: String) async throws(ProviderError) {
        try await metrics.measure("cancel") { () async throws(ProviderError) in try await base.cancel(providerBatchID: providerBatchID) }
    }

    func findSubmitted(_ submission: Submission, since: Timestamp) async throws(ProviderError) -> SubmitLookup {
        try await metrics.measure("find_submitted") { () async throws(ProviderError) in
            try await base.findSubmitted(submission, since: since)
        }
    }

    func pause(providerBatchID: String) async throws(ProviderError) {
        try await metrics.measure("pause") { () async throws(ProviderError) in try await base.pause(providerBatchID: providerBatchID) }
    }

    func resume(providerBatchID: String) async throws(ProviderError) {
        try await metrics.measure("resume") { () async throws(ProviderError) in try await base.resume(providerBatchID: providerBatchID) }
    }
}

/// A streaming provider metered like `MeteredProvider`, and its sockets too.
struct MeteredStreamingProvider: StreamingBatchProvider {
    let metered: MeteredProvider
    let streaming: any StreamingBatchProvider

    init(_ base: any StreamingBatchProvider) {
        metered = MeteredProvider(base)
        streaming = base
    }

    var name: String { metered.name }
    var kind: String { metered.kind }
    var capabilities: ProviderCapabilities { metered.capabilities }
    var pollInterval: Duration { metered.pollInterval }

    func validate(_ input: JobInput) throws(GatewayError) { try metered.validate(input) }
    func decodeWebhook(_ body: [UInt8]) throws(ProviderError) -> InboundEvent { try metered.decodeWebhook(body) }
    func decodeWebhook(_ request: InboundWebhookRequest) throws(ProviderError) -> InboundEvent { try metered.decodeWebhook(request) }
    func submit(_ submission: Submission) async throws(ProviderError) -> SubmitOutcome { try await metered.submit(submission) }
    func poll(providerBatchID: String) async throws(ProviderError) -> ProviderObservation { try await metered.poll(providerBatchID: providerBatchID) }
    func results(providerBatchID: String, input: JobInput) async throws(ProviderError) -> [ItemResult] {
        try await metered.results(providerBatchID: providerBatchID, input: input)
    }
    func cancel(providerBatchID: String) async throws(ProviderError) { try await metered.cancel(providerBatchID: providerBatchID) }
    func findSubmitted(_ submission: Submission, since: Timestamp) async throws(ProviderError) -> SubmitLookup {
        try await metered.findSubmitted(submission, since: since)
    }
    func pause(providerBatchID: String) async throws(ProviderError) { try await metered.pause(providerBatchID: providerBatchID) }
    func resume(providerBatchID: String) async throws(ProviderError) { try await metered.resume(providerBatchID: providerBatchID) }

    func observe(
        providerBatchID: String,
        onUpdate: @escaping @Sendable (StreamUpdate) async throws -> Void
    ) async throws -> StreamEnd {
        let metrics = metered.metrics
        metrics.socketsOpen.increment()
        metrics.stats.socketOpened(1)
        defer {
            metrics.socketsOpen.decrement()
            metrics.stats.socketOpened(-1)
        }
        do {
            let end = try await streaming.observe(providerBatchID: providerBatchID, onUpdate: onUpdate)
            if case .disconnected = end { metrics.dropped.increment() }
            return end
        } catch {
            if !(error is CancellationError) { metrics.failed.increment() }
            throw error
        }
    }
}

extension BatchProvider {
    /// This provider with its vendor calls (and sockets) metered.
    func metered() -> any BatchProvider {
        if let streaming = self as? any StreamingBatchProvider { return MeteredStreamingProvider(streaming) }
        return MeteredProvider(self)
    }
}

/// A vendor's recent figures as this replica saw them: calls and failures by operation, their total
/// duration, open sockets and the last error. Read by the operator page's vendors table.
final class VendorStats: Sendable {
    struct Snapshot: Sendable {
        var calls: [String: Int] = [:]
        var failures: [String: Int] = [:]
        var nanoseconds: [String: UInt64] = [:]
        var socketsOpen = 0
        var lastError: (operation: String, code: String, message: String, at: ContinuousClock.Instant)?
    }

    private let state = Mutex(Snapshot())

    func record(_ operation: String, failure: ProviderError?, nanoseconds: UInt64) {
        state.withLock { state in
            state.calls[operation, default: 0] += 1
            state.nanoseconds[operation, default: 0] += nanoseconds
            if let failure {
                state.failures[operation, default: 0] += 1
                state.lastError = (operation, failure.code.rawValue, failure.message, .now)
            }
        }
    }

    func socketOpened(_ change: Int) {
        state.withLock { $0.socketsOpen += change }
    }

    var snapshot: Snapshot { state.withLock { $0 } }
}

extension Result {
    var failure: Failure? {
        if case .failure(let error) = self { return error }
        return nil
    }
}

extension BatchProvider {
    /// The vendor figures of a metered provider (every provider the gateway runs is one).
    var stats: VendorStats? {
        (self as? MeteredProvider)?.metrics.stats ?? (self as? MeteredStreamingProvider)?.metered.metrics.stats
    }
}
