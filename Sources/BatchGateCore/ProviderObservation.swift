/// What an adapter learned about an upstream batch from one poll or one vendor event, already
/// normalised to the gateway's model. The state machine folds it into the stored state.
public struct ProviderObservation: Sendable, Hashable {
    public var lifecycle: LifecycleStatus
    /// The vendor's own status string, verbatim.
    public var providerStatus: String
    /// Number of items, when the vendor says.
    public var total: Int?
    public var succeeded: Int
    public var failed: Int
    /// A finer progress estimate (0–100) than the counts give, e.g. weighted by vendor phase.
    public var percentHint: Int?
    public var phases: [BatchPhase]
    public var error: BatchError?
    /// Vendor correlation ids, e.g. `llm_batch_id`.
    public var correlation: [String: String]

    public init(
        lifecycle: LifecycleStatus,
        providerStatus: String,
        total: Int? = nil,
        succeeded: Int = 0,
        failed: Int = 0,
        percentHint: Int? = nil,
        phases: [BatchPhase] = [],
        error: BatchError? = nil,
        correlation: [String: String] = [:]
    ) {
        self.lifecycle = lifecycle
        self.providerStatus = providerStatus
        self.total = total
        self.succeeded = succeeded
        self.failed = failed
        self.percentHint = percentHint
        self.phases = phases
        self.error = error
        self.correlation = correlation
    }
}
