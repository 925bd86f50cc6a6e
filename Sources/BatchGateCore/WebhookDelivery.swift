/// One event to deliver to one client URL, with its retry state.
///
/// The event id, its creation time and the batch object (`data`) are fixed when the event is created;
/// each attempt sends them in a fresh envelope (CONTRACT §4) whose `delivery.attempt` is the attempt
/// being made, under the same `webhook-id`.
public struct WebhookDelivery: Sendable, Hashable {
    /// `dlv_…`.
    public var id: String
    /// The job the event is about.
    public var jobID: String
    /// The tenant that owns the job.
    public var tenant: String
    /// What is delivered at most once successfully: `batch.completed`, `batch.progress:40`.
    public var deliveryKey: String
    /// `batch.completed`, `batch.progress`, ….
    public var eventType: String
    /// `evt_…`; sent as `webhook-id` on every attempt so receivers can deduplicate.
    public var eventID: String
    /// When the event was created: the envelope's `created_at`.
    public var createdAt: Timestamp
    /// The client's webhook URL; checked again by the policy before every attempt.
    public var url: String
    /// `whsec_…`, or nil for an unsigned subscription. Never log it.
    public var secret: String?
    /// The batch object as rendered when the event was created: the envelope's `data`, as JSON.
    public var data: [UInt8]
    /// Attempts made so far.
    public var attempt: Int
    /// Attempts allowed in total.
    public var maxAttempts: Int
    /// When the next attempt is due.
    public var nextAttemptAt: Timestamp
    /// The job's `traceparent` (`Job.traceParent`): each attempt is a span of the job's trace, and the
    /// receiver is sent a `traceparent` of that trace.
    public var traceParent: String?

    /// A delivery; `attempt` counts attempts already made (0 for a new one).
    public init(
        id: String,
        jobID: String,
        tenant: String,
        deliveryKey: String,
        eventType: String,
        eventID: String,
        createdAt: Timestamp,
        url: String,
        secret: String?,
        data: [UInt8],
        attempt: Int = 0,
        maxAttempts: Int,
        nextAttemptAt: Timestamp,
        traceParent: String? = nil
    ) {
        self.id = id
        self.jobID = jobID
        self.tenant = tenant
        self.deliveryKey = deliveryKey
        self.eventType = eventType
        self.eventID = eventID
        self.createdAt = createdAt
        self.url = url
        self.secret = secret
        self.data = data
        self.attempt = attempt
        self.maxAttempts = maxAttempts
        self.nextAttemptAt = nextAttemptAt
        self.traceParent = traceParent
    }
}

extension WebhookDelivery {
    /// The body of attempt `attempt` (1-based):
    /// `{"id", "type", "created_at", "delivery": {"key", "attempt", "max_attempts"}, "data"}`.
    public func body(attempt: Int) -> [UInt8] {
        WebhookEnvelope.body(
            eventID: eventID,
            type: eventType,
            createdAt: createdAt,
            deliveryKey: deliveryKey,
            attempt: attempt,
            maxAttempts: maxAttempts,
            data: data
        )
    }
}

/// What one attempt led to.
public enum DeliveryOutcome: Sendable, Hashable, Codable {
    /// A 2xx: done, never sent again.
    case delivered(status: Int)
    /// Try again at `at` (a non-2xx other than 410, or no response).
    case retry(status: Int?, error: String, at: Timestamp)
    /// Given up: attempts exhausted, or the URL is refused at send time.
    case failedPermanently(status: Int?, error: String)
    /// 410 Gone: the receiver asks to stop. The delivery fails permanently and the subscription of
    /// the job should be switched off so later events are not queued for it.
    case stopSubscription(status: Int)

    /// The attempt status this outcome is stored as.
    public var attemptStatus: DeliveryAttemptStatus {
        switch self {
        case .delivered: .delivered
        case .retry: .scheduledRetry
        case .failedPermanently, .stopSubscription: .failedPermanently
        }
    }

    /// The receiver's HTTP status, if it answered.
    public var responseStatus: Int? {
        switch self {
        case .delivered(let status), .stopSubscription(let status): status
        case .retry(let status, _, _), .failedPermanently(let status, _): status
        }
    }

    /// Why the attempt did not succeed, nil when it did.
    public var errorMessage: String? {
        switch self {
        case .delivered: nil
        case .retry(_, let error, _), .failedPermanently(_, let error): error
        case .stopSubscription(let status): "HTTP \(status): the receiver asked to stop deliveries (subscription disabled)"
        }
    }

    /// When the next attempt is due, for a retry.
    public var nextRetryAt: Timestamp? {
        if case .retry(_, _, let at) = self { return at }
        return nil
    }

    /// Whether the delivery is finished (delivered or given up).
    public var isFinal: Bool {
        if case .retry = self { return false }
        return true
    }
}

