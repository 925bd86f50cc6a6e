/// `progress` of the batch object: `succeeded + failed + pending == total`, `percent` 0–100.
public struct BatchProgress: Sendable, Hashable, Codable {
    public var total: Int
    public var succeeded: Int
    public var failed: Int
    public var pending: Int
    public var percent: Int

    public init(total: Int = 0, succeeded: Int = 0, failed: Int = 0, pending: Int? = nil, percent: Int = 0) {
        self.total = total
        self.succeeded = succeeded
        self.failed = failed
        self.pending = pending ?? max(0, total - succeeded - failed)
        self.percent = percent
    }
}

/// One vendor phase (AirOps scraping, analyzing, enriching), kept verbatim under `phases`.
public struct BatchPhase: Sendable, Hashable, Codable {
    public var name: String
    /// The vendor's phase state: `pending`, `started`, `completed`, `failed` or `skipped`.
    public var state: String
    public var counts: [String: Int]
    public var startedAt: Timestamp?
    public var completedAt: Timestamp?

    public init(name: String, state: String, counts: [String: Int] = [:], startedAt: Timestamp? = nil, completedAt: Timestamp? = nil) {
        self.name = name
        self.state = state
        self.counts = counts
        self.startedAt = startedAt
        self.completedAt = completedAt
    }

    /// Forward order of phase states: pending 0, started 1, finished (completed, failed, skipped) 2.
    public var stateRank: Int {
        switch state {
        case "pending": 0
        case "started", "running", "in_progress", "processing": 1
        default: 2
        }
    }
}

/// `error` of the batch object.
public struct BatchError: Sendable, Hashable, Codable {
    /// Our stable code, e.g. `provider_failed`, `provider_expired`, `submit_failed`.
    public var code: String
    public var message: String
    /// The vendor's own code, e.g. `LLM_BATCH_FAILED`.
    public var providerCode: String?

    public init(code: String, message: String, providerCode: String? = nil) {
        self.code = code
        self.message = message
        self.providerCode = providerCode
    }
}

/// An earlier provider attempt of the same job (fallback, migration).
public struct HistoryEntry: Sendable, Hashable, Codable {
    public var provider: String
    public var providerBatchID: String?
    public var lifecycleStatus: LifecycleStatus
    public var reason: String
    public var at: Timestamp

    public init(provider: String, providerBatchID: String?, lifecycleStatus: LifecycleStatus, reason: String, at: Timestamp) {
        self.provider = provider
        self.providerBatchID = providerBatchID
        self.lifecycleStatus = lifecycleStatus
        self.reason = reason
        self.at = at
    }
}

/// The kinds of work the gateway accepts.
public enum JobKind: String, Sendable, Hashable, Codable, CaseIterable {
    case urlBatch = "url_batch"
    case documentTagging = "document_tagging"
}

/// The status of one item of a batch in `GET /v1/batches/{id}/results`.
public enum ItemStatus: String, Sendable, Hashable, Codable {
    case succeeded, failed, pending
}

/// One per-item result, normalised from the vendor's item.
public struct ItemResult: Sendable, Hashable, Codable {
    public var index: Int
    /// The client's key for the item: `custom_id` when given, else the URL or document title.
    public var key: String
    public var status: ItemStatus
    public var data: JSONValue?
    public var error: ItemError?

    public init(index: Int, key: String, status: ItemStatus, data: JSONValue? = nil, error: ItemError? = nil) {
        self.index = index
        self.key = key
        self.status = status
        self.data = data
        self.error = error
    }

    private enum CodingKeys: String, CodingKey { case index, key, status, data, error }

    /// Writes absent `data` and `error` as `null`, as the API shows them.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(index, forKey: .index)
        try container.encode(key, forKey: .key)
        try container.encode(status, forKey: .status)
        try container.encode(data, forKey: .data)
        try container.encode(error, forKey: .error)
    }
}

/// Why one item failed.
public struct ItemError: Sendable, Hashable, Codable {
    public var code: String
    public var message: String

    public init(code: String, message: String) {
        self.code = code
        self.message = message
    }
}
