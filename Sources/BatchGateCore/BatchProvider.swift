/// What a provider adapter can do; checked by the router at config load and by the API.
public struct ProviderCapabilities: Sendable, Hashable {
    public var jobKinds: Set<JobKind>
    public var canCancel: Bool
    public var canPause: Bool
    /// Most items one upstream batch takes; larger inputs are chunked. Nil: no limit.
    public var maxItemsPerBatch: Int?
    /// Whether the vendor calls the gateway back (inbound webhooks).
    public var receivesWebhooks: Bool

    public init(jobKinds: Set<JobKind>, canCancel: Bool, canPause: Bool = false, maxItemsPerBatch: Int? = nil, receivesWebhooks: Bool = false) {
        self.jobKinds = jobKinds
        self.canCancel = canCancel
        self.canPause = canPause
        self.maxItemsPerBatch = maxItemsPerBatch
        self.receivesWebhooks = receivesWebhooks
    }
}

/// One submit of a job's input to a provider.
public struct Submission: Sendable {
    public var jobID: String
    public var input: JobInput
    /// Where the vendor should send its webhooks, when the provider receives webhooks.
    public var webhookURL: String?
    /// How many provider attempts the job had before this one (fallbacks, migrations).
    public var earlierAttempts: Int

    public init(jobID: String, input: JobInput, webhookURL: String?, earlierAttempts: Int = 0) {
        self.jobID = jobID
        self.input = input
        self.webhookURL = webhookURL
        self.earlierAttempts = earlierAttempts
    }

    /// An id for the vendor that names this attempt of the job: the job id, then `<job id>-<n>` for
    /// the n-th later attempt, so a vendor that already saw the job's id refuses no resubmit.
    public var attemptID: String { earlierAttempts == 0 ? jobID : "\(jobID)-\(earlierAttempts)" }
}

/// What a successful submit returned.
public struct SubmitOutcome: Sendable {
    public var providerBatchID: String
    /// The state the create response already showed, if any.
    public var observation: ProviderObservation?

    public init(providerBatchID: String, observation: ProviderObservation?) {
        self.providerBatchID = providerBatchID
        self.observation = observation
    }
}

/// A vendor webhook, decoded and normalised.
public struct InboundEvent: Sendable {
    /// The upstream batch the event is about.
    public var providerBatchID: String
    /// The vendor's event type, verbatim.
    public var eventType: String
    /// Equal for deliveries of the same vendor event (duplicates are stored once).
    public var dedupeKey: String
    public var observation: ProviderObservation
    /// When the vendor says it sent the event.
    public var sentAt: Timestamp?

    public init(providerBatchID: String, eventType: String, dedupeKey: String, observation: ProviderObservation, sentAt: Timestamp?) {
        self.providerBatchID = providerBatchID
        self.eventType = eventType
        self.dedupeKey = dedupeKey
        self.observation = observation
        self.sentAt = sentAt
    }
}

/// What a provider found when asked whether a submit that timed out created an upstream batch.
public enum SubmitLookup: Sendable, Hashable {
    /// The submit did create this batch: track it, do not submit again.
    case found(String)
    /// The vendor shows no such batch: submitting again creates no duplicate.
    case notFound
    /// The vendor's API cannot tell: submitting again may create a duplicate.
    case unknown
}

/// A provider adapter: speaks one vendor's protocol and maps it onto the gateway's model.
///
/// Adapters hold no job state; the gateway stores everything and calls them again after a restart.
public protocol BatchProvider: Sendable {
    /// The provider's name in `providers.yaml`.
    var name: String { get }
    /// The `kind` that selected this adapter, e.g. `olostep-airops`.
    var kind: String { get }
    var capabilities: ProviderCapabilities { get }
    /// How often a running batch is polled.
    var pollInterval: Duration { get }

