public import BatchGateCore
import Logging

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// The Aitronos scrape-batch adapter (`kind: aitronos-scrape`): schema-driven extraction from up to 50
/// URLs per upstream batch.
///
/// Aitronos batches cannot be cancelled and send no webhooks: the gateway polls
/// `GET /v1/scrape/batch/{id}/progress`. Larger inputs are split by the engine into chunks of at most
/// `maxURLsPerBatch` URLs, one upstream batch each. The status mapping is documented in
/// `Aitronos+Status.swift`.
public struct AitronosProvider: BatchProvider {
    /// How the API key is sent.
    public enum AuthStyle: String, Sendable, Hashable, CaseIterable {
        /// `Authorization: Bearer <api_key>` (the vendor page's header table).
        case bearer
        /// `X-API-Key: <api_key>` (the vendor page's curl example).
        case xAPIKey = "x-api-key"
    }

    /// What the config loader checks for this kind: a required `api_key`, an optional `auth`
    /// (`bearer`, the default, or `x-api-key`), an optional `path_prefix` (e.g. `/api`) and an optional
    /// `default_schema` (a JSON schema object used for `url_batch` inputs that bring none, so work from a
    /// vendor that needs no schema, such as AirOps, can fall back or migrate here).
    public static let kindSpec = ProviderKindSpec(
        kind: "aitronos-scrape",
        jobKinds: [.urlBatch],
        options: [
            ProviderOptionSpec("api_key", .string, required: true),
            ProviderOptionSpec("auth", .string, allowedValues: AuthStyle.allCases.map(\.rawValue)),
            ProviderOptionSpec("path_prefix", .string),
            ProviderOptionSpec("default_schema", .jsonObject),
        ]
    )

    /// The most URLs one Aitronos batch takes.
    public static let maxURLsPerBatch = 50

    /// The batch options the vendor documents, with their ranges; see `validate(_:)`.
    public static let integerOptionRanges: [(name: String, range: ClosedRange<Int>)] = [
        ("max_items_per_url", 1...500), ("max_total_items", 1...5000), ("parallel_jobs", 1...10), ("timeout_per_url", 1...300),
    ]

    /// How many job details `results` fetches at once.
    public static let detailConcurrency = 8

    /// The provider's name in `providers.yaml`.
    public let name: String
    /// Always `aitronos-scrape`.
    public let kind: String
    /// `url_batch` only, not cancellable, no webhooks, at most 50 URLs per upstream batch.
    public let capabilities = ProviderCapabilities(
        jobKinds: [.urlBatch],
        canCancel: false,
        maxItemsPerBatch: maxURLsPerBatch,
        receivesWebhooks: false
    )
    /// `poll_interval` from the settings.
    public let pollInterval: Duration

    private let baseURL: String
    private let pathPrefix: String
    private let apiKey: String
    private let auth: AuthStyle
    /// The schema sent for inputs without one; nil: such inputs are refused.
    let defaultSchema: JSONValue?
    /// Set when the settings cannot work; every request is then refused with it, nothing is sent.
    private let misconfiguration: String?
    private let timeout: Duration
    private let transport: any HTTPTransport
    private let logger: Logger

    /// Builds the adapter. The config loader guarantees `api_key` and the `auth` values; a `path_prefix`
    /// that is neither empty nor starts with `/` (or an unknown `auth` given without the loader) makes
    /// every call fail with `.rejected` naming the option, without contacting the vendor.
    public init(settings: ProviderSettings, context: ProviderContext) {
        name = settings.name
        kind = settings.kind
        pollInterval = settings.pollInterval
        var base = settings.baseURL
        while base.hasSuffix("/") { base.removeLast() }
        baseURL = base
        var prefix = settings.string("path_prefix") ?? ""
        while prefix.hasSuffix("/") { prefix.removeLast() }
        pathPrefix = prefix
        apiKey = settings.string("api_key") ?? ""
        let authText = settings.string("auth") ?? AuthStyle.bearer.rawValue
        auth = AuthStyle(rawValue: authText) ?? .bearer
        defaultSchema = settings.json("default_schema").flatMap { $0.isObject ? $0 : nil }
        timeout = settings.timeout
        transport = context.transport
        var logger = context.logger
        logger[metadataKey: "provider"] = "\(settings.name)"
        self.logger = logger

        if AuthStyle(rawValue: authText) == nil {
            misconfiguration =
                "providers.\(settings.name).auth must be one of \(AuthStyle.allCases.map(\.rawValue).joined(separator: ", ")); got \"\(authText)\"."
        } else if let problem = Self.pathPrefixProblem(settings.string("path_prefix") ?? "") {
            misconfiguration = "providers.\(settings.name).path_prefix \(problem)"
        } else {
            misconfiguration = nil
        }
    }

