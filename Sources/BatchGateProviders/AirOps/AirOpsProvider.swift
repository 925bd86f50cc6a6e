public import BatchGateCore
import Logging

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// The Olostep AirOps batch adapter (`kind: olostep-airops`): scrape, analyse and LLM-enrich URL batches.
///
/// AirOps batches cannot be cancelled; the vendor reports progress by webhooks (unsigned, possibly
/// duplicated or out of order) and by polling. The status mapping is documented in `AirOps+Status.swift`.
public struct AirOpsProvider: BatchProvider {
    /// What the config loader checks for this kind: a required `token` option.
    public static let kindSpec = ProviderKindSpec(
        kind: "olostep-airops",
        jobKinds: [.urlBatch],
        options: [ProviderOptionSpec("token", .string, required: true)]
    )

    /// The longest `custom_id` AirOps accepts.
    public static let maxCustomIDLength = 255

    /// The provider's name in `providers.yaml`.
    public let name: String
    /// Always `olostep-airops`.
    public let kind: String
    /// `url_batch` only, not cancellable, receives webhooks, no per-batch item limit.
    public let capabilities = ProviderCapabilities(
        jobKinds: [.urlBatch],
        canCancel: false,
        maxItemsPerBatch: nil,
        receivesWebhooks: true
    )
    /// `poll_interval` from the settings.
    public let pollInterval: Duration

    private let baseURL: String
    private let token: String
    private let timeout: Duration
    private let transport: any HTTPTransport
    private let logger: Logger

    /// Builds the adapter. The config loader guarantees `token`; without one, every request is refused
    /// by the vendor with `.rejected`.
    public init(settings: ProviderSettings, context: ProviderContext) {
        name = settings.name
        kind = settings.kind
        pollInterval = settings.pollInterval
        var base = settings.baseURL
        while base.hasSuffix("/") { base.removeLast() }
        baseURL = base
        token = settings.string("token") ?? ""
        timeout = settings.timeout
        transport = context.transport
        var logger = context.logger
        logger[metadataKey: "provider"] = "\(settings.name)"
        self.logger = logger
    }

    // MARK: - Validate

    /// Checks a `url_batch` input: at least one absolute http(s) URL; `custom_ids`, when given, one per
    /// URL, each 1–255 characters and unique; `brands` entries non-empty. `schema` and `options` are not
    /// AirOps parameters and are ignored.
    public func validate(_ input: JobInput) throws(GatewayError) {
        let batch = try URLBatchChecks.check(input, vendor: "AirOps")
        if let customIDs = batch.customIDs {
            var seen: [String: Int] = [:]
            for (index, customID) in customIDs.enumerated() {
                guard (1...Self.maxCustomIDLength).contains(customID.count) else {
                    throw GatewayError.invalid(
                        "input.custom_ids[\(index)]",
                        "A custom_id must be 1–\(Self.maxCustomIDLength) characters; this one has \(customID.count)."
                    )
                }
                if let first = seen[customID] {
                    throw GatewayError.invalid(
                        "input.custom_ids[\(index)]",
                        "Duplicate custom_id: the same value is at input.custom_ids[\(first)]."
                    )
                }
                seen[customID] = index
            }
        }
        if let brands = batch.brands {
            for (index, brand) in brands.enumerated() where brand.allSatisfy(\.isWhitespace) {
                throw GatewayError.invalid("input.brands[\(index)]", "A brand must not be empty.")
            }
        }
        if let country = batch.country, country.allSatisfy(\.isWhitespace) {
            throw GatewayError.invalid("input.country", "country must not be empty when given.")
        }
    }

    /// The `custom_id` sent for item `index`: the client's own, or `item-<index>` so items map back.
    static func customID(of input: URLBatchInput, at index: Int) -> String {
        if let customIDs = input.customIDs, index < customIDs.count { return customIDs[index] }
        return "item-\(index)"
    }

    // MARK: - Submit, poll, results

    /// Creates the AirOps batch (`POST /v1/batches-airops`) with the job's webhook URL.
    public func submit(_ submission: Submission) async throws(ProviderError) -> SubmitOutcome {
        guard case .urlBatch(let input) = submission.input else {
            throw ProviderError(.rejected, "The AirOps provider takes url_batch jobs only.")
        }
        let request = AirOpsWire.CreateRequest(
            items: input.urls.indices.map { .init(url: input.urls[$0], customID: Self.customID(of: input, at: $0)) },
            brands: input.brands,
            country: input.country,
            webhook: submission.webhookURL
        )
        let body: [UInt8]
        do {
            body = Array(try JSONEncoder().encode(request))
        } catch {
            throw ProviderError(.rejected, "The AirOps create request could not be encoded.")
        }
        let response = try await send("POST", "/v1/batches-airops", body: body)
        let batch = try Self.decodeBatch(response.body, what: "create response")
        guard let id = batch.id, !id.isEmpty else {
            throw ProviderError(.badResponse, "The AirOps create response has no `id`.", httpStatus: response.status)
        }
        logger.debug("AirOps batch created", metadata: ["provider_batch_id": "\(id)", "job_id": "\(submission.jobID)"])
        let hasStatus = batch.status != nil || batch.scraping != nil
        return SubmitOutcome(providerBatchID: id, observation: hasStatus ? Self.observation(from: batch) : nil)
    }

    /// Reads the batch (`GET /v1/batches-airops/{id}`).
    public func poll(providerBatchID: String) async throws(ProviderError) -> ProviderObservation {
        let response = try await send("GET", "/v1/batches-airops/\(VendorHTTP.pathSegment(providerBatchID))")
        return Self.observation(from: try Self.decodeBatch(response.body, what: "batch"))
    }

