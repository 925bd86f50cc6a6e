public import BatchGateCore
import Logging
import Synchronization

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// The document-tagging adapter (`kind: doc-tagging-ws`): starts a job over HTTP, observes it over the
/// vendor's WebSocket (catchup, per-document progress, completion, keepalives), and cancels, pauses and
/// resumes it over HTTP.
///
/// The gateway keeps one socket open per running job through `observe(providerBatchID:onUpdate:)` and
/// polls `GET /api/batch/jobs/{id}/status` only while no socket can be opened. The status mapping is
/// documented in `Tagger+Status.swift`.
public struct TaggerProvider: StreamingBatchProvider {
    /// Where the WebSocket token goes.
    public enum TokenPlacement: String, Sendable, Hashable, CaseIterable {
        /// `?token=<token>` on the WebSocket URL (the vendor's first way).
        case query
        /// `Authorization: Bearer <token>` on the upgrade request.
        case header
    }

    /// What the config loader checks for this kind: a required `token`; `token_in` (`query`, the
    /// default, or `header`); `keepalive_interval` (the vendor's keepalive period, default 30s: a socket
    /// silent for twice that is reopened); `ws_url` (default: `base_url` with `ws`/`wss`).
    public static let kindSpec = ProviderKindSpec(
        kind: "doc-tagging-ws",
        jobKinds: [.documentTagging],
        options: [
            ProviderOptionSpec("token", .string, required: true),
            ProviderOptionSpec("token_in", .string, allowedValues: TokenPlacement.allCases.map(\.rawValue)),
            ProviderOptionSpec("keepalive_interval", .duration),
            ProviderOptionSpec("ws_url", .string),
        ]
    )

    /// The documented `config` keys and ranges.
    public static let configIntegerRanges: [(name: String, range: ClosedRange<Int>)] = [("num_pages", 1...10), ("num_tags", 3...15)]
    /// The documented `file_source_type` values.
    public static let fileSourceTypes = ["url", "s3", "local"]

    public let name: String
    /// Always `doc-tagging-ws`.
    public let kind: String
    /// `document_tagging` only; cancel, pause and resume; no webhooks; no batch size limit.
    public let capabilities = ProviderCapabilities(jobKinds: [.documentTagging], canCancel: true, canPause: true)
    /// How often the status endpoint is polled while no socket can be opened.
    public let pollInterval: Duration
    /// The vendor's keepalive period.
    public let keepaliveInterval: Duration
    /// The vendor sends its catchup as soon as a socket opens: a socket without one this long after the
    /// upgrade (the lesser of the request timeout and twice the keepalive period) is closed and reopened,
    /// as a connect that failed.
    public var firstMessageTimeout: Duration { min(timeout, keepaliveInterval * 2) }

    private let baseURL: String
    private let webSocketBase: String
    private let token: String
    private let tokenPlacement: TokenPlacement
    private let timeout: Duration
    private let transport: any HTTPTransport
    private let webSocket: (any WebSocketTransport)?
    private let logger: Logger

    static let http = VendorHTTP(vendor: "The tagger")

    /// Builds the adapter; the config loader guarantees `token` and the `token_in` values.
    public init(settings: ProviderSettings, context: ProviderContext) {
        name = settings.name
        kind = settings.kind
        pollInterval = settings.pollInterval
        keepaliveInterval = settings.duration("keepalive_interval") ?? .seconds(30)
        var base = settings.baseURL
        while base.hasSuffix("/") { base.removeLast() }
        baseURL = base
        var ws = settings.string("ws_url") ?? Self.webSocketURL(forHTTP: base)
        while ws.hasSuffix("/") { ws.removeLast() }
        webSocketBase = ws
        token = settings.string("token") ?? ""
        tokenPlacement = settings.string("token_in").flatMap(TokenPlacement.init(rawValue:)) ?? .query
        timeout = settings.timeout
        transport = context.transport
        webSocket = context.webSocket
        var logger = context.logger
        logger[metadataKey: "provider"] = "\(settings.name)"
        self.logger = logger
    }