    /// Checks an input against the vendor's documented limits before anything is sent.
    func validate(_ input: JobInput) throws(GatewayError)
    /// Creates the upstream batch.
    func submit(_ submission: Submission) async throws(ProviderError) -> SubmitOutcome
    /// Reads the upstream batch's current state.
    func poll(providerBatchID: String) async throws(ProviderError) -> ProviderObservation
    /// Reads per-item results of a finished upstream batch.
    func results(providerBatchID: String, input: JobInput) async throws(ProviderError) -> [ItemResult]
    /// Asks the vendor to stop the batch. Providers that cannot cancel throw `.notSupported`.
    func cancel(providerBatchID: String) async throws(ProviderError)
    /// Decodes a vendor webhook body. Providers without webhooks throw `.notSupported`.
    func decodeWebhook(_ body: [UInt8]) throws(ProviderError) -> InboundEvent
    /// Decodes a vendor webhook with its request headers: what the gateway calls. A vendor that signs its
    /// webhooks checks the signature here (`.rejected` for a bad one); the default reads the body alone.
    func decodeWebhook(_ request: InboundWebhookRequest) throws(ProviderError) -> InboundEvent
    /// After a submit that timed out (sent at `since`), looks for the upstream batch it may have created,
    /// so a retry does not create a second one.
    func findSubmitted(_ submission: Submission, since: Timestamp) async throws(ProviderError) -> SubmitLookup
    /// Asks the vendor to pause the batch (`capabilities.canPause`). Others throw `.notSupported`.
    func pause(providerBatchID: String) async throws(ProviderError)
    /// Asks the vendor to resume a paused batch (`capabilities.canPause`). Others throw `.notSupported`.
    func resume(providerBatchID: String) async throws(ProviderError)
}

/// An inbound vendor webhook as it arrived.
public struct InboundWebhookRequest: Sendable, Hashable {
    public var body: [UInt8]
    /// The request headers, names lower-cased; a repeated header's values joined with ", ".
    public var headers: [String: String]

    public init(body: [UInt8], headers: [String: String] = [:]) {
        self.body = body
        self.headers = headers
    }
}

extension BatchProvider {
    /// Vendors that do not sign their webhooks read the body alone.
    public func decodeWebhook(_ request: InboundWebhookRequest) throws(ProviderError) -> InboundEvent {
        try decodeWebhook(request.body)
    }

    /// Vendors whose API cannot find a batch by what was submitted.
    public func findSubmitted(_ submission: Submission, since: Timestamp) async throws(ProviderError) -> SubmitLookup {
        .unknown
    }
}

/// A failure talking to a vendor.
public struct ProviderError: Error, Sendable, Hashable, CustomStringConvertible {
    public enum Code: String, Sendable, Hashable {
        /// 429: try later (see `retryAfter`).
        case rateLimited = "rate_limited"
        /// 5xx, connection refused or reset: try later.
        case unavailable
        /// No answer in time: try later; a submit may or may not have happened.
        case timeout
        /// The vendor refused the request (4xx other than 429): retrying will not help.
        case rejected
        /// The vendor answered something we cannot read.
        case badResponse = "bad_response"
        /// The vendor does not know the batch.
        case notFound = "not_found"
        /// The operation does not exist for this vendor.
        case notSupported = "not_supported"
    }

    public var code: Code
    public var message: String
    public var httpStatus: Int?
    /// From `Retry-After`, when the vendor sent it.
    public var retryAfter: Duration?
    /// The vendor's own error code, when it gave one.
    public var providerCode: String?

    public init(_ code: Code, _ message: String, httpStatus: Int? = nil, retryAfter: Duration? = nil, providerCode: String? = nil) {
        self.code = code
        self.message = message
        self.httpStatus = httpStatus
        self.retryAfter = retryAfter
        self.providerCode = providerCode
    }

    /// Whether the same request may succeed later.
    public var isRetryable: Bool {
        switch code {
        case .rateLimited, .unavailable, .timeout: true
        case .rejected, .badResponse, .notFound, .notSupported: false
        }
    }

    public var description: String {
        var text = "\(code.rawValue): \(message)"
        if let httpStatus { text += " (HTTP \(httpStatus))" }
        return text
    }
}
