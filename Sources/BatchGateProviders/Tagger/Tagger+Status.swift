public import BatchGateCore

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// How a document-tagging job maps onto the gateway's model (CONTRACT §1).
///
/// Lifecycle, from the vendor's job `status` (status endpoint, `catchup.state.status`, keepalive `status`):
///
/// | vendor `status` | `lifecycle_status` | note                                                  |
/// |-----------------|--------------------|-------------------------------------------------------|
/// | `pending`       | `pending`          |                                                       |
/// | `processing`    | `running`          |                                                       |
/// | `paused`        | `running`          | `provider_status` shows `paused`                      |
/// | `completed`     | `completed`        | per-document failures are counted in `progress.failed` |
/// | `failed`        | `failed`           | `error.code` `provider_failed`                        |
/// | `cancelled`     | `cancelled`        |                                                       |
/// | other / missing | `running`          | the vendor is reporting on it, so it exists and runs   |
///
/// WebSocket messages:
///
/// | message                                   | becomes                                                        |
/// |-------------------------------------------|----------------------------------------------------------------|
/// | `catchup`                                 | snapshot: `state` as above, every entry of `results` as a row   |
/// | `progress`, or no `type` with a `row_id`   | one row; the job is `running`; `progress` × 100 as the percent hint |
/// | `completed`                               | terminal `completed`: `processed_count` succeeded, `failed_count` failed |
/// | `cancelled`                               | terminal `cancelled`, counts as for `completed`                |
/// | `error`                                   | terminal `failed`, `error.message` from `error` (no counts)    |
/// | `keepalive`                               | keepalive; a non-terminal `status` as above                    |
/// | no `type`, `error` but no `row_id`        | a refusal notice (authentication); the close code that follows decides |
///
/// Rows (`progress.succeeded`/`failed` count final rows; the vendor's counts are taken when larger):
///
/// | row `status`                        | result `status` | final |
/// |-------------------------------------|-----------------|-------|
/// | `success`                           | `succeeded`     | yes   |
/// | `failed` without `retry_after_ms`   | `failed`        | yes   |
/// | `failed` with `retry_after_ms`      | `pending`       | no: the vendor retries it (rate limit) |
/// | `pending`, `processing`, other      | `pending`       | no    |
///
/// A row's `data` keeps `title`, `row_number`, `tags`, `metadata`, `model_name`, `retry_count`,
/// `error_type` and `retry_after_ms` as sent; `error` is `{"code": error_type or "tagging_failed",
/// "message": error}`.
extension TaggerProvider {
    /// The lifecycle status of a vendor job status; unknown or missing values read as `running`.
    public static func lifecycle(status: String?) -> LifecycleStatus {
        switch status {
        case "pending": .pending
        case "processing", "paused": .running
        case "completed": .completed
        case "failed": .failed
        case "cancelled": .cancelled
        default: .running
        }
    }

    /// The observation of a job state (status endpoint or `catchup.state`).
    static func observation(from state: TaggerWire.JobState) -> ProviderObservation {
        let lifecycle = lifecycle(status: state.status)
        return ProviderObservation(
            lifecycle: lifecycle,
            providerStatus: state.status ?? "unknown",
            total: state.total,
            succeeded: max(0, state.processedCount ?? 0),
            failed: max(0, state.failedCount ?? 0),
            percentHint: state.progress.map(percent),
            error: lifecycle == .failed ? failedError(nil) : nil
        )
    }

    /// A 0–1 progress as a whole percent, clamped to 0–100.
    static func percent(_ progress: Double) -> Int {
        guard progress.isFinite else { return 0 }
        return Int((min(max(progress, 0), 1) * 100).rounded(.down))
    }

    static func failedError(_ message: String?) -> BatchError {
        BatchError(
            code: "provider_failed",
            message: message.map { "The tagging job failed: \($0)" } ?? "The tagging job failed.",
            providerCode: "error"
        )
    }

