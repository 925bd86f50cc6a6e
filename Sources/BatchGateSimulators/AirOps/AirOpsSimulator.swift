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

/// A loopback Olostep AirOps batch API that follows the vendor's documentation field for field.
///
/// Routes: `POST /v1/batches-airops` (create; phases nested under `status`), `GET
/// /v1/batches-airops/{id}` (plain-string `status`, phases at the top level) and `GET
/// /v1/batches-airops/{id}/items` (filled once the batch completed). Every route needs
/// `Authorization: Bearer <token>`. Batches progress on wall-clock time per the `Scenario` set when
/// they were created, and each of the nine webhook events is POSTed to the create request's `webhook`
/// URL through the injected transport, retried per `WebhookRetry`. Faults are set with `setFaults(_:)`.
public final class AirOpsSimulator: Sendable {
    /// How the simulator listens and behaves.
    public struct Configuration: Sendable {
        /// The address to bind, 127.0.0.1 by default.
        public var host: String
        /// 0 picks a free port; `run` reports the bound one.
        public var port: Int
        /// The bearer token every request must carry.
        public var token: String
        /// The initial scenario; change it at runtime with `setScenario(_:)`.
        public var scenario: Scenario
        /// The initial faults; change them at runtime with `setFaults(_:)`.
        public var faults: AirOpsFaults
        /// How failed webhook deliveries are retried.
        public var webhookRetry: WebhookRetry
        /// How often due webhook events are looked for.
        public var webhookTick: Duration
        /// Largest accepted request body.
        public var maxBodyBytes: Int

        /// A configuration listening on 127.0.0.1 with a free port by default.
        public init(
            host: String = "127.0.0.1",
            port: Int = 0,
            token: String,
            scenario: Scenario = Scenario(),
            faults: AirOpsFaults = AirOpsFaults(),
            webhookRetry: WebhookRetry = WebhookRetry(),
            webhookTick: Duration = .milliseconds(10),
            maxBodyBytes: Int = 4 << 20
        ) {
            self.host = host
            self.port = port
            self.token = token
            self.scenario = scenario
            self.faults = faults
            self.webhookRetry = webhookRetry
            self.webhookTick = webhookTick
            self.maxBodyBytes = maxBodyBytes
        }
    }

    /// How failed webhook deliveries are retried: Olostep's 5 retries over ~30 minutes, scaled down.
    public struct WebhookRetry: Sendable, Hashable {
        /// Attempts per event, the first included (Olostep: 6).
        public var maxAttempts: Int
        /// Wait before the first retry; each further wait doubles.
        public var initialBackoff: Duration
        /// Per attempt (Olostep: 30 s).
        public var timeout: Duration

        /// Six attempts, 20 ms apart at first, 5 s per attempt by default.
        public init(maxAttempts: Int = 6, initialBackoff: Duration = .milliseconds(20), timeout: Duration = .seconds(5)) {
            self.maxAttempts = max(1, maxAttempts)
            self.initialBackoff = initialBackoff
            self.timeout = timeout
        }

        /// The wait after failed attempt `attempt` (1-based).
        public func backoff(after attempt: Int) -> Duration {
            initialBackoff * (1 << min(max(attempt - 1, 0), 20))
        }
    }

    /// One webhook the simulator sent, or chose not to send.
    public struct SentWebhook: Sendable, Hashable {
        /// What became of the delivery.
        public enum Outcome: String, Sendable, Hashable {
            /// A 2xx answer.
            case delivered
            /// Every attempt failed.
            case failed
            /// Dropped by the `droppedEvents` fault; never sent.
            case dropped
        }

        /// The batch the event is about.
        public var batchID: String
        /// The event type, e.g. `event.batch.airops.completed`.
        public var eventType: String
        /// Where it was sent.
        public var url: String
        /// Delivered, failed after every attempt, or dropped by a fault.
        public var outcome: Outcome
        /// Attempts made (0 when dropped).
        public var attempts: Int
        /// The status of the last answer, if any.
        public var lastStatus: Int?
        /// The last body sent (empty when dropped).
        public var body: [UInt8]
        /// When the delivery finished.
        public var at: Timestamp
    }

