public import BatchGateCore
import Hummingbird
public import Logging
import ServiceLifecycle
import Synchronization

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// A loopback Aitronos scrape-batch API that follows the vendor's documentation field for field.
///
/// Routes, all under the configured `pathPrefix`: `POST /v1/scrape/batch` (create, 200 with the page's
/// bare response shape), `GET /v1/scrape/batch/{id}/progress` (`{"success": true, "data": {...}}`),
/// `GET /v1/scrape/jobs/{job_id}` (the job, bare) and `GET /v1/scrape/jobs?status=&limit=&offset=`
/// (`{"success": true, "data": {"jobs", "total", "limit", "offset"}}`, oldest first). Every route needs
/// the API key in the configured header style; errors are `{"success": false, "error": {"code",
/// "message", "field"?}}`. Jobs progress on wall-clock time (see `Configuration.perURLDuration`); a
/// URL whose path contains `fail` fails. Faults are set with `setFaults(_:)`.
public final class AitronosSimulator: Sendable {
    /// How the API key must be sent.
    public enum AuthStyle: String, Sendable, Hashable, CaseIterable {
        /// `Authorization: Bearer <key>`.
        case bearer
        /// `X-API-Key: <key>`.
        case xAPIKey = "x-api-key"
    }

    /// How the simulator listens and behaves.
    public struct Configuration: Sendable {
        /// The address to bind, 127.0.0.1 by default.
        public var host: String
        /// 0 picks a free port; `run` reports the bound one.
        public var port: Int
        /// The API key every request must carry.
        public var apiKey: String
        /// The one header style accepted.
        public var authStyle: AuthStyle
        /// Prefix of every route, e.g. `/api`; empty by default.
        public var pathPrefix: String
        /// How long each URL takes once its job starts.
        public var perURLDuration: Duration
        /// Jobs run at once per batch when the request gives no `options.parallel_jobs` (vendor default 3).
        public var parallelJobs: Int
        /// Time from create until the first jobs start.
        public var queueDelay: Duration
        /// The initial faults; change them at runtime with `setFaults(_:)`.
        public var faults: AitronosFaults
        /// Largest accepted request body.
        public var maxBodyBytes: Int

        /// A configuration listening on 127.0.0.1 with a free port by default.
        public init(
            host: String = "127.0.0.1",
            port: Int = 0,
            apiKey: String,
            authStyle: AuthStyle = .bearer,
            pathPrefix: String = "",
            perURLDuration: Duration = .milliseconds(100),
            parallelJobs: Int = 3,
            queueDelay: Duration = .zero,
            faults: AitronosFaults = AitronosFaults(),
            maxBodyBytes: Int = 4 << 20
        ) {
            self.host = host
            self.port = port
            self.apiKey = apiKey
            self.authStyle = authStyle
            self.pathPrefix = pathPrefix
            self.perURLDuration = perURLDuration
            self.parallelJobs = parallelJobs
            self.queueDelay = queueDelay
            self.faults = faults
            self.maxBodyBytes = maxBodyBytes
        }
    }

    /// Route names for `requestCount(_:)` (without the path prefix).
    public enum Route {
        /// `POST /v1/scrape/batch`
        public static let create = "POST /v1/scrape/batch"
        /// `GET /v1/scrape/batch/{id}/progress`
        public static let progress = "GET /v1/scrape/batch/{id}/progress"
        /// `GET /v1/scrape/jobs/{job_id}`
        public static let job = "GET /v1/scrape/jobs/{job_id}"
        /// `GET /v1/scrape/jobs`
        public static let jobs = "GET /v1/scrape/jobs"
    }

    /// A batch the simulator created.
    public struct CreatedBatch: Sendable, Hashable {
        /// The `batch_id`.
        public var id: String
        /// The URLs, in request order.
        public var urls: [String]
        /// The job ids, one per URL.
        public var jobIDs: [String]
        /// When it was created.
        public var createdAt: Timestamp
    }

    /// The most URLs one batch takes.
    public static let maxURLs = 50
    /// The documented integer options and their ranges.
    static let integerOptions: [(name: String, range: ClosedRange<Int>)] = [
        ("max_items_per_url", 1...500), ("max_total_items", 1...5000), ("parallel_jobs", 1...10), ("timeout_per_url", 1...300),
    ]
    /// The job statuses `GET /v1/scrape/jobs?status=` filters by.
    static let jobStatuses = ["pending", "processing", "completed", "failed", "cancelled"]

    struct State: Sendable {
        var faults: AitronosFaults
        var batches: [String: AitronosBatch] = [:]
        var creationOrder: [String] = []
        /// Job id → (batch id, index in the batch).
        var jobIndex: [String: (batch: String, index: Int)] = [:]
        var requestCounts: [String: Int] = [:]
    }

