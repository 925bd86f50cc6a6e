/// The event types a client can subscribe to (CONTRACT §4).
public enum WebhookEventType: String, Sendable, Hashable, Codable, CaseIterable {
    case created = "batch.created"
    case progress = "batch.progress"
    case completed = "batch.completed"
    case failed = "batch.failed"
    case cancelled = "batch.cancelled"
    case expired = "batch.expired"

    /// What a subscription gets when it names no events: the four terminal ones.
    public static let defaultSubscription: [WebhookEventType] = [.completed, .failed, .cancelled, .expired]

    /// The event announcing a terminal status.
    public static func terminal(_ status: LifecycleStatus) -> WebhookEventType? {
        switch status {
        case .completed: .completed
        case .failed: .failed
        case .cancelled: .cancelled
        case .expired: .expired
        case .pending, .running: nil
        }
    }
}

/// A job's webhook subscription. The secret is stored to sign deliveries and never rendered.
public struct WebhookSubscription: Sendable, Hashable, Codable {
    public var url: String
    /// `whsec_…`, or nil for unsigned deliveries.
    public var secret: String?
    public var events: [WebhookEventType]

    public init(url: String, secret: String?, events: [WebhookEventType]) {
        self.url = url
        self.secret = secret
        self.events = events
    }

    /// Whether the subscription wants `type`.
    public func wants(_ type: WebhookEventType) -> Bool { events.contains(type) }
}

/// `webhook.delivery` of the batch object: how delivery to the client is going (CONTRACT §2).
public struct WebhookDeliverySummary: Sendable, Hashable {
    public var totalAttempts = 0
    public var deliveredEvents = 0
    public var deliveredEventTypes: [String] = []
    public var pendingRetries = 0
    public var nextRetryAt: Timestamp?
    public var lastAttemptAt: Timestamp?
    public var lastAttemptStatus: String?
    public var lastResponseStatus: Int?
    public var lastDeliveredAt: Timestamp?
    public var lastFailureAt: Timestamp?
    public var lastErrorMessage: String?
    /// Whether a 410 from the receiver switched the subscription off.
    public var stopped = false

    public init() {}

    /// The summary a store assembles from what it keeps of a job's deliveries.
    ///
    /// - Parameters:
    ///   - recent: the latest attempts, newest first.
    ///   - deliveredTypes: the event type of each delivered delivery, oldest first.
    ///   - retrying: deliveries waiting for another attempt after a failed one, and when the first is due.
    ///   - lastDeliveredAt: when the latest successful attempt was made.
    ///   - lastFailure: the latest attempt that did not deliver.
    public init(
        totalAttempts: Int,
        recent: [DeliveryAttempt],
        deliveredTypes: [String],
        retrying: (count: Int, nextAt: Timestamp?),
        lastDeliveredAt: Timestamp?,
        lastFailure: DeliveryAttempt?,
        stopped: Bool
    ) {
        self.totalAttempts = totalAttempts
        deliveredEvents = deliveredTypes.count
        var seen = Set<String>()
        deliveredEventTypes = deliveredTypes.filter { seen.insert($0).inserted }
        pendingRetries = retrying.count
        nextRetryAt = retrying.nextAt
        if let last = recent.first {
            lastAttemptAt = last.triedAt
            lastAttemptStatus = last.status.rawValue
            lastResponseStatus = last.responseStatus
        }
        self.lastDeliveredAt = lastDeliveredAt
        lastFailureAt = lastFailure?.triedAt
        lastErrorMessage = lastFailure?.errorMessage
        self.stopped = stopped
    }
}