    /// Why a `path_prefix` value cannot be used, or nil when it can (empty, or `/` followed by URL path characters).
    public static func pathPrefixProblem(_ prefix: String) -> String? {
        guard !prefix.isEmpty else { return nil }
        guard prefix.hasPrefix("/") else { return "must be empty or start with \"/\"; got \"\(prefix)\"." }
        if prefix.unicodeScalars.contains(where: { $0.properties.isWhitespace || $0.value < 0x20 || "?#".unicodeScalars.contains($0) }) {
            return "must be a plain path without spaces, `?` or `#`; got \"\(prefix)\"."
        }
        return nil
    }

    // MARK: - Validate

    /// Checks a `url_batch` input against the vendor's documented limits: at least one absolute http(s)
    /// URL; `custom_ids`, when given, one non-empty id per URL (they are the gateway's keys, Aitronos
    /// never sees them); `schema` required and an object; `options`, when given, an object with only
    /// the documented keys: `max_items_per_url` 1–500, `max_total_items` 1–5000, `parallel_jobs` 1–10,
    /// `timeout_per_url` 1–300 (whole numbers), `date_filter` an object or null, `llm_mode` a string.
    /// More than 50 URLs are accepted: the engine submits them in chunks. `brands` and `country` are
    /// not Aitronos parameters and are ignored.
    public func validate(_ input: JobInput) throws(GatewayError) {
        let batch = try URLBatchChecks.check(input, vendor: "Aitronos")
        switch batch.schema {
        case nil, .null?:
            guard defaultSchema != nil else {
                throw GatewayError.invalid(
                    "input.schema",
                    "Aitronos needs a JSON schema object describing the data to extract, and provider \(name) has no `default_schema`."
                )
            }
        case .object?:
            break
        case let other?:
            throw GatewayError.invalid("input.schema", "schema must be a JSON object, not \(Self.typeName(other)).")
        }
        try Self.validateOptions(batch.options)
    }

    static func validateOptions(_ options: JSONValue?) throws(GatewayError) {
        let fields: [String: JSONValue]
        switch options {
        case nil, .null?: return
        case .object(let members)?: fields = members
        case let other?:
            throw GatewayError.invalid("input.options", "options must be a JSON object, not \(typeName(other)).")
        }
        let documented = integerOptionRanges.map(\.name) + ["date_filter", "llm_mode"]
        for key in fields.keys.sorted() {
            let value = fields[key] ?? .null
            let field = "input.options.\(key)"
            if let range = integerOptionRanges.first(where: { $0.name == key })?.range {
                guard let number = value.int64Value else {
                    throw GatewayError.invalid(field, "\(key) must be a whole number from \(range.lowerBound) to \(range.upperBound).")
                }
                guard range.contains(Int(clamping: number)) else {
                    throw GatewayError.invalid(
                        field,
                        "\(key) must be from \(range.lowerBound) to \(range.upperBound); got \(number)."
                    )
                }
                continue
            }
            switch key {
            case "date_filter":
                guard value == .null || value.isObject else {
                    throw GatewayError.invalid(field, "date_filter must be an object or null, not \(typeName(value)).")
                }
            case "llm_mode":
                guard let mode = value.stringValue, !mode.isEmpty else {
                    throw GatewayError.invalid(field, "llm_mode must be a non-empty string.")
                }
            default:
                throw GatewayError.invalid(
                    field,
                    "Unknown Aitronos batch option `\(key)`; documented options: \(documented.joined(separator: ", "))."
                )
            }
        }
    }

    static func typeName(_ value: JSONValue) -> String {
        switch value {
        case .null: "null"
        case .bool: "a boolean"
        case .number, .integer: "a number"
        case .string: "a string"
        case .array: "an array"
        case .object: "an object"
        }
    }

    // MARK: - Submit, poll, results