    let configuration: Configuration
    let logger: Logger
    let state: Mutex<State>
    /// When each batch's progress was asked for (served at `GET /simulator/polls`).
    public let polls = PollLog()

    /// Makes a simulator; nothing runs until `run(onListening:)`.
    public init(configuration: Configuration, logger: Logger) {
        self.configuration = configuration
        self.logger = logger
        state = Mutex(State(faults: configuration.faults))
    }

    /// Serves until the task is cancelled or, under a `ServiceGroup`, until graceful shutdown (which
    /// lets accepted connections finish and cuts slow-create delays short); calls `onListening` with the
    /// bound port once. Throws when the server cannot start (e.g. the port is taken).
    public func run(onListening: @escaping @Sendable (Int) async -> Void) async throws {
        let app = Application(
            router: makeRouter(),
            configuration: .init(address: .hostname(configuration.host, port: configuration.port), serverName: nil),
            onServerRunning: { channel in await onListening(channel.localAddress?.port ?? 0) },
            logger: logger
        )
        do {
            try await app.run()
        } catch is CancellationError where Task.isCancelled {
            return
        }
    }

    /// Replaces the faults; counters start again from the given values.
    public func setFaults(_ faults: AitronosFaults) {
        state.withLock { $0.faults = faults }
    }

    /// The faults now in force (counters as consumed so far).
    public func faults() -> AitronosFaults {
        state.withLock { $0.faults }
    }

    /// How many requests reached a route (see `Route`), faulted and refused ones included.
    public func requestCount(_ route: String) -> Int {
        state.withLock { $0.requestCounts[route] ?? 0 }
    }

    /// Every batch created so far, oldest first, slow-created ones included as soon as they exist.
    public func createdBatches() -> [CreatedBatch] {
        state.withLock { state in
            state.creationOrder.compactMap { id in
                state.batches[id].map { batch in
                    CreatedBatch(id: batch.id, urls: batch.jobs.map(\.url), jobIDs: batch.jobs.map(\.id), createdAt: batch.createdAt)
                }
            }
        }
    }

    // MARK: - HTTP

    private func makeRouter() -> Router<BasicRequestContext> {
        let router = Router(context: BasicRequestContext.self)
        var prefix = configuration.pathPrefix
        while prefix.hasSuffix("/") { prefix.removeLast() }
        router.post(RouterPath(prefix + "/v1/scrape/batch")) { request, _ in
            try await self.handle(Route.create, request) { body throws(APIError) in try self.create(body) }
        }
        router.get(RouterPath(prefix + "/v1/scrape/batch/:id/progress")) { request, context in
            let id = context.parameters.get("id") ?? ""
            self.polls.record(id)
            return try await self.handle(Route.progress, request) { _ throws(APIError) in try self.progress(id) }
        }
        router.get(RouterPath(prefix + "/v1/scrape/jobs/:job_id")) { request, context in
            let jobID = context.parameters.get("job_id") ?? ""
            return try await self.handle(Route.job, request) { _ throws(APIError) in try self.job(jobID) }
        }
        router.get(RouterPath(prefix + "/v1/scrape/jobs")) { request, _ in
            let query = request.uri.queryParameters
            let parameters = (query["status"].map(String.init), query["limit"].map(String.init), query["offset"].map(String.init))
            return try await self.handle(Route.jobs, request) { _ throws(APIError) in
                try self.listJobs(status: parameters.0, limit: parameters.1, offset: parameters.2)
            }
        }
        router.get(RouterPath(PollLog.path)) { _, _ in self.polls.response() }
        FaultControl.register(on: router, parse: AitronosFaults.parse) { self.setFaults($0) }
        return router
    }

    /// An error answer: `{"success": false, "error": {"code", "message", "field"?}}`.
    struct APIError: Error {
        var status: HTTPResponse.Status
        var code: String
        var message: String
        var field: String?
        var retryAfterSeconds: Int64?
    }

    /// A successful answer, and how long to hold it back (slow-create).
    struct Answer: Sendable {
        var body: JSONValue
        var delay: Duration = .zero
    }

