import BatchGateCore
import Foundation

/// Renders a stored job as the batch object of CONTRACT §2.
struct BatchRenderer: Sendable {
    /// Base of the URLs in the object, without a trailing slash.
    let publicURL: String
    /// Provider name → whether it can cancel (for `cancel_url`).
    let cancellable: @Sendable (String) -> Bool

    func object(_ job: Job, webhook: WebhookView? = nil) -> BatchObject {
        let base = "\(publicURL)/v1/batches/\(job.id)"
        let canCancel = !job.state.lifecycle.isTerminal && cancellable(job.provider)
        return BatchObject(
            id: job.id, kind: job.kind.rawValue, route: job.route, provider: job.provider,
            providerKind: job.providerKind, providerBatchID: job.providerBatchID,
            lifecycleStatus: job.state.lifecycle.rawValue, providerStatus: job.state.providerStatus,
            progress: job.state.progress,
            phases: job.state.phases.map {
                PhaseObject(
                    name: $0.name, state: $0.state, counts: $0.counts, startedAt: $0.startedAt?.rfc3339,
                    completedAt: $0.completedAt?.rfc3339)
            },
            error: job.state.error.map { ErrorObject(code: $0.code, message: $0.message, providerCode: $0.providerCode) },
            createdAt: job.createdAt.rfc3339, updatedAt: job.updatedAt.rfc3339,
            completedAt: job.state.completedAt?.rfc3339,
            pollingURL: base, cancelURL: canCancel ? base + "/cancel" : nil, resultsURL: base + "/results",
            eventsURL: base + "/events", webhook: webhook, correlation: job.correlation,
            history: job.history.map {
                HistoryObject(
                    provider: $0.provider, providerBatchID: $0.providerBatchID,
                    lifecycleStatus: $0.lifecycleStatus.rawValue, reason: $0.reason, at: $0.at.rfc3339)
            },
            metadata: job.metadata)
    }

    func render(_ job: Job, webhook: WebhookView? = nil) -> [UInt8] {
        Self.encode(object(job, webhook: webhook))
    }

    static func encode(_ value: some Encodable) -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.withoutEscapingSlashes]
        // Encoding our own value types cannot fail.
        return [UInt8]((try? encoder.encode(value)) ?? Data("{}".utf8))
    }
}

/// The client's webhook subscription as shown on the batch object (never the secret).
struct WebhookView: Encodable, Sendable {
    var url: String
    var events: [String]
    var hasSecret: Bool
    enum CodingKeys: String, CodingKey { case url, events, hasSecret = "has_secret" }
}

struct PhaseObject: Encodable, Sendable {
    var name: String
    var state: String
    var counts: [String: Int]
    var startedAt: String?
    var completedAt: String?

    enum CodingKeys: String, CodingKey { case name, state, counts, startedAt = "started_at", completedAt = "completed_at" }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(name, forKey: .name)
        try container.encode(state, forKey: .state)
        try container.encode(counts, forKey: .counts)
        try container.encode(startedAt, forKey: .startedAt)
        try container.encode(completedAt, forKey: .completedAt)
    }
}

struct ErrorObject: Encodable, Sendable {
    var code: String
    var message: String
    var providerCode: String?

    enum CodingKeys: String, CodingKey { case code, message, providerCode = "provider_code" }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(code, forKey: .code)
        try container.encode(message, forKey: .message)
        try container.encode(providerCode, forKey: .providerCode)
    }
}

struct HistoryObject: Encodable, Sendable {
    var provider: String
    var providerBatchID: String?
    var lifecycleStatus: String
    var reason: String
    var at: String

    enum CodingKeys: String, CodingKey {
        case provider, providerBatchID = "provider_batch_id", lifecycleStatus = "lifecycle_status", reason, at
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(provider, forKey: .provider)
        try container.encode(providerBatchID, forKey: .providerBatchID)
        try container.encode(lifecycleStatus, forKey: .lifecycleStatus)
        try container.encode(reason, forKey: .reason)
        try container.encode(at, forKey: .at)
    }
}

/// The batch object. Absent values are written as `null`, never omitted.
struct BatchObject: Encodable, Sendable {
    var object = "batch"
    var id: String
    var kind: String
    var route: String
    var provider: String
    var providerKind: String
    var providerBatchID: String?
    var lifecycleStatus: String
    var providerStatus: String?
    var progress: BatchProgress
    var phases: [PhaseObject]
    var error: ErrorObject?
    var createdAt: String
    var updatedAt: String
    var completedAt: String?
    var pollingURL: String
    var cancelURL: String?
    var resultsURL: String
    var eventsURL: String
    var webhook: WebhookView?
    var correlation: [String: String]
    var history: [HistoryObject]
    var metadata: JSONValue

    enum CodingKeys: String, CodingKey {
        case id, object, kind, route, provider
        case providerKind = "provider_kind", providerBatchID = "provider_batch_id"
        case lifecycleStatus = "lifecycle_status", providerStatus = "provider_status"
        case progress, phases, error
        case createdAt = "created_at", updatedAt = "updated_at", completedAt = "completed_at"
        case pollingURL = "polling_url", cancelURL = "cancel_url", resultsURL = "results_url", eventsURL = "events_url"
        case webhook, correlation, history, metadata
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(id, forKey: .id)
        try container.encode(object, forKey: .object)
        try container.encode(kind, forKey: .kind)
        try container.encode(route, forKey: .route)
        try container.encode(provider, forKey: .provider)
        try container.encode(providerKind, forKey: .providerKind)
        try container.encode(providerBatchID, forKey: .providerBatchID)
        try container.encode(lifecycleStatus, forKey: .lifecycleStatus)
        try container.encode(providerStatus, forKey: .providerStatus)
        try container.encode(progress, forKey: .progress)
        try container.encode(phases, forKey: .phases)
        try container.encode(error, forKey: .error)
        try container.encode(createdAt, forKey: .createdAt)
        try container.encode(updatedAt, forKey: .updatedAt)
        try container.encode(completedAt, forKey: .completedAt)
        try container.encode(pollingURL, forKey: .pollingURL)
        try container.encode(cancelURL, forKey: .cancelURL)
        try container.encode(resultsURL, forKey: .resultsURL)
        try container.encode(eventsURL, forKey: .eventsURL)
        try container.encode(webhook, forKey: .webhook)
        try container.encode(correlation, forKey: .correlation)
        try container.encode(history, forKey: .history)
        try container.encode(metadata, forKey: .metadata)
    }
}