    /// `http://` → `ws://`, `https://` → `wss://`.
    static func webSocketURL(forHTTP url: String) -> String {
        if url.hasPrefix("https://") { return "wss://" + url.dropFirst("https://".count) }
        if url.hasPrefix("http://") { return "ws://" + url.dropFirst("http://".count) }
        return url
    }

    // MARK: - Validate

    /// Checks a `document_tagging` input against the vendor's documented limits: at least one document,
    /// each with a non-empty `title` and `file_path` and a `file_source_type` of `url`, `s3` or `local`;
    /// `config`, when given, an object with only the documented keys: `api_key` and `model_name`
    /// strings, `num_pages` 1–10 and `num_tags` 3–15 (whole numbers), `exclusion_words` a string or an
    /// array of strings.
    public func validate(_ input: JobInput) throws(GatewayError) {
        guard case .documentTagging(let tagging) = input else {
            throw GatewayError.invalid("input", "The tagger takes document_tagging jobs only, not \(input.kind.rawValue).")
        }
        guard !tagging.documents.isEmpty else {
            throw GatewayError.invalid("input.documents", "At least one document is required.")
        }
        for (index, document) in tagging.documents.enumerated() {
            let path = "input.documents[\(index)]"
            if document.title.trimmingPrefix(while: \.isWhitespace).isEmpty {
                throw GatewayError.invalid("\(path).title", "title must not be empty.")
            }
            if document.filePath.trimmingPrefix(while: \.isWhitespace).isEmpty {
                throw GatewayError.invalid("\(path).file_path", "file_path must not be empty.")
            }
            guard Self.fileSourceTypes.contains(document.fileSourceType) else {
                throw GatewayError.invalid(
                    "\(path).file_source_type",
                    "file_source_type must be one of \(Self.fileSourceTypes.joined(separator: ", ")); got \"\(document.fileSourceType)\"."
                )
            }
        }
        try Self.validateConfig(tagging.config)
    }

    static func validateConfig(_ config: JSONValue?) throws(GatewayError) {
        let fields: [String: JSONValue]
        switch config {
        case nil, .null?: return
        case .object(let members)?: fields = members
        case .some:
            throw GatewayError.invalid("input.config", "config must be a JSON object.")
        }
        for key in fields.keys.sorted() {
            let value = fields[key] ?? .null
            let field = "input.config.\(key)"
            if let range = configIntegerRanges.first(where: { $0.name == key })?.range {
                guard let number = value.int64Value else {
                    throw GatewayError.invalid(field, "\(key) must be a whole number from \(range.lowerBound) to \(range.upperBound).")
                }
                guard range.contains(Int(clamping: number)) else {
                    throw GatewayError.invalid(field, "\(key) must be from \(range.lowerBound) to \(range.upperBound); got \(number).")
                }
                continue
            }
            switch key {
            case "api_key", "model_name":
                guard let text = value.stringValue, !text.isEmpty else {
                    throw GatewayError.invalid(field, "\(key) must be a non-empty string.")
                }
            case "exclusion_words":
                switch value {
                case .string, .null: break
                case .array(let words) where words.allSatisfy({ $0.stringValue != nil }): break
                default: throw GatewayError.invalid(field, "exclusion_words must be a string or an array of strings.")
                }
            default:
                throw GatewayError.invalid(
                    field,
                    "Unknown tagger config option `\(key)`; documented options: api_key, model_name, num_pages, num_tags, exclusion_words."
                )
            }
        }
    }

    // MARK: - Start, status, control