    /// Creates the Aitronos batch (`POST {path_prefix}/v1/scrape/batch`) with `urls`, `schema` and
    /// `options`. Refuses more than 50 URLs with `.rejected` (the engine never sends more).
    public func submit(_ submission: Submission) async throws(ProviderError) -> SubmitOutcome {
        guard case .urlBatch(let input) = submission.input else {
            throw ProviderError(.rejected, "The Aitronos provider takes url_batch jobs only.")
        }
        guard !input.urls.isEmpty, input.urls.count <= Self.maxURLsPerBatch else {
            throw ProviderError(
                .rejected,
                "An Aitronos batch takes 1–\(Self.maxURLsPerBatch) URLs; this submit has \(input.urls.count)."
            )
        }
        let given = input.schema == .null ? nil : input.schema
        guard let schema = given ?? defaultSchema, schema.isObject else {
            throw ProviderError(.rejected, "An Aitronos batch needs a schema object, and provider \(name) has no `default_schema`.")
        }
        let options: JSONValue? = input.options == .null ? nil : input.options
        let body: [UInt8]
        do {
            body = Array(try JSONEncoder().encode(AitronosWire.CreateRequest(urls: input.urls, schema: schema, options: options)))
        } catch {
            throw ProviderError(.rejected, "The Aitronos create request could not be encoded.")
        }
        let response = try await send("POST", "/v1/scrape/batch", body: body)
        let view = try Self.decodeBatchView(response.body, what: "create response", secret: apiKey)
        guard let id = view.batchID, !id.isEmpty else {
            throw ProviderError(.badResponse, "The Aitronos create response has no `batch_id`.", httpStatus: response.status)
        }
        logger.debug(
            "Aitronos batch created",
            metadata: ["provider_batch_id": "\(id)", "job_id": "\(submission.jobID)", "urls": "\(input.urls.count)"]
        )
        return SubmitOutcome(providerBatchID: id, observation: view.hasState ? Self.observation(from: view) : nil)
    }

    /// Reads the batch's progress (`GET {path_prefix}/v1/scrape/batch/{id}/progress`) and derives its
    /// status (see `Aitronos+Status.swift`).
    public func poll(providerBatchID: String) async throws(ProviderError) -> ProviderObservation {
        let view = try await progress(providerBatchID)
        return Self.observation(from: view)
    }

    /// Reads per-item results in input order. The progress response lists the jobs; the details of each
    /// finished job (and of every job listed without a URL) come from `GET {path_prefix}/v1/scrape/jobs/{job_id}`,
    /// at most `detailConcurrency` at a time. Each job lands on the input item whose URL it names — the
    /// URL in its details first, then the one in the listing — never by the order of either list, so a
    /// job's data and error can only ever reach its own item. Jobs still pending or processing are
    /// `pending` without a fetch.
    public func results(providerBatchID: String, input: JobInput) async throws(ProviderError) -> [ItemResult] {
        guard case .urlBatch(let batchInput) = input else {
            throw ProviderError(.rejected, "The Aitronos provider takes url_batch jobs only.")
        }
        let jobs = try await progress(providerBatchID).jobs ?? []
        var toFetch: [(position: Int, jobID: String)] = []
        for (position, job) in jobs.enumerated() {
            guard let jobID = job.jobID, !jobID.isEmpty else { continue }
            switch Self.jobClass(job.status) {
            case .completed, .failed, .cancelled: toFetch.append((position, jobID))
            case .pending, .processing: if job.url == nil { toFetch.append((position, jobID)) }
            }
        }
        let details = try await fetchDetails(toFetch, batchID: providerBatchID)
        let listedURLs = jobs.indices.map { details[$0]?.url ?? jobs[$0].url }
        let positions = Self.matchPositions(listedURLs, urls: batchInput.urls)
        if positions.count < jobs.count {
            logger.debug(
                "Aitronos listed jobs that match no input URL",
                metadata: ["provider_batch_id": "\(providerBatchID)", "unmatched": "\(jobs.count - positions.count)"]
            )
        }
        return batchInput.urls.indices.map { index in
            let position = positions[index]
            return Self.itemResult(
                index: index,
                input: batchInput,
                summary: position.map { jobs[$0] },
                detail: position.flatMap { details[$0] }
            )
        }
    }