/// `status` of an attempt in the batch object's `webhook.attempts`.
public enum DeliveryAttemptStatus: String, Sendable, Hashable, Codable {
    /// The receiver answered 2xx.
    case delivered
    /// The attempt failed; another is scheduled at `next_retry_at`.
    case scheduledRetry = "scheduled_retry"
    /// The delivery was given up (attempts exhausted, URL refused, or 410 Gone).
    case failedPermanently = "failed_permanently"
}

/// One attempt to deliver, as shown in `webhook.attempts` and `GET /v1/batches/{id}/deliveries`.
public struct DeliveryAttempt: Sendable, Hashable, Codable {
    /// The most characters kept of a response body.
    public static let previewLimit = 500

    /// `dla_…`.
    public var id: String
    /// The delivery (`dlv_…`) this attempt belongs to.
    public var deliveryID: String
    /// The job the event is about.
    public var jobID: String
    /// The delivery's key, e.g. `batch.progress:40`.
    public var deliveryKey: String
    /// The event type, e.g. `batch.completed`.
    public var eventType: String
    /// What the attempt led to; `status`, `responseStatus`, `errorMessage` and `nextRetryAt` derive from it.
    public var outcome: DeliveryOutcome
    /// 1-based.
    public var attemptNumber: Int
    /// Attempts allowed in total for the delivery.
    public var maxAttempts: Int
    /// When the attempt started.
    public var triedAt: Timestamp
    /// At most `previewLimit` characters of the response body, cut on a character boundary.
    public var responseBodyPreview: String?
    /// From sending the request to having the whole response (or the failure).
    public var latency: Duration

    /// An attempt record.
    public init(
        id: String,
        deliveryID: String,
        jobID: String,
        deliveryKey: String,
        eventType: String,
        outcome: DeliveryOutcome,
        attemptNumber: Int,
        maxAttempts: Int,
        triedAt: Timestamp,
        responseBodyPreview: String? = nil,
        latency: Duration
    ) {
        self.id = id
        self.deliveryID = deliveryID
        self.jobID = jobID
        self.deliveryKey = deliveryKey
        self.eventType = eventType
        self.outcome = outcome
        self.attemptNumber = attemptNumber
        self.maxAttempts = maxAttempts
        self.triedAt = triedAt
        self.responseBodyPreview = responseBodyPreview
        self.latency = latency
    }

    /// `delivered`, `scheduled_retry` or `failed_permanently`.
    public var status: DeliveryAttemptStatus { outcome.attemptStatus }
    /// When a delivered attempt finished.
    public var deliveredAt: Timestamp? {
        if case .delivered = outcome { return triedAt.adding(latency) }
        return nil
    }
    /// When the next attempt is due, for a scheduled retry.
    public var nextRetryAt: Timestamp? { outcome.nextRetryAt }
    /// The receiver's HTTP status, if it answered.
    public var responseStatus: Int? { outcome.responseStatus }
    /// Why the attempt did not succeed, nil when it did.
    public var errorMessage: String? { outcome.errorMessage }
    /// Whether the receiver asked (410) to stop this job's subscription.
    public var stopsSubscription: Bool {
        if case .stopSubscription = outcome { return true }
        return false
    }

    /// The first `previewLimit` characters of a body as UTF-8 (invalid bytes replaced), cut on a
    /// character boundary; nil for an empty body.
    public static func preview(of body: [UInt8]) -> String? {
        guard !body.isEmpty else { return nil }
        // A character can take many bytes; decoding a bounded prefix keeps huge bodies cheap.
        let byteLimit = previewLimit * 16
        var end = Swift.min(body.count, byteLimit)
        if end < body.count {
            // Step back off UTF-8 continuation bytes so no sequence is split.
            var steps = 0
            while end > 0, steps < 4, body[end] & 0xC0 == 0x80 {
                end -= 1
                steps += 1
            }
        }
        let text = String(decoding: body[..<end], as: UTF8.self)
        return String(text.prefix(previewLimit))
    }
}

/// Where deliveries wait: the store implements it; the sender drives it.
///
/// Claims must lapse (a lease) so a delivery claimed by a process that stopped without recording
/// is offered again; an attempt interrupted by task cancellation is not recorded.
public protocol WebhookOutbox: Sendable {
    /// Due deliveries (`nextAttemptAt <= now`, not finished), oldest first, at most `limit`, claimed so
    /// a second call does not return them again until released by `record` or until `now + lease`
    /// (the sender chooses a lease longer than any attempt can take).
    func claimDue(now: Timestamp, limit: Int, lease: Duration) async throws -> [WebhookDelivery]
    /// Stores the attempt and the delivery's new state atomically, and releases the claim.
    ///
    /// A retry sets `attempt` to `attempt.attemptNumber` and `nextAttemptAt` to the retry time; a
    /// final outcome finishes the delivery; `stopsSubscription` also disables the job's webhook.
    func record(_ attempt: DeliveryAttempt, for delivery: WebhookDelivery) async throws
    /// When the earliest unclaimed, unfinished delivery is due, if any (so the sender sleeps exactly
    /// until then), as of `now` (claims of replicas gone by then do not count). May be in the past.
    func nextDueTime(now: Timestamp) async throws -> Timestamp?
}