    private func handle(
        _ route: String,
        _ request: Request,
        _ body: @Sendable ([UInt8]) throws(APIError) -> Answer
    ) async throws -> Response {
        let (latency, gate) = state.withLock { state in
            state.requestCounts[route, default: 0] += 1
            return state.faults.nextGate()
        }
        await Self.pause(latency)
        var mangling: HostileAnswer?
        switch gate {
        case .unavailable:
            return Self.errorResponse(
                APIError(status: .serviceUnavailable, code: "service_unavailable", message: "The service is temporarily unavailable.")
            )
        case .rateLimited(let retryAfter):
            return Self.errorResponse(
                APIError(
                    status: .tooManyRequests,
                    code: "rate_limit_exceeded",
                    message: "Too many requests; slow down.",
                    retryAfterSeconds: (max(retryAfter.milliseconds, 0) + 999) / 1000
                )
            )
        case .hostile(let kind):
            mangling = kind
        case .open:
            break
        }
        guard isAuthorized(request) else {
            return Self.errorResponse(APIError(status: .unauthorized, code: "unauthorized", message: "Invalid or missing API key."))
        }
        var request = request
        let bytes: [UInt8]
        do {
            bytes = Array((try await request.collectBody(upTo: configuration.maxBodyBytes)).readableBytesView)
        } catch {
            return Self.errorResponse(APIError(status: .contentTooLarge, code: "payload_too_large", message: "The request body is too large."))
        }
        let answer: Answer
        do {
            answer = try body(bytes)
        } catch {
            return Self.errorResponse(error)
        }
        await Self.pause(answer.delay)
        return Self.jsonResponse(answer.body, status: .ok, mangledAs: mangling)
    }

    /// Waits, but no longer than until graceful shutdown, so a held answer never delays stopping.
    private static func pause(_ duration: Duration) async {
        guard duration > .zero else { return }
        try? await cancelWhenGracefulShutdown { try await Task.sleep(for: duration) }
    }

    private func isAuthorized(_ request: Request) -> Bool {
        switch configuration.authStyle {
        case .bearer:
            return request.headers[.authorization] == "Bearer \(configuration.apiKey)"
        case .xAPIKey:
            return request.headers.first { $0.name.canonicalName == "x-api-key" }?.value == configuration.apiKey
        }
    }

    private func create(_ body: [UInt8]) throws(APIError) -> Answer {
        func invalid(_ field: String?, _ message: String) -> APIError {
            APIError(status: .badRequest, code: "invalid_request", message: message, field: field)
        }
        guard let json = try? JSONDecoder().decode(JSONValue.self, from: Data(body)), json.isObject else {
            throw invalid(nil, "The body must be a JSON object.")
        }
        guard case .array(let rawURLs)? = json["urls"], !rawURLs.isEmpty else {
            throw invalid("urls", "urls must be a non-empty array of URLs.")
        }
        guard rawURLs.count <= Self.maxURLs else {
            throw invalid("urls", "A batch takes at most \(Self.maxURLs) URLs; got \(rawURLs.count).")
        }
        var urls: [String] = []
        for (index, raw) in rawURLs.enumerated() {
            guard let url = raw.stringValue, Self.isHTTPURL(url) else {
                throw invalid("urls[\(index)]", "Not a valid http(s) URL.")
            }
            urls.append(url)
        }
        guard let schema = json["schema"], schema != .null else {
            throw invalid("schema", "schema is required.")
        }
        guard schema.isObject else { throw invalid("schema", "schema must be a JSON object.") }
        if let organization = json["organization_id"], organization != .null, organization.stringValue == nil {
            throw invalid("organization_id", "organization_id must be a string.")
        }
        var integers: [String: Int] = [:]
        switch json["options"] {
        case nil, .null?:
            break
        case .object(let options)?:
            for key in options.keys.sorted() {
                let value = options[key] ?? .null
                if let range = Self.integerOptions.first(where: { $0.name == key })?.range {
                    guard let number = value.intValue, range.contains(number) else {
                        throw invalid("options.\(key)", "\(key) must be an integer from \(range.lowerBound) to \(range.upperBound).")
                    }
                    integers[key] = Int(number)
                } else if key == "date_filter" {
                    guard value == .null || value.isObject else { throw invalid("options.date_filter", "date_filter must be an object or null.") }
                } else if key == "llm_mode" {
                    guard value.stringValue != nil else { throw invalid("options.llm_mode", "llm_mode must be a string.") }
                } else {
                    throw invalid("options.\(key)", "Unknown option \(key).")
                }
            }
        default:
            throw invalid("options", "options must be a JSON object.")
        }

        let now = Timestamp.now()
        let id = "batch_" + Self.randomToken(12)
        let jobIDs = urls.map { _ in "job_" + Self.randomToken(12) }
        let batch = AitronosBatch(
            id: id,
            createdAt: now,
            urls: urls,
            jobIDs: jobIDs,
            schema: schema,
            maxItemsPerURL: integers["max_items_per_url"] ?? 50,
            maxTotalItems: integers["max_total_items"] ?? 500,
            parallelJobs: integers["parallel_jobs"] ?? configuration.parallelJobs,
            perURLDuration: configuration.perURLDuration,
            queueDelay: configuration.queueDelay
        )
        return state.withLock { state in
            state.batches[id] = batch
            state.creationOrder.append(id)
            for (index, jobID) in jobIDs.enumerated() { state.jobIndex[jobID] = (id, index) }
            var delay = Duration.zero
            if state.faults.slowCreates > 0 {
                state.faults.slowCreates -= 1
                delay = state.faults.slowCreateDelay
            }
            return Answer(body: batch.createResponse(), delay: delay)
        }
    }