    /// Matches listed jobs to input positions (duplicates in order) by the URL each names; see `matchPositions`.
    static func matchJobs(_ jobs: [AitronosWire.JobSummary], urls: [String]) -> [Int: AitronosWire.JobSummary] {
        matchPositions(jobs.map(\.url), urls: urls).mapValues { jobs[$0] }
    }

    /// Input index → position of the listed job for it. Matched first by exact URL, then by URL compared
    /// loosely (scheme and host case, default port and a trailing `/` ignored) for URLs the vendor
    /// normalised; duplicates in order. A job that names no URL at all takes its own position, and only
    /// when the listing has exactly one job per input URL (the vendor lists jobs in request order);
    /// a job naming a URL that is not in the input matches nothing.
    static func matchPositions(_ listedURLs: [String?], urls: [String]) -> [Int: Int] {
        var used = Set<Int>()
        var matched: [Int: Int] = [:]
        let keys: [(String) -> String] = [{ $0 }, looseURL]
        for key in keys {
            var queues: [String: [Int]] = [:]
            for (position, url) in listedURLs.enumerated() where !used.contains(position) {
                if let url { queues[key(url), default: []].append(position) }
            }
            for (index, url) in urls.enumerated() where matched[index] == nil {
                guard var queue = queues[key(url)], !queue.isEmpty else { continue }
                let position = queue.removeFirst()
                queues[key(url)] = queue
                used.insert(position)
                matched[index] = position
            }
        }
        if listedURLs.count == urls.count {
            for index in urls.indices where matched[index] == nil && !used.contains(index) && listedURLs[index] == nil {
                used.insert(index)
                matched[index] = index
            }
        }
        return matched
    }

    /// A URL with its scheme and host lowercased, a default port and a trailing `/` dropped.
    static func looseURL(_ url: String) -> String {
        guard let schemeEnd = url.firstRange(of: "://") else { return url }
        let scheme = url[..<schemeEnd.lowerBound].lowercased()
        let rest = url[schemeEnd.upperBound...]
        let authorityEnd = rest.firstIndex { $0 == "/" || $0 == "?" || $0 == "#" } ?? rest.endIndex
        var authority = rest[..<authorityEnd].lowercased()
        if scheme == "http", authority.hasSuffix(":80") { authority.removeLast(3) }
        if scheme == "https", authority.hasSuffix(":443") { authority.removeLast(4) }
        var tail = String(rest[authorityEnd...])
        if tail.hasSuffix("/") { tail.removeLast() }
        return scheme + "://" + authority + tail
    }

    /// One item from its job: `completed` → succeeded with `{"extracted_data", "metadata"}`; `failed` →
    /// failed with the job's error code (else `SCRAPE_FAILED`) and message; `cancelled` → failed with
    /// `JOB_CANCELLED` (the observation counts cancelled jobs as failed too); anything else → pending.
    /// The detail's status, when fetched, wins over the progress listing's.
    static func itemResult(
        index: Int,
        input: URLBatchInput,
        summary: AitronosWire.JobSummary?,
        detail: AitronosWire.JobDetail?
    ) -> ItemResult {
        let key = input.key(at: index)
        let url = input.urls[index]
        guard summary != nil || detail != nil else { return ItemResult(index: index, key: key, status: .pending) }
        switch jobClass(detail?.status ?? summary?.status) {
        case .completed:
            let data: JSONValue = .object([
                "extracted_data": detail?.extractedData ?? .null, "metadata": detail?.metadata ?? .null,
            ])
            return ItemResult(index: index, key: key, status: .succeeded, data: data)
        case .failed:
            let code = detail?.errorCode.flatMap { $0.isEmpty ? nil : $0 } ?? "SCRAPE_FAILED"
            let message = VendorHTTP.cleanText(detail?.errorMessage, secret: "") ?? "Aitronos could not scrape \(url)."
            return ItemResult(index: index, key: key, status: .failed, error: ItemError(code: code, message: message))
        case .cancelled:
            return ItemResult(
                index: index,
                key: key,
                status: .failed,
                error: ItemError(code: "JOB_CANCELLED", message: "Aitronos cancelled the job for \(url).")
            )
        case .pending, .processing:
            return ItemResult(index: index, key: key, status: .pending)
        }
    }

