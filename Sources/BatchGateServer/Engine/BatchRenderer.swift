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
            id: job.id,
            kind: job.kind.rawValue,
            route: job.route,
            provider: job.provider,
            providerKind: job.providerKind,
            providerBatchID: job.providerBatchID,
            lifecycleStatus: job.state.lifecycle.rawValue,
            providerStatus: job.state.providerStatus,
            progress: job.state.progress,
            phases: job.state.phases.map {
                PhaseObject(
                    name: $0.name,
                    state: $0.state,
                    counts: $0.counts,
                    startedAt: $0.startedAt?.rfc3339,
                    completedAt: $0.completedAt?.rfc3339
                )
            },
            error: job.state.error.map { ErrorObject(code: $0.code, message: $0.message, providerCode: $0.providerCode) },
            createdAt: job.createdAt.rfc3339,
            updatedAt: job.updatedAt.rfc3339,
            completedAt: job.state.completedAt?.rfc3339,
            controlRequested: job.controlRequest.map { ControlRequestObject(action: $0.action, requestedAt: $0.requestedAt.rfc3339) },
            pollingURL: base,
            cancelURL: canCancel ? base + "/cancel" : nil,
            resultsURL: base + "/results",
            eventsURL: base + "/events",
            webhook: webhook,
            correlation: job.correlation,
            chunks: job.chunks.map {
                ChunkObject(
                    providerBatchID: $0.providerBatchID,
                    offset: $0.offset,
                    count: $0.count,
                    lifecycleStatus: $0.state.lifecycle.rawValue,
                    providerStatus: $0.state.providerStatus,
                    progress: $0.state.progress
                )
            },
            history: job.history.map {
                HistoryObject(
                    provider: $0.provider,
                    providerBatchID: $0.providerBatchID,
                    lifecycleStatus: $0.lifecycleStatus.rawValue,
                    reason: $0.reason,
                    at: $0.at.rfc3339
                )
            },
            metadata: job.metadata
        )
    }

    func render(_ job: Job, webhook: WebhookView? = nil) -> [UInt8] {
        Self.encode(object(job, webhook: webhook))
    }

    static func encode(_ value: some Encodable) -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.withoutEscapingSlashes, .sortedKeys]
        // Encoding our own value types cannot fail.
        return [UInt8]((try? encoder.encode(value)) ?? Data("{}".utf8))
    }
}

/// The client's webhook subscription as shown on the batch object: never the secret; with how delivery
/// is going and the latest attempts.
struct WebhookView: Encodable, Sendable {
    var subscription: WebhookSubscription
    var summary: WebhookDeliverySummary
    var attempts: [DeliveryAttempt]

    enum CodingKeys: String, CodingKey { case url, events, hasSecret = "has_secret", stopped, delivery, attempts }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(subscription.url, forKey: .url)
        try container.encode(subscription.events.map(\.rawValue), forKey: .events)
        try container.encode(subscription.secret != nil, forKey: .hasSecret)
        try container.encode(summary.stopped, forKey: .stopped)
        try container.encode(DeliverySummaryObject(summary), forKey: .delivery)
        try container.encode(attempts.map(AttemptObject.init), forKey: .attempts)
    }
}

/// `webhook.delivery` (CONTRACT §2).
struct DeliverySummaryObject: Encodable {
    let summary: WebhookDeliverySummary
    init(_ summary: WebhookDeliverySummary) { self.summary = summary }

    enum CodingKeys: String, CodingKey {
        case totalAttempts = "total_attempts", deliveredEvents = "delivered_events"
        case deliveredEventTypes = "delivered_event_types", pendingRetries = "pending_retries"
        case nextRetryAt = "next_retry_at", lastAttemptAt = "last_attempt_at", lastAttemptStatus = "last_attempt_status"
        case lastResponseStatus = "last_response_status", lastDeliveredAt = "last_delivered_at"
        case lastFailureAt = "last_failure_at", lastErrorMessage = "last_error_message"
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(summary.totalAttempts, forKey: .totalAttempts)
        try container.encode(summary.deliveredEvents, forKey: .deliveredEvents)
        try container.encode(summary.deliveredEventTypes, forKey: .deliveredEventTypes)
        try container.encode(summary.pendingRetries, forKey: .pendingRetries)
        try container.encode(summary.nextRetryAt?.rfc3339, forKey: .nextRetryAt)
        try container.encode(summary.lastAttemptAt?.rfc3339, forKey: .lastAttemptAt)
        try container.encode(summary.lastAttemptStatus, forKey: .lastAttemptStatus)
        try container.encode(summary.lastResponseStatus, forKey: .lastResponseStatus)
        try container.encode(summary.lastDeliveredAt?.rfc3339, forKey: .lastDeliveredAt)
        try container.encode(summary.lastFailureAt?.rfc3339, forKey: .lastFailureAt)
        try container.encode(summary.lastErrorMessage, forKey: .lastErrorMessage)
    }
}