    /// Starts the job (`POST /api/batch/start`) with the gateway's job id (`Submission.attemptID`) as the
    /// vendor `job_id`, so a start that timed out can be found again (`findSubmitted`).
    public func submit(_ submission: Submission) async throws(ProviderError) -> SubmitOutcome {
        guard case .documentTagging(let input) = submission.input else {
            throw ProviderError(.rejected, "The tagger takes document_tagging jobs only.")
        }
        let request = TaggerWire.StartRequest(
            documents: input.documents.map {
                .init(title: $0.title, filePath: $0.filePath, fileSourceType: $0.fileSourceType, description: $0.description)
            },
            config: input.config == .null ? nil : input.config,
            jobID: submission.attemptID
        )
        let body: [UInt8]
        do {
            body = Array(try JSONEncoder().encode(request))
        } catch {
            throw ProviderError(.rejected, "The tagger start request could not be encoded.")
        }
        let response: HTTPResponse
        do throws(ProviderError) {
            response = try await send("POST", "/api/batch/start", body: body)
        } catch  where error.httpStatus == 409 {
            // The vendor already has a job under this submission's `job_id`. Only an earlier start of this same
            // submission sends that id (its answer was lost: a timeout, an unreadable body), so that job is this one.
            logger.info("the tagger already has this job; an earlier start created it", metadata: ["job_id": "\(submission.attemptID)"])
            return SubmitOutcome(providerBatchID: submission.attemptID, observation: nil)
        }
        let started: TaggerWire.StartResponse = try Self.decode(response.body, what: "start response")
        guard let id = started.jobID, !id.isEmpty else {
            throw ProviderError(.badResponse, "The tagger start response has no `job_id`.", httpStatus: response.status)
        }
        logger.debug("tagger job started", metadata: ["provider_batch_id": "\(id)", "job_id": "\(submission.jobID)"])
        return SubmitOutcome(
            providerBatchID: id,
            observation: ProviderObservation(
                lifecycle: .pending,
                providerStatus: "pending",
                total: started.totalDocuments ?? input.documents.count
            )
        )
    }

    /// Reads `GET /api/batch/jobs/{id}/status`.
    public func poll(providerBatchID: String) async throws(ProviderError) -> ProviderObservation {
        let response = try await send("GET", "/api/batch/jobs/\(VendorHTTP.pathSegment(providerBatchID))/status")
        let state: TaggerWire.JobState = try Self.decode(response.body, what: "status response")
        return Self.observation(from: state)
    }

    /// Looks for the job a start that timed out may have created: the start sends the gateway's job id
    /// as the vendor `job_id`, so its status answers 200 if it exists and 404 if it does not.
    public func findSubmitted(_ submission: Submission, since: Timestamp) async throws(ProviderError) -> SubmitLookup {
        do {
            _ = try await poll(providerBatchID: submission.attemptID)
            return .found(submission.attemptID)
        } catch  where error.code == .notFound {
            return .notFound
        }
    }

    /// The rows the vendor holds for the job: it has no results endpoint, so a fresh socket's catchup
    /// gives them; the socket is closed as soon as the catchup arrived.
    public func results(providerBatchID: String, input: JobInput) async throws(ProviderError) -> [ItemResult] {
        struct CatchupTaken: Error {}
        let rows = Mutex<[Int: ItemResult]>([:])
        do {
            _ = try await observe(providerBatchID: providerBatchID) { update in
                guard update.kind == .snapshot else { return }
                rows.withLock { rows in
                    for row in update.rows { rows[row.index] = row.result }
                }
                throw CatchupTaken()
            }
        } catch is CatchupTaken {
        } catch let error as ProviderError {
            throw error
        } catch {
            throw ProviderError(.unavailable, "The tagger's results could not be read: \(error)")
        }
        return rows.withLock { $0.values.sorted { $0.index < $1.index } }
    }

    /// `POST /api/batch/jobs/{id}/cancel`: cooperative; the socket reports `cancelled` later.
    public func cancel(providerBatchID: String) async throws(ProviderError) {
        _ = try await send("POST", "/api/batch/jobs/\(VendorHTTP.pathSegment(providerBatchID))/cancel", body: Array("{}".utf8))
    }

    /// `POST /api/batch/jobs/{id}/pause`.
    public func pause(providerBatchID: String) async throws(ProviderError) {
        _ = try await send("POST", "/api/batch/jobs/\(VendorHTTP.pathSegment(providerBatchID))/pause", body: Array("{}".utf8))
    }

    /// `POST /api/batch/jobs/{id}/resume`.
    public func resume(providerBatchID: String) async throws(ProviderError) {
        _ = try await send("POST", "/api/batch/jobs/\(VendorHTTP.pathSegment(providerBatchID))/resume", body: Array("{}".utf8))
    }

