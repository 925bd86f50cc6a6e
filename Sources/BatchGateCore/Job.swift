/// A job as the gateway stores it: the batch object of CONTRACT §2 without its derived URLs.
public struct Job: Sendable, Hashable, Codable {
    public var id: String
    public var tenant: String
    public var kind: JobKind
    public var route: String
    /// The provider's name in `providers.yaml`.
    public var provider: String
    public var providerKind: String
    /// The upstream batch id, nil until the submit succeeded.
    public var providerBatchID: String?
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
    /// Bumped on every stored change; lets readers cache a rendering per version.
    public var version: Int

    public init(
        id: String, tenant: String, kind: JobKind, route: String, provider: String, providerKind: String,
        providerBatchID: String? = nil, state: JobState = JobState(), createdAt: Timestamp, updatedAt: Timestamp? = nil,
        correlation: [String: String] = [:], history: [HistoryEntry] = [], metadata: JSONValue = .object([:]),
        webhook: WebhookSubscription? = nil, inboundSecret: String, submitAttempts: Int = 0, version: Int = 1
    ) {
        self.id = id
        self.tenant = tenant
        self.kind = kind
        self.route = route
        self.provider = provider
        self.providerKind = providerKind
        self.providerBatchID = providerBatchID
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