    /// Route names for `requestCount(_:)`.
    public enum Route {
        /// `POST /v1/batches-airops`
        public static let create = "POST /v1/batches-airops"
        /// `GET /v1/batches-airops/{id}`
        public static let get = "GET /v1/batches-airops/{id}"
        /// `GET /v1/batches-airops/{id}/items`
        public static let items = "GET /v1/batches-airops/{id}/items"
    }

    struct Delivery: Sendable {
        var batchID: String
        var event: AirOpsTimeline.Event
        var url: String
    }

    struct BatchRecord: Sendable {
        var timeline: AirOpsTimeline
        var webhookURL: String?
        var nextEvent = 0
        var deferred: AirOpsTimeline.Event?
        var outbox: [Delivery] = []
        var delivering = false
    }

    struct State: Sendable {
        var scenario: Scenario
        var faults: AirOpsFaults
        var batches: [String: BatchRecord] = [:]
        var creationOrder: [String] = []
        var requestCounts: [String: Int] = [:]
        /// Requests being answered now, per route.
        var inFlight: [String: Int] = [:]
        /// The latest requests, oldest first (at most `receivedCapacity`).
        var received: [ReceivedRequest] = []
        var sent: [SentWebhook] = []
    }

    let configuration: Configuration
    let webhookTransport: any HTTPTransport
    let logger: Logger
    let state: Mutex<State>
    /// When each batch's `GET` was asked for (served at `GET /simulator/polls`).
    public let polls = PollLog()

    /// Makes a simulator; nothing runs until `run(onListening:)`.
    public init(configuration: Configuration, webhookTransport: any HTTPTransport, logger: Logger) {
        self.configuration = configuration
        self.webhookTransport = webhookTransport
        self.logger = logger
        state = Mutex(State(scenario: configuration.scenario, faults: configuration.faults))
    }

    /// Serves until the task is cancelled or, under a `ServiceGroup`, until graceful shutdown (which
    /// lets accepted connections finish); calls `onListening` with the bound port once.
    /// Throws when the server cannot start (e.g. the port is taken).
    public func run(onListening: @escaping @Sendable (Int) async -> Void) async throws {
        let app = Application(
            router: makeRouter(),
            configuration: .init(address: .hostname(configuration.host, port: configuration.port), serverName: nil),
            onServerRunning: { channel in await onListening(channel.localAddress?.port ?? 0) },
            logger: logger
        )
        do {
            try await withThrowingTaskGroup(of: Void.self) { group in
                // The scheduler stops when the server has stopped (its error, a cancellation, is dropped).
                group.addTask { try await self.runWebhookScheduler() }
                try await app.run()
                group.cancelAll()
            }
        } catch is CancellationError where Task.isCancelled {
            return
        }
    }

    /// Replaces the faults; counters start again from the given values.
    public func setFaults(_ faults: AirOpsFaults) {
        state.withLock { $0.faults = faults }
    }

    /// The faults now in force (counters as consumed so far).
    public func faults() -> AirOpsFaults {
        state.withLock { $0.faults }
    }

    /// Sets the scenario for batches created from now on.
    public func setScenario(_ scenario: Scenario) {
        state.withLock { $0.scenario = scenario }
    }

    /// How many requests reached a route (see `Route`), faulted and refused ones included.
    public func requestCount(_ route: String) -> Int {
        state.withLock { $0.requestCounts[route] ?? 0 }
    }

    /// One request as the simulator received it: which client sent it shows in `host`, the authority the
    /// client addressed (say `127.0.0.1:…` for one gateway and `localhost:…` for another).
    public struct ReceivedRequest: Sendable, Hashable {
        /// A `Route` constant.
        public var route: String
        public var path: String
        public var host: String
        public var at: ContinuousClock.Instant
    }

    /// How many requests `receivedRequests()` keeps.
    static let receivedCapacity = 100_000

    /// The latest requests received, oldest first.
    public func receivedRequests() -> [ReceivedRequest] {
        state.withLock { $0.received }
    }