    /// The tagger sends no webhooks.
    public func decodeWebhook(_ body: [UInt8]) throws(ProviderError) -> InboundEvent {
        throw ProviderError(.notSupported, "The tagger sends no webhooks.")
    }

    // MARK: - WebSocket

    /// Observes the job over `/api/batch/ws/{id}`: every message in order, until a terminal one (then
    /// the socket is closed) or the socket ends. A socket silent for twice the keepalive period is
    /// closed and reported as a disconnect. Close code 1008 throws `.rejected` (authentication).
    public func observe(providerBatchID: String, onUpdate: @escaping @Sendable (StreamUpdate) async throws -> Void) async throws -> StreamEnd {
        guard let webSocket else {
            throw ProviderError(.unavailable, "No WebSocket client is configured for provider \(name).")
        }
        var url = "\(webSocketBase)/api/batch/ws/\(VendorHTTP.pathSegment(providerBatchID))"
        var headers: [(name: String, value: String)] = []
        switch tokenPlacement {
        case .query: url += "?token=\(VendorHTTP.pathSegment(token))"
        case .header: headers.append(("Authorization", "Bearer \(token)"))
        }
        let sawTerminal = Atomic<Bool>(false)
        let refusal = Mutex<String?>(nil)
        let logger = logger
        let close: WebSocketClose
        do {
            close = try await webSocket.connect(
                WebSocketRequest(
                    url: url,
                    headers: headers,
                    connectTimeout: min(timeout, .seconds(30)),
                    idleTimeout: keepaliveInterval * 2,
                    firstMessageTimeout: firstMessageTimeout
                )
            ) { text in
                let decoded: Decoded
                do {
                    decoded = try Self.decodeMessage(text)
                } catch {
                    logger.warning("unreadable tagger message skipped", metadata: ["provider_batch_id": "\(providerBatchID)", "error": "\(error)"])
                    return .keepReading
                }
                switch decoded {
                case .refusal(let message):
                    refusal.withLock { $0 = VendorHTTP.cleanText(message, secret: "") }
                    return .keepReading
                case .ignored(let what):
                    logger.debug("tagger message ignored", metadata: ["provider_batch_id": "\(providerBatchID)", "what": "\(what)"])
                    return .keepReading
                case .update(let update):
                    try await onUpdate(update)
                    guard update.kind == .terminal else { return .keepReading }
                    sawTerminal.store(true, ordering: .relaxed)
                    return .close
                }
            }
        } catch let error as WebSocketError {
            let message = VendorHTTP.cleanText(error.message, secret: token) ?? error.code.rawValue
            switch error.code {
            case .timeout: throw ProviderError(.timeout, "The tagger's WebSocket did not open in time.")
            case .connection: throw ProviderError(.unavailable, "The tagger's WebSocket could not be opened: \(message)")
            case .upgradeRejected: throw ProviderError(.unavailable, "The tagger refused the WebSocket upgrade.")
            case .invalidRequest: throw ProviderError(.rejected, "The tagger's WebSocket URL is not usable: \(message)")
            }
        }
        if sawTerminal.load(ordering: .relaxed) { return .terminal }
        if close.code == 1008 {
            let notice = refusal.withLock { $0 } ?? close.reason.flatMap { $0.isEmpty ? nil : $0 } ?? "policy violation"
            throw ProviderError(
                .rejected,
                "The tagger refused the WebSocket token (close code 1008: \(notice)).",
                providerCode: "ws_close_1008"
            )
        }
        return .disconnected(close.description)
    }

    // MARK: - HTTP

    static func decode<T: Decodable>(_ body: [UInt8], what: String) throws(ProviderError) -> T {
        do {
            return try JSONDecoder().decode(T.self, from: Data(body))
        } catch let error as DecodingError {
            throw ProviderError(.badResponse, "The tagger's \(what) is not readable: \(VendorHTTP.describe(error)).")
        } catch {
            throw ProviderError(.badResponse, "The tagger's \(what) is not readable JSON.")
        }
    }

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