    /// Aitronos documents no cancel endpoint.
    public func cancel(providerBatchID: String) async throws(ProviderError) {
        throw ProviderError(.notSupported, "Aitronos batches cannot be cancelled.")
    }

    /// Aitronos sends no webhooks.
    public func decodeWebhook(_ body: [UInt8]) throws(ProviderError) -> InboundEvent {
        throw ProviderError(.notSupported, "Aitronos sends no webhooks.")
    }

    // MARK: - HTTP

    private func progress(_ batchID: String) async throws(ProviderError) -> AitronosWire.BatchView {
        let response = try await send("GET", "/v1/scrape/batch/\(VendorHTTP.pathSegment(batchID))/progress")
        let view = try Self.decodeBatchView(response.body, what: "progress response", secret: apiKey)
        guard view.hasState else {
            throw ProviderError(.badResponse, "The Aitronos progress response has neither `jobs` nor `total_urls` nor counts.")
        }
        return view
    }

    /// Fetches job details with at most `detailConcurrency` requests in flight; the first failure
    /// cancels the rest and is thrown. A job the progress listed but the vendor does not know (404) is
    /// `.unavailable`, so the caller retries rather than reading the batch as gone.
    private func fetchDetails(_ jobs: [(position: Int, jobID: String)], batchID: String) async throws(ProviderError) -> [Int: AitronosWire.JobDetail]
    {
        guard !jobs.isEmpty else { return [:] }
        let outcome = await withTaskGroup(of: (Int, Result<AitronosWire.JobDetail, ProviderError>).self) { group in
            var details: [Int: AitronosWire.JobDetail] = [:]
            var next = 0
            func start(_ job: (position: Int, jobID: String), in group: inout TaskGroup<(Int, Result<AitronosWire.JobDetail, ProviderError>)>) {
                group.addTask {
                    do throws(ProviderError) {
                        return (job.position, .success(try await self.jobDetail(job.jobID, batchID: batchID)))
                    } catch {
                        return (job.position, .failure(error))
                    }
                }
            }
            while next < min(Self.detailConcurrency, jobs.count) {
                start(jobs[next], in: &group)
                next += 1
            }
            while let finished = await group.next() {
                let (position, result) = finished
                switch result {
                case .success(let detail):
                    details[position] = detail
                    if next < jobs.count {
                        start(jobs[next], in: &group)
                        next += 1
                    }
                case .failure(let error):
                    group.cancelAll()
                    return Result<[Int: AitronosWire.JobDetail], ProviderError>.failure(error)
                }
            }
            return .success(details)
        }
        return try outcome.get()
    }

    private func jobDetail(_ jobID: String, batchID: String) async throws(ProviderError) -> AitronosWire.JobDetail {
        let path = "/v1/scrape/jobs/\(VendorHTTP.pathSegment(jobID))"
        let response: HTTPResponse
        do {
            response = try await send("GET", path)
        } catch  where error.code == .notFound {
            throw ProviderError(
                .unavailable,
                "Aitronos lists job \(jobID) in batch \(batchID) but does not know it yet.",
                httpStatus: error.httpStatus,
                providerCode: error.providerCode
            )
        }
        return try Self.decodeEnveloped(AitronosWire.JobDetail.self, response.body, what: "job \(jobID)", secret: apiKey)
    }

    /// `send` for the lookup of a submit that timed out.
    func sendForLookup(_ method: String, _ path: String) async throws(ProviderError) -> HTTPResponse {
        try await send(method, path)
    }

    static let http = VendorHTTP(vendor: "Aitronos")

    private func send(_ method: String, _ path: String, body: [UInt8]? = nil) async throws(ProviderError) -> HTTPResponse {
        if let misconfiguration {
            throw ProviderError(.rejected, "The Aitronos provider is misconfigured: \(misconfiguration)")
        }
        let credentials: [(name: String, value: String)] =
            switch auth {
            case .bearer: [("Authorization", "Bearer \(apiKey)")]
            case .xAPIKey: [("X-API-Key", apiKey)]
            }
        return try await Self.http.send(
            method,
            baseURL: baseURL,
            path: pathPrefix + path,
            credentials: credentials,
            body: body,
            timeout: timeout,
            secret: apiKey,
            transport: transport,
            logger: logger
        )
    }
}