    private func progress(_ id: String) throws(APIError) -> Answer {
        guard let batch = state.withLock({ $0.batches[id] }) else {
            throw APIError(status: .notFound, code: "not_found", message: "Batch \(id) not found.")
        }
        let (shuffle, unlisted) = state.withLock { ($0.faults.shuffleJobs, $0.faults.unlistedURLs) }
        return Answer(body: .object(["success": true, "data": batch.progressData(at: .now(), shuffled: shuffle, listingURLs: !unlisted)]))
    }

    private func job(_ jobID: String) throws(APIError) -> Answer {
        let found = state.withLock { state -> (AitronosBatch, Int)? in
            guard let entry = state.jobIndex[jobID], let batch = state.batches[entry.batch] else { return nil }
            return (batch, entry.index)
        }
        guard let (batch, index) = found else {
            throw APIError(status: .notFound, code: "not_found", message: "Job \(jobID) not found.")
        }
        return Answer(body: batch.detail(batch.jobs[index], at: .now()))
    }

    private func listJobs(status: String?, limit: String?, offset: String?) throws(APIError) -> Answer {
        func invalid(_ field: String, _ message: String) -> APIError {
            APIError(status: .badRequest, code: "invalid_request", message: message, field: field)
        }
        if let status, !status.isEmpty, !Self.jobStatuses.contains(status) {
            throw invalid("status", "status must be one of \(Self.jobStatuses.joined(separator: ", ")).")
        }
        let limitValue = limit.map { Int($0) } ?? 20
        guard let limitValue, (1...100).contains(limitValue) else { throw invalid("limit", "limit must be an integer from 1 to 100.") }
        let offsetValue = offset.map { Int($0) } ?? 0
        guard let offsetValue, offsetValue >= 0 else { throw invalid("offset", "offset must be a non-negative integer.") }
        let batches = state.withLock { state in state.creationOrder.compactMap { state.batches[$0] } }
        let now = Timestamp.now()
        var matching: [JSONValue] = []
        for batch in batches {
            for job in batch.jobs where status == nil || status == "" || batch.status(of: job, at: now) == status {
                matching.append(batch.listEntry(job, at: now))
            }
        }
        let page = Array(matching.dropFirst(offsetValue).prefix(limitValue))
        return Answer(
            body: .object([
                "success": true,
                "data": .object([
                    "jobs": .array(page), "total": .number(Double(matching.count)), "limit": .number(Double(limitValue)),
                    "offset": .number(Double(offsetValue)),
                ]),
            ])
        )
    }

    private static func isHTTPURL(_ text: String) -> Bool {
        guard !text.unicodeScalars.contains(where: { $0.properties.isWhitespace || $0.value < 0x20 }),
            let components = URLComponents(string: text), let scheme = components.scheme?.lowercased(),
            scheme == "http" || scheme == "https", let host = components.host, !host.isEmpty
        else { return false }
        return true
    }

    private static func randomToken(_ length: Int) -> String {
        let alphabet = Array("abcdefghijklmnopqrstuvwxyz0123456789")
        var generator = SystemRandomNumberGenerator()
        return String((0..<length).map { _ in alphabet[Int(generator.next(upperBound: UInt64(alphabet.count)))] })
    }

    private static func jsonResponse(_ value: JSONValue, status: HTTPResponse.Status, mangledAs mangling: HostileAnswer? = nil) -> Response {
        if let mangling {
            return Response(status: status, headers: [.contentType: "application/json"], body: mangling.responseBody(for: value))
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let bytes = (try? Array(encoder.encode(value))) ?? Array("{}".utf8)
        return Response(status: status, headers: [.contentType: "application/json"], body: ResponseBody(byteBuffer: ByteBuffer(bytes: bytes)))
    }

    private static func errorResponse(_ error: APIError) -> Response {
        var fields: [String: JSONValue] = ["code": .string(error.code), "message": .string(error.message)]
        if let field = error.field { fields["field"] = .string(field) }
        var response = jsonResponse(.object(["success": false, "error": .object(fields)]), status: error.status)
        if let seconds = error.retryAfterSeconds { response.headers[.retryAfter] = String(seconds) }
        return response
    }
}