    /// Reads per-item results (`GET /v1/batches-airops/{id}/items`) in input order; items the vendor has
    /// not reported yet are `pending`.
    public func results(providerBatchID: String, input: JobInput) async throws(ProviderError) -> [ItemResult] {
        guard case .urlBatch(let batchInput) = input else {
            throw ProviderError(.rejected, "The AirOps provider takes url_batch jobs only.")
        }
        let response = try await send("GET", "/v1/batches-airops/\(VendorHTTP.pathSegment(providerBatchID))/items")
        let page: AirOpsWire.ItemsPage
        do {
            page = try JSONDecoder().decode(AirOpsWire.ItemsPage.self, from: Data(response.body))
        } catch let error as DecodingError {
            throw ProviderError(.badResponse, "The AirOps items response is not readable: \(VendorHTTP.describe(error)).")
        } catch {
            throw ProviderError(.badResponse, "The AirOps items response is not readable JSON.")
        }
        return Self.itemResults(page.items, input: batchInput)
    }

    /// Matches vendor items to input indices by `custom_id`, then by URL; normalises each.
    static func itemResults(_ items: [JSONValue], input: URLBatchInput) -> [ItemResult] {
        var indexByCustomID: [String: Int] = [:]
        var indicesByURL: [String: [Int]] = [:]
        for index in input.urls.indices {
            indexByCustomID[customID(of: input, at: index)] = index
            indicesByURL[input.urls[index], default: []].append(index)
        }
        var matched: [Int: JSONValue] = [:]
        for item in items {
            guard case .object(let fields) = item else { continue }
            var index = fields["custom_id"]?.stringValue.flatMap { indexByCustomID[$0] }
            if index.map({ matched[$0] != nil }) ?? false { index = nil }
            if index == nil, let url = fields["url"]?.stringValue {
                index = indicesByURL[url]?.first { matched[$0] == nil }
            }
            if let index { matched[index] = item }
        }
        return input.urls.indices.map { index in
            let key = input.key(at: index)
            guard case .object(var fields)? = matched[index] else {
                return ItemResult(index: index, key: key, status: .pending)
            }
            fields["custom_id"] = nil
            let itemStatus = fields.removeValue(forKey: "status")?.stringValue
            if fields["url"] == nil { fields["url"] = .string(input.urls[index]) }
            let errorObject = fields["error"].flatMap { $0.isObject ? $0 : nil }
            if errorObject != nil || itemStatus == "failed" {
                let code = errorObject?["code"]?.stringValue ?? "item_failed"
                // The vendor's message is kept as it is; the stage it failed at is in `data.failed_stage`.
                let message = errorObject?["message"]?.stringValue ?? "AirOps reported the item as failed."
                let stage = fields["failed_stage"]?.stringValue
                var data: [String: JSONValue] = ["url": fields["url"] ?? .null]
                if let stage { data["failed_stage"] = .string(stage) }
                return ItemResult(index: index, key: key, status: .failed, data: .object(data), error: ItemError(code: code, message: message))
            }
            fields["error"] = nil
            return ItemResult(index: index, key: key, status: .succeeded, data: .object(fields))
        }
    }

    /// AirOps has no cancel endpoint.
    public func cancel(providerBatchID: String) async throws(ProviderError) {
        throw ProviderError(.notSupported, "AirOps batches cannot be cancelled.")
    }

    // MARK: - Webhooks

    /// The nine documented AirOps webhook event types.
    public static let webhookEventTypes: [String] = [
        "event.batch.airops.scraping_started", "event.batch.airops.scraping_completed",
        "event.batch.airops.scraping_failed", "event.batch.airops.analyzing_completed",
        "event.batch.airops.enriching_started", "event.batch.airops.enriching_completed",
        "event.batch.airops.enriching_failed", "event.batch.airops.completed", "event.batch.airops.failed",
    ]

    /// Decodes an AirOps webhook `{object, id, created, timestamp, status}`.
    ///
    /// AirOps webhooks are unsigned and carry the batch id, not an event id, so the dedupe key is the
    /// event type (each happens once per batch). An `object` outside the nine documented types is
    /// accepted when the body still carries a readable `status`, so new vendor events still update the
    /// job. Throws `.badResponse` naming the field for malformed JSON or a missing `id` or `status`.
    public func decodeWebhook(_ body: [UInt8]) throws(ProviderError) -> InboundEvent {
        let batch = try Self.decodeBatch(body, what: "webhook")
        guard let id = batch.id, !id.isEmpty else {
            throw ProviderError(.badResponse, "The AirOps webhook has no `id`.")
        }
        guard batch.status != nil else {
            throw ProviderError(.badResponse, "The AirOps webhook has no `status`.")
        }
        let eventType = batch.object ?? "event.batch.airops.unknown"
        if !Self.webhookEventTypes.contains(eventType) {
            logger.info("AirOps webhook of an undocumented type", metadata: ["event_type": "\(eventType)"])
        }
        return InboundEvent(
            providerBatchID: id,
            eventType: eventType,
            dedupeKey: eventType,
            observation: Self.observation(from: batch),
            sentAt: batch.timestamp.map(Timestamp.init(milliseconds:))
        )
    }

    // MARK: - HTTP

    static let http = VendorHTTP(vendor: "AirOps")

    private func send(_ method: String, _ path: String, body: [UInt8]? = nil) async throws(ProviderError) -> HTTPResponse {
        try await Self.http.send(
            method,
            baseURL: baseURL,
            path: path,
            credentials: [("Authorization", "Bearer \(token)")],
            body: body,
            timeout: timeout,
            secret: token,
            transport: transport,
            logger: logger
        )
    }
}