    /// How many requests to `route` (a `Route` constant) are being answered now (waiting out `latency`).
    public func requestsInFlight(_ route: String) -> Int {
        state.withLock { $0.inFlight[route] ?? 0 }
    }

    /// Every webhook delivery finished so far, in the order they finished.
    public func sentWebhooks() -> [SentWebhook] {
        state.withLock { $0.sent }
    }

    /// The ids of the batches created so far, oldest first.
    public func batchIDs() -> [String] {
        state.withLock { $0.creationOrder }
    }

    // MARK: - HTTP

    private func makeRouter() -> Router<BasicRequestContext> {
        let router = Router(context: BasicRequestContext.self)
        router.post("/v1/batches-airops") { request, _ in
            try await self.handle(Route.create, request) { (body: [UInt8]) throws(APIError) -> JSONValue in
                try self.create(body)
            }
        }
        router.get("/v1/batches-airops/:id") { request, context in
            let id = context.parameters.get("id") ?? ""
            self.polls.record(id)
            return try await self.handle(Route.get, request) { (_: [UInt8]) throws(APIError) -> JSONValue in
                try self.withBatch(id) { $0.getResponse(at: .now()) }
            }
        }
        router.get("/v1/batches-airops/:id/items") { request, context in
            let id = context.parameters.get("id") ?? ""
            return try await self.handle(Route.items, request) { (_: [UInt8]) throws(APIError) -> JSONValue in
                try self.withBatch(id) { $0.itemsResponse(at: .now()) }
            }
        }
        router.get(RouterPath(PollLog.path)) { _, _ in self.polls.response() }
        FaultControl.register(on: router, parse: AirOpsFaults.parse) { self.setFaults($0) }
        return router
    }

    /// An error answer: `{"error": {"code", "message", "field"?}}`.
    struct APIError: Error {
        var status: HTTPResponse.Status
        var code: String
        var message: String
        var field: String?
        var retryAfterSeconds: Int64?
    }

    private func handle(
        _ route: String,
        _ request: Request,
        _ body: @Sendable ([UInt8]) throws(APIError) -> JSONValue
    ) async throws -> Response {
        let (latency, gate) = state.withLock { state in
            state.requestCounts[route, default: 0] += 1
            state.inFlight[route, default: 0] += 1
            if state.received.count >= Self.receivedCapacity { state.received.removeFirst(Self.receivedCapacity / 2) }
            state.received.append(
                ReceivedRequest(route: route, path: request.uri.path, host: request.head.authority ?? "", at: .now)
            )
            return state.faults.nextGate()
        }
        defer { state.withLock { $0.inFlight[route, default: 0] -= 1 } }
        if latency > .zero { try await Task.sleep(for: latency) }
        var mangling: HostileAnswer?
        switch gate {
        case .unavailable:
            return Self.errorResponse(
                APIError(status: .serviceUnavailable, code: "service_unavailable", message: "The service is temporarily unavailable.")
            )
        case .rateLimited(let retryAfter):
            let millis = max(retryAfter.milliseconds, 0)
            return Self.errorResponse(
                APIError(
                    status: .tooManyRequests,
                    code: "rate_limit_exceeded",
                    message: "Too many requests; slow down.",
                    retryAfterSeconds: (millis + 999) / 1000
                )
            )
        case .hostile(let kind):
            mangling = kind
        case .open:
            break
        }
        guard request.headers[.authorization] == "Bearer \(configuration.token)" else {
            return Self.errorResponse(APIError(status: .unauthorized, code: "unauthorized", message: "Invalid or missing API key."))
        }
        var request = request
        let bytes: [UInt8]
        do {
            bytes = Array((try await request.collectBody(upTo: configuration.maxBodyBytes)).readableBytesView)
        } catch {
            return Self.errorResponse(APIError(status: .contentTooLarge, code: "payload_too_large", message: "The request body is too large."))
        }
        do {
            return Self.jsonResponse(try body(bytes), status: route == Route.create ? .created : .ok, mangledAs: mangling)
        } catch {
            return Self.errorResponse(error)
        }
    }

