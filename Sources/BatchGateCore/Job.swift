/// A cancel, pause or resume a client asked the vendor for.
public struct ControlRequest: Sendable, Hashable, Codable {
    /// `cancel`, `pause` or `resume`.
    public var action: String
    /// When the vendor accepted the request.
    public var requestedAt: Timestamp

    /// A request for `action` made at `requestedAt`.
    public init(action: String, requestedAt: Timestamp) {
        self.action = action
        self.requestedAt = requestedAt
    }
}

/// A job as the gateway stores it: the batch object of CONTRACT §2 without its derived URLs.
public struct Job: Sendable, Hashable, Codable {
    public var id: String
    public var tenant: String
    public var kind: JobKind
    public var route: String
    /// The provider's name in `providers.yaml`.
    public var provider: String
    public var providerKind: String
    /// The upstream batch id, nil until the submit succeeded. For a chunked job, the first chunk's.
    public var providerBatchID: String?
    /// The upstream batches of a job split because its provider takes fewer items per batch; empty when
    /// the job is one upstream batch.
    public var chunks: [UpstreamChunk]
    public var state: JobState
    public var createdAt: Timestamp
    public var updatedAt: Timestamp
    public var correlation: [String: String]
    public var history: [HistoryEntry]
    public var metadata: JSONValue
    /// Where the client wants webhooks, if anywhere.
    public var webhook: WebhookSubscription?
    /// Secret part of the per-job inbound webhook token; never rendered.
    public var inboundSecret: String
    /// Failed submit attempts to the current provider.
    public var submitAttempts: Int
    /// When a submit that timed out was sent: the next turn asks the provider whether it created a batch.
    public var unconfirmedSubmitAt: Timestamp?
    /// The latest cancel, pause or resume a client asked the vendor for, which the vendor confirms (or not)
    /// later; nil when none was asked. Kept apart from `state.providerStatus`, which only ever holds a
    /// status the vendor sent.
    public var controlRequest: ControlRequest?
    /// Bumped on every stored change; lets readers cache a rendering per version.
    public var version: Int
    /// The W3C `traceparent` of the request that created the job, when tracing is on: the job's later
    /// vendor calls, commits and webhook attempts join that trace (`TraceContext`).
    public var traceParent: String?

    public init(
        id: String,
        tenant: String,
        kind: JobKind,
        route: String,
        provider: String,
        providerKind: String,
        providerBatchID: String? = nil,
        chunks: [UpstreamChunk] = [],
        state: JobState = JobState(),
        createdAt: Timestamp,
        updatedAt: Timestamp? = nil,
        correlation: [String: String] = [:],
        history: [HistoryEntry] = [],
        metadata: JSONValue = .object([:]),
        webhook: WebhookSubscription? = nil,
        inboundSecret: String,
        submitAttempts: Int = 0,
        version: Int = 1
    ) {
        self.id = id
        self.tenant = tenant
        self.kind = kind
        self.route = route
        self.provider = provider
        self.providerKind = providerKind
        self.providerBatchID = providerBatchID
        self.chunks = chunks
        self.state = state
        self.createdAt = createdAt
        self.updatedAt = updatedAt ?? createdAt
        self.correlation = correlation
        self.history = history
        self.metadata = metadata
        self.webhook = webhook
        self.inboundSecret = inboundSecret
        self.submitAttempts = submitAttempts
        self.version = version
    }

    /// The token the vendor calls back with: `<job id>.<secret>`.
    public var inboundToken: String { "\(id).\(inboundSecret)" }

    /// Whether the job still needs the gateway's attention.
    public var isActive: Bool { !state.lifecycle.isTerminal }
}

/// One upstream batch of a chunked job: items `offset ..< offset + count` of its input.
public struct UpstreamChunk: Sendable, Hashable, Codable {
    public var offset: Int
    public var count: Int
    /// Nil until its submit succeeded.
    public var providerBatchID: String?
    /// This batch's own state, folded by the same state machine as a job's.
    public var state: JobState
    public var submitAttempts: Int
    /// When a submit of this chunk that timed out was sent (see `Job.unconfirmedSubmitAt`).
    public var unconfirmedSubmitAt: Timestamp?

    public init(offset: Int, count: Int, providerBatchID: String? = nil, state: JobState = JobState(), submitAttempts: Int = 0) {
        self.offset = offset
        self.count = count
        self.providerBatchID = providerBatchID
        self.state = state
        self.submitAttempts = submitAttempts
    }

    /// Splits `itemCount` items into chunks of at most `size`.
    public static func split(itemCount: Int, size: Int) -> [UpstreamChunk] {
        stride(from: 0, to: itemCount, by: max(1, size)).map { offset in
            UpstreamChunk(
                offset: offset,
                count: min(size, itemCount - offset),
                state: JobState(progress: BatchProgress(total: min(size, itemCount - offset)))
            )
        }
    }

    /// The job-level observation of a set of chunks: counts add up; the job is finished when every
    /// chunk is, `completed` if any chunk completed and `failed` only if every chunk failed.
    public static func aggregate(_ chunks: [UpstreamChunk]) -> ProviderObservation {
        var total = 0
        var succeeded = 0
        var failed = 0
        var weightedPercent = 0
        for chunk in chunks {
            let progress = chunk.state.progress
            total += max(progress.total, chunk.count)
            succeeded += progress.succeeded
            let finishedUnsuccessfully = chunk.state.lifecycle.isTerminal && chunk.state.lifecycle != .completed
            failed += finishedUnsuccessfully ? max(progress.failed, chunk.count - progress.succeeded) : progress.failed
            weightedPercent += progress.percent * chunk.count
        }
        let lifecycles = chunks.map(\.state.lifecycle)
        let lifecycle: LifecycleStatus
        if !lifecycles.isEmpty, lifecycles.allSatisfy(\.isTerminal) {
            if lifecycles.contains(.completed) {
                lifecycle = .completed
            } else if lifecycles.allSatisfy({ $0 == .expired }) {
                lifecycle = .expired
            } else if lifecycles.allSatisfy({ $0 == .cancelled }) {
                lifecycle = .cancelled
            } else {
                lifecycle = .failed
            }
        } else if lifecycles.contains(where: { $0 != .pending }) {
            lifecycle = .running
        } else {
            lifecycle = .pending
        }
        let statuses = Array(Set(chunks.compactMap(\.state.providerStatus))).sorted()
        let itemCount = chunks.reduce(0) { $0 + $1.count }
        return ProviderObservation(
            lifecycle: lifecycle,
            providerStatus: statuses.isEmpty ? "pending" : statuses.joined(separator: ","),
            total: total,
            succeeded: succeeded,
            failed: failed,
            percentHint: itemCount > 0 ? weightedPercent / itemCount : 0,
            error: lifecycle == .completed ? nil : chunks.lazy.compactMap(\.state.error).first
        )
    }
}