/// One entry of `webhook.attempts` and of `GET /v1/batches/{id}/deliveries`.
struct AttemptObject: Encodable {
    let attempt: DeliveryAttempt
    init(_ attempt: DeliveryAttempt) { self.attempt = attempt }

    enum CodingKeys: String, CodingKey {
        case id, deliveryKey = "delivery_key", eventType = "event_type", status, attemptNumber = "attempt_number"
        case maxAttempts = "max_attempts", triedAt = "tried_at", deliveredAt = "delivered_at", nextRetryAt = "next_retry_at"
        case responseStatus = "response_status", errorMessage = "error_message", responseBodyPreview = "response_body_preview"
        case latencyMS = "latency_ms"
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(attempt.id, forKey: .id)
        try container.encode(attempt.deliveryKey, forKey: .deliveryKey)
        try container.encode(attempt.eventType, forKey: .eventType)
        try container.encode(attempt.status.rawValue, forKey: .status)
        try container.encode(attempt.attemptNumber, forKey: .attemptNumber)
        try container.encode(attempt.maxAttempts, forKey: .maxAttempts)
        try container.encode(attempt.triedAt.rfc3339, forKey: .triedAt)
        try container.encode(attempt.deliveredAt?.rfc3339, forKey: .deliveredAt)
        try container.encode(attempt.nextRetryAt?.rfc3339, forKey: .nextRetryAt)
        try container.encode(attempt.responseStatus, forKey: .responseStatus)
        try container.encode(attempt.errorMessage, forKey: .errorMessage)
        try container.encode(attempt.responseBodyPreview, forKey: .responseBodyPreview)
        try container.encode(attempt.latency.milliseconds, forKey: .latencyMS)
    }
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

/// One upstream batch of a chunked job.
struct ChunkObject: Encodable, Sendable {
    var providerBatchID: String?
    var offset: Int
    var count: Int
    var lifecycleStatus: String
    var providerStatus: String?
    var progress: BatchProgress

    enum CodingKeys: String, CodingKey {
        case providerBatchID = "provider_batch_id", offset, count, lifecycleStatus = "lifecycle_status"
        case providerStatus = "provider_status", progress
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(providerBatchID, forKey: .providerBatchID)
        try container.encode(offset, forKey: .offset)
        try container.encode(count, forKey: .count)
        try container.encode(lifecycleStatus, forKey: .lifecycleStatus)
        try container.encode(providerStatus, forKey: .providerStatus)
        try container.encode(progress, forKey: .progress)
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
    /// The latest cancel, pause or resume asked of the vendor; null when none was.
    var controlRequested: ControlRequestObject?
    var pollingURL: String
    var cancelURL: String?
    var resultsURL: String
    var eventsURL: String
    var webhook: WebhookView?
    var correlation: [String: String]
    /// The upstream batches of a job its provider took in parts; empty otherwise.
    var chunks: [ChunkObject]
    var history: [HistoryObject]
    var metadata: JSONValue

    enum CodingKeys: String, CodingKey {
        case id, object, kind, route, provider
        case providerKind = "provider_kind", providerBatchID = "provider_batch_id"
        case lifecycleStatus = "lifecycle_status", providerStatus = "provider_status"
        case progress, phases, error
        case createdAt = "created_at", updatedAt = "updated_at", completedAt = "completed_at"
        case controlRequested = "control_requested"
        case pollingURL = "polling_url", cancelURL = "cancel_url", resultsURL = "results_url", eventsURL = "events_url"
        case webhook, correlation, chunks, history, metadata
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
        try container.encode(controlRequested, forKey: .controlRequested)
        try container.encode(pollingURL, forKey: .pollingURL)
        try container.encode(cancelURL, forKey: .cancelURL)
        try container.encode(resultsURL, forKey: .resultsURL)
        try container.encode(eventsURL, forKey: .eventsURL)
        try container.encode(webhook, forKey: .webhook)
        try container.encode(correlation, forKey: .correlation)
        try container.encode(chunks, forKey: .chunks)
        try container.encode(history, forKey: .history)
        try container.encode(metadata, forKey: .metadata)
    }
}

/// `control_requested` on the batch object: `{"action": "cancel"|"pause"|"resume", "requested_at"}`.
struct ControlRequestObject: Encodable, Sendable {
    var action: String
    var requestedAt: String

    enum CodingKeys: String, CodingKey { case action, requestedAt = "requested_at" }
}