    /// One row as the API shows it; nil when the row has no usable `row_id`.
    static func row(from wire: TaggerWire.Row) -> StreamRow? {
        guard let index = wire.rowID ?? wire.rowNumber.map({ $0 - 1 }), index >= 0 else { return nil }
        var data: [String: JSONValue] = [:]
        if let title = wire.title { data["title"] = .string(title) }
        data["row_number"] = .number(Double(wire.rowNumber ?? index + 1))
        if let tags = wire.tags { data["tags"] = .array(tags.map(JSONValue.string)) }
        if let metadata = wire.metadata { data["metadata"] = metadata }
        if let model = wire.modelName { data["model_name"] = .string(model) }
        if let retryCount = wire.retryCount { data["retry_count"] = .number(Double(retryCount)) }
        if let errorType = wire.errorType { data["error_type"] = .string(errorType) }
        if let retryAfter = wire.retryAfterMS { data["retry_after_ms"] = .number(Double(retryAfter)) }
        if let status = wire.status { data["provider_status"] = .string(status) }

        let status: ItemStatus
        let isFinal: Bool
        switch wire.status {
        case "success", "succeeded", "completed":
            (status, isFinal) = (.succeeded, true)
        case "failed", "error":
            (status, isFinal) = wire.retryAfterMS == nil ? (.failed, true) : (.pending, false)
        default:
            (status, isFinal) = (.pending, false)
        }
        let error =
            wire.error.map { ItemError(code: wire.errorType ?? "tagging_failed", message: $0) }
            ?? (status == .failed ? ItemError(code: wire.errorType ?? "tagging_failed", message: "The document could not be tagged.") : nil)
        let key = wire.title ?? "document \(index + 1)"
        return StreamRow(
            index: index,
            result: ItemResult(index: index, key: key, status: status, data: .object(data), error: error),
            isFinal: isFinal
        )
    }

    /// What one WebSocket message says.
    enum Decoded: Sendable, Hashable {
        case update(StreamUpdate)
        /// `{"error": ...}` with no type: the service refuses the connection (a close code follows).
        case refusal(String)
        /// A message of a type the vendor does not document: ignored.
        case ignored(String)
    }

    /// Decodes one WebSocket text message. Throws `.badResponse` naming what could not be read.
    static func decodeMessage(_ text: String) throws(ProviderError) -> Decoded {
        let message: TaggerWire.Message
        do {
            message = try JSONDecoder().decode(TaggerWire.Message.self, from: Data(text.utf8))
        } catch let error as DecodingError {
            throw ProviderError(.badResponse, "A tagger WebSocket message is not readable: \(VendorHTTP.describe(error)).")
        } catch {
            throw ProviderError(.badResponse, "A tagger WebSocket message is not readable JSON.")
        }
        switch message.type {
        case "catchup":
            let state = message.state.map(observation(from:))
            let rows = (message.results ?? []).compactMap(row(from:))
            return .update(StreamUpdate(kind: .snapshot, messageType: "catchup", observation: state, rows: rows))
        case "completed", "cancelled":
            let lifecycle: LifecycleStatus = message.type == "completed" ? .completed : .cancelled
            let observation = ProviderObservation(
                lifecycle: lifecycle,
                providerStatus: message.type!,
                succeeded: max(0, message.processedCount ?? 0),
                failed: max(0, message.failedCount ?? 0),
                error: lifecycle == .cancelled
                    ? BatchError(code: "cancelled", message: message.message ?? "The tagging job was cancelled.") : nil
            )
            return .update(StreamUpdate(kind: .terminal, messageType: message.type!, observation: observation, payload: Array(text.utf8)))
        case "error":
            let observation = ProviderObservation(
                lifecycle: .failed,
                providerStatus: "failed",
                error: failedError(message.error ?? message.message)
            )
            return .update(StreamUpdate(kind: .terminal, messageType: "error", observation: observation, payload: Array(text.utf8)))
        case "keepalive":
            var observation: ProviderObservation?
            if let status = message.status, !lifecycle(status: status).isTerminal {
                observation = ProviderObservation(lifecycle: lifecycle(status: status), providerStatus: status)
            }
            return .update(StreamUpdate(kind: .keepalive, messageType: "keepalive", observation: observation))
        case "progress", nil:
            guard message.row.rowID != nil || message.row.rowNumber != nil else {
                if message.type == nil, let error = message.error { return .refusal(error) }
                if message.type == nil { return .ignored("a message without `type` or `row_id`") }
                throw ProviderError(.badResponse, "A tagger progress message has no `row_id`.")
            }
            guard let row = row(from: message.row) else {
                throw ProviderError(.badResponse, "A tagger progress message has a negative `row_id`.")
            }
            let observation = ProviderObservation(
                lifecycle: .running,
                providerStatus: "processing",
                percentHint: message.row.progress.map(percent)
            )
            return .update(
                StreamUpdate(kind: .row, messageType: message.type ?? "progress", observation: observation, rows: [row], payload: Array(text.utf8))
            )
        case let other?:
            return .ignored("message type `\(other)`")
        }
    }
}