    private func withBatch(_ id: String, _ render: (AirOpsTimeline) -> JSONValue) throws(APIError) -> JSONValue {
        guard let timeline = state.withLock({ $0.batches[id]?.timeline }) else {
            throw APIError(status: .notFound, code: "not_found", message: "Batch \(id) not found.")
        }
        return render(timeline)
    }

    private func create(_ body: [UInt8]) throws(APIError) -> JSONValue {
        func invalid(_ field: String?, _ message: String) -> APIError {
            APIError(status: .badRequest, code: "invalid_request", message: message, field: field)
        }
        guard let json = try? JSONDecoder().decode(JSONValue.self, from: Data(body)), json.isObject else {
            throw invalid(nil, "The body must be a JSON object.")
        }
        guard case .array(let rawItems)? = json["items"], !rawItems.isEmpty else {
            throw invalid("items", "items must be a non-empty array of {url, custom_id}.")
        }
        var requested: [(url: String, customID: String?)] = []
        for (index, item) in rawItems.enumerated() {
            guard let url = item["url"]?.stringValue else {
                throw invalid("items[\(index)].url", "Each item needs a url string.")
            }
            guard Self.isHTTPURL(url) else {
                throw invalid("items[\(index)].url", "Not a valid http(s) URL: \(url)")
            }
            var customID: String?
            switch item["custom_id"] {
            case nil, .null?: customID = nil
            case .string(let value)?:
                guard (1...255).contains(value.count) else {
                    throw invalid("items[\(index)].custom_id", "custom_id must be 1–255 characters.")
                }
                customID = value
            default:
                throw invalid("items[\(index)].custom_id", "custom_id must be a string.")
            }
            requested.append((url, customID))
        }
        var brands: [String] = []
        switch json["brands"] {
        case nil, .null?: break
        case .array(let values)?:
            for (index, value) in values.enumerated() {
                guard let brand = value.stringValue else { throw invalid("brands[\(index)]", "brands must be strings.") }
                brands.append(brand)
            }
        default: throw invalid("brands", "brands must be an array of strings.")
        }
        if let country = json["country"], country != .null, country.stringValue == nil {
            throw invalid("country", "country must be a string.")
        }
        var webhookURL: String?
        switch json["webhook"] {
        case nil, .null?: break
        case .string(let url)?:
            guard Self.isHTTPURL(url) else { throw invalid("webhook", "webhook must be an http(s) URL.") }
            webhookURL = url
        default: throw invalid("webhook", "webhook must be a URL string.")
        }

        let now = Timestamp.now()
        let id = "batch_" + Self.randomToken(16)
        return state.withLock { state in
            let timeline = AirOpsTimeline(
                id: id,
                createdAt: now,
                requested: requested,
                brands: brands,
                scenario: state.scenario,
                llmBatchID: "batch_" + Self.randomToken(12)
            )
            state.batches[id] = BatchRecord(timeline: timeline, webhookURL: webhookURL)
            state.creationOrder.append(id)
            return timeline.createResponse(at: now)
        }
    }

    static func isHTTPURL(_ text: String) -> Bool {
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

    static func encode(_ value: JSONValue) -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return (try? Array(encoder.encode(value))) ?? Array("{}".utf8)
    }

    private static func jsonResponse(_ value: JSONValue, status: HTTPResponse.Status, mangledAs mangling: HostileAnswer? = nil) -> Response {
        Response(
            status: status,
            headers: [.contentType: "application/json"],
            body: mangling?.responseBody(for: value) ?? ResponseBody(byteBuffer: ByteBuffer(bytes: encode(value)))
        )
    }

    private static func errorResponse(_ error: APIError) -> Response {
        var fields: [String: JSONValue] = ["code": .string(error.code), "message": .string(error.message)]
        if let field = error.field { fields["field"] = .string(field) }
        var response = jsonResponse(.object(["error": .object(fields)]), status: error.status)
        if let seconds = error.retryAfterSeconds { response.headers[.retryAfter] = String(seconds) }
        return response
    }
}
