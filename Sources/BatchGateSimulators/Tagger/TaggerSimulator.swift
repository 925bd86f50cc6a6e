import BatchGateCore
import Hummingbird
import HummingbirdWebSocket
public import Logging
import ServiceLifecycle
import Synchronization

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// A loopback document-tagging service that follows the vendor's documentation field for field,
/// quirks included.
///
/// HTTP routes, all needing `Authorization: Bearer <token>` (401 `{"detail"}` otherwise):
/// `POST /api/batch/start`, `GET /api/batch/jobs/{job_id}/status` and `POST
/// /api/batch/jobs/{job_id}/cancel|pause|resume`; errors are `{"detail": "..."}`. The WebSocket `GET
/// /api/batch/ws/{job_id}` takes the token as `?token=` or as a bearer header and sends a `catchup`
/// (every `state` value a string), then per-document progress messages without a `type`, keepalives
/// when idle, and a final `completed`, `cancelled` or `error` message before a normal close. Jobs
/// process one document every `Scenario.documentInterval` whether or not a socket is open; control
/// commands are read between documents. Faults are set with `setFaults(_:)`.
public final class TaggerSimulator: Sendable {
    /// How the simulator listens and behaves.
    public struct Configuration: Sendable {
        /// The address to bind, 127.0.0.1 by default.
        public var host: String
        /// 0 picks a free port; `run` reports the bound one.
        public var port: Int
        /// The bearer token every request and socket must carry.
        public var token: String
        /// The initial scenario; change it at runtime with `setScenario(_:)`.
        public var scenario: Scenario
        /// The initial faults; change them at runtime with `setFaults(_:)`.
        public var faults: TaggerFaults
        /// A socket with nothing else to send for this long gets a keepalive (the service: 30 s).
        public var keepaliveInterval: Duration
        /// How often jobs are advanced and keepalives looked for; bounds how late a message can be.
        public var tick: Duration
        /// Wait this long after the upgrade before a socket's first message. The service sends at once
        /// (zero, the default); a delay makes the catchup arrive apart from the 101 response, as over a
        /// slower network (and some clients, HummingbirdWSClient 2.8.1 among them, lose frames that arrive
        /// together with it).
        public var firstMessageDelay: Duration
        /// Largest accepted request body.
        public var maxBodyBytes: Int
        /// How often each socket is pinged; a client that has not answered by the next ping is cut off (a
        /// client process that stopped, or a dead network path). The service's period is not documented.
        public var pingInterval: Duration

        /// A configuration listening on 127.0.0.1 with a free port by default.
        public init(
            host: String = "127.0.0.1",
            port: Int = 0,
            token: String,
            scenario: Scenario = Scenario(),
            faults: TaggerFaults = TaggerFaults(),
            keepaliveInterval: Duration = .seconds(30),
            tick: Duration = .milliseconds(5),
            firstMessageDelay: Duration = .zero,
            maxBodyBytes: Int = 4 << 20,
            pingInterval: Duration = .seconds(30)
        ) {
            self.host = host
            self.port = port
            self.token = token
            self.scenario = scenario
            self.faults = faults
            self.keepaliveInterval = keepaliveInterval
            self.tick = tick
            self.firstMessageDelay = firstMessageDelay
            self.maxBodyBytes = maxBodyBytes
            self.pingInterval = pingInterval
        }
    }

    /// How the jobs started from now on behave.
    public struct Scenario: Sendable, Hashable {
        /// Time each document takes (a rate-limited one takes two).
        public var documentInterval: Duration
        /// Every Nth document (1-based) fails for good with `error_type` `model-error`.
        public var failEvery: Int?
        /// Every Nth document (1-based) first gets a `failed` message with `error_type` `rate-limit` and
        /// `retry_after_ms`, then succeeds on its second attempt. `failEvery` wins where both apply.
        public var rateLimitEvery: Int?
        /// After this many documents the whole job fails with an `error` message.
        public var failJobAfter: Int?

        /// Every document succeeds, one every 50 ms, by default.
        public init(documentInterval: Duration = .milliseconds(50), failEvery: Int? = nil, rateLimitEvery: Int? = nil, failJobAfter: Int? = nil) {
            self.documentInterval = documentInterval
            self.failEvery = failEvery
            self.rateLimitEvery = rateLimitEvery
            self.failJobAfter = failJobAfter
        }
    }

    /// Route names for `requestCount(_:)`.
    public enum Route {
        /// `POST /api/batch/start`
        public static let start = "POST /api/batch/start"
        /// `GET /api/batch/jobs/{job_id}/status`
        public static let status = "GET /api/batch/jobs/{job_id}/status"
        /// `POST /api/batch/jobs/{job_id}/cancel`
        public static let cancel = "POST /api/batch/jobs/{job_id}/cancel"
        /// `POST /api/batch/jobs/{job_id}/pause`
        public static let pause = "POST /api/batch/jobs/{job_id}/pause"
        /// `POST /api/batch/jobs/{job_id}/resume`
        public static let resume = "POST /api/batch/jobs/{job_id}/resume"
        /// `GET /api/batch/ws/{job_id}`: every upgraded socket, refused ones included.
        public static let webSocket = "GET /api/batch/ws/{job_id}"
    }

    /// A job's state as the service holds it.
    public struct JobSnapshot: Sendable, Hashable {
        /// `pending`, `processing`, `paused`, `completed`, `failed` or `cancelled`.
        public var status: String
        /// Documents tagged successfully.
        public var processed: Int
        /// Documents that failed for good.
        public var failed: Int
        /// Documents in the job.
        public var total: Int
        /// Rows with a final result.
        public var resultsCount: Int

        /// A snapshot with these values, e.g. to compare with `jobStatus(_:)`.
        public init(status: String, processed: Int, failed: Int, total: Int, resultsCount: Int) {
            self.status = status
            self.processed = processed
            self.failed = failed
            self.total = total
            self.resultsCount = resultsCount
        }
    }

    /// What a socket is handed to send.
    enum Outbound: Sendable {
        /// A message; `progress` for the per-document ones that the drop fault counts.
        case text(String, progress: Bool)
        /// The job ended: close normally after what was sent.
        case finish
    }

    struct Subscriber: Sendable {
        var continuation: AsyncStream<Outbound>.Continuation
        var lastSent: ContinuousClock.Instant
    }

    struct JobRecord: Sendable {
        var job: TaggerJob
        var subscribers: [Int: Subscriber] = [:]
        var openSockets = 0
        var socketsOpened = 0
        /// Sockets accepted while another socket of the job was open.
        var overlappingSockets = 0
        /// Sockets the `drop` faults cut.
        var socketsDropped = 0
    }

    struct State: Sendable {
        var scenario: Scenario
        var faults: TaggerFaults
        var jobs: [String: JobRecord] = [:]
        var creationOrder: [String] = []
        /// Jobs not finished yet: the ones the ticker advances.
        var active: Set<String> = []
        var requestCounts: [String: Int] = [:]
        var nextSubscriber = 0
    }

    let configuration: Configuration
    let logger: Logger
    let state: Mutex<State>
    /// When each job's status was asked for (served at `GET /simulator/polls`).
    public let polls = PollLog()

    /// Makes a simulator; nothing runs until `run(onListening:)`.
    public init(configuration: Configuration, logger: Logger) {
        self.configuration = configuration
        self.logger = logger
        state = Mutex(State(scenario: configuration.scenario, faults: configuration.faults))
    }

    /// Serves HTTP and WebSocket on one port until the task is cancelled or, under a `ServiceGroup`,
    /// until graceful shutdown (open sockets get a normal close first); calls `onListening` with the
    /// bound port once. Throws when the server cannot start (e.g. the port is taken).
    public func run(onListening: @escaping @Sendable (Int) async -> Void) async throws {
        let router = makeRouter()
        let app = Application(
            router: router,
            server: .http1WebSocketUpgrade(
                webSocketRouter: router,
                configuration: .init(ws: .init(autoPing: .enabled(timePeriod: .milliseconds(Int64(configuration.pingInterval / .milliseconds(1))))))
            ),
            configuration: .init(address: .hostname(configuration.host, port: configuration.port), serverName: nil),
            onServerRunning: { channel in await onListening(channel.localAddress?.port ?? 0) },
            logger: logger
        )
        do {
            try await withThrowingTaskGroup(of: Void.self) { group in
                // The ticker stops when the server has stopped (its error, a cancellation, is dropped).
                group.addTask { try await self.runTicker() }
                try await app.run()
                group.cancelAll()
            }
        } catch is CancellationError where Task.isCancelled {
            return
        }
        finishAllSubscribers()
    }

    /// Replaces the faults; counters start again from the given values.
    public func setFaults(_ faults: TaggerFaults) {
        state.withLock { $0.faults = faults }
    }

    /// The faults now in force (counters as consumed so far).
    public func faults() -> TaggerFaults {
        state.withLock { $0.faults }
    }

    /// Sets the scenario for jobs started from now on.
    public func setScenario(_ scenario: Scenario) {
        state.withLock { $0.scenario = scenario }
    }

    /// How many requests reached a route (see `Route`), faulted and refused ones included.
    public func requestCount(_ route: String) -> Int {
        state.withLock { $0.requestCounts[route] ?? 0 }
    }

    /// The job's state now, or nil for an unknown job.
    public func jobStatus(_ jobID: String) -> JobSnapshot? {
        state.withLock { state in
            state.jobs[jobID].map {
                JobSnapshot(
                    status: $0.job.status.rawValue,
                    processed: $0.job.processed,
                    failed: $0.job.failed,
                    total: $0.job.total,
                    resultsCount: $0.job.results.count
                )
            }
        }
    }

    /// The ids of the jobs started so far, oldest first.
    public func jobIDs() -> [String] {
        state.withLock { $0.creationOrder }
    }

    /// Sockets on the job open now (stalled ones included).
    public func openSockets(jobID: String) -> Int {
        state.withLock { $0.jobs[jobID]?.openSockets ?? 0 }
    }

    /// Sockets accepted for the job while another of its sockets was open.
    public func overlappingSockets(jobID: String) -> Int {
        state.withLock { $0.jobs[jobID]?.overlappingSockets ?? 0 }
    }

    /// Served at `GET /simulator/sockets`: sockets open now, and every job that ever had two sockets open
    /// at once (`overlaps`: how many sockets were accepted while another of the job's was open).
    func socketReport() -> JSONValue {
        state.withLock { state in
            var overlapping: [String: JSONValue] = [:]
            var open = 0
            for (id, record) in state.jobs {
                open += record.openSockets
                if record.overlappingSockets > 0 { overlapping[id] = .integer(Int64(record.overlappingSockets)) }
            }
            return [
                "jobs": .integer(Int64(state.jobs.count)),
                "open_sockets": .integer(Int64(open)),
                "overlaps": .integer(Int64(overlapping.count)),
                "overlapping_jobs": .object(overlapping),
            ]
        }
    }

    /// Sockets ever upgraded for the job, refused ones included.
    public func socketsOpened(jobID: String) -> Int {
        state.withLock { $0.jobs[jobID]?.socketsOpened ?? 0 }
    }

    /// Sockets of the job the `drop` faults cut (a socket planned to drop that saw the job end first is
    /// closed normally and not counted).
    public func socketsDropped(jobID: String) -> Int {
        state.withLock { $0.jobs[jobID]?.socketsDropped ?? 0 }
    }

    // MARK: - Jobs

    /// Advances every active job each `tick`, hands the messages to the job's sockets, and sends
    /// keepalives to sockets that sent nothing for `keepaliveInterval`. Ends on cancellation.
    func runTicker() async throws {
        while true {
            let now = ContinuousClock.now
            let keepaliveInterval = configuration.keepaliveInterval
            state.withLock { state in
                for jobID in state.active {
                    guard var record = state.jobs[jobID] else { continue }
                    let messages = record.job.advance(now: now)
                    if !messages.isEmpty {
                        let texts = messages.map { ($0["type"] == nil, Self.encode($0)) }
                        for (id, var subscriber) in record.subscribers {
                            for (progress, text) in texts { subscriber.continuation.yield(.text(text, progress: progress)) }
                            subscriber.lastSent = now
                            record.subscribers[id] = subscriber
                        }
                    }
                    if record.job.status.isFinished {
                        for subscriber in record.subscribers.values {
                            subscriber.continuation.yield(.finish)
                            subscriber.continuation.finish()
                        }
                        record.subscribers = [:]
                        state.active.remove(jobID)
                    } else {
                        for (id, var subscriber) in record.subscribers where now - subscriber.lastSent >= keepaliveInterval {
                            subscriber.continuation.yield(.text(Self.encode(record.job.keepalive), progress: false))
                            subscriber.lastSent = now
                            record.subscribers[id] = subscriber
                        }
                    }
                    state.jobs[jobID] = record
                }
            }
            try await Task.sleep(for: configuration.tick)
        }
    }

    private func finishAllSubscribers() {
        state.withLock { state in
            for (jobID, record) in state.jobs where !record.subscribers.isEmpty {
                for subscriber in record.subscribers.values { subscriber.continuation.finish() }
                state.jobs[jobID]?.subscribers = [:]
            }
        }
    }

    // MARK: - HTTP

    private func makeRouter() -> Router<TaggerRequestContext> {
        let router = Router(context: TaggerRequestContext.self)
        router.post("/api/batch/start") { request, _ in
            try await self.handle(Route.start, request) { (body: [UInt8]) throws(APIError) -> JSONValue in
                try self.start(body)
            }
        }
        router.get("/api/batch/jobs/:job_id/status") { request, context in
            let id = context.parameters.get("job_id") ?? ""
            self.polls.record(id)
            return try await self.handle(Route.status, request) { (_: [UInt8]) throws(APIError) -> JSONValue in
                try self.withJob(id) { $0.job.statusBody }
            }
        }
        router.post("/api/batch/jobs/:job_id/cancel") { request, context in
            let id = context.parameters.get("job_id") ?? ""
            return try await self.handle(Route.cancel, request) { (_: [UInt8]) throws(APIError) -> JSONValue in
                try self.control(id) { job throws(TaggerJob.Refusal) in try job.requestCancel() }
            }
        }
        router.post("/api/batch/jobs/:job_id/pause") { request, context in
            let id = context.parameters.get("job_id") ?? ""
            return try await self.handle(Route.pause, request) { (_: [UInt8]) throws(APIError) -> JSONValue in
                try self.control(id) { job throws(TaggerJob.Refusal) in try job.requestPause() }
            }
        }
        router.post("/api/batch/jobs/:job_id/resume") { request, context in
            let id = context.parameters.get("job_id") ?? ""
            return try await self.handle(Route.resume, request) { (_: [UInt8]) throws(APIError) -> JSONValue in
                try self.control(id) { job throws(TaggerJob.Refusal) in try job.requestResume() }
            }
        }
        router.ws("/api/batch/ws/:job_id") { inbound, outbound, context in
            try await self.serveSocket(inbound: inbound, outbound: outbound, context: context)
        }
        router.get(RouterPath(PollLog.path)) { _, _ in self.polls.response() }
        FaultControl.register(on: router, parse: TaggerFaults.parse) { self.setFaults($0) }
        router.get("/simulator/sockets") { _, _ in
            let report = self.socketReport()
            return Response(
                status: .ok,
                headers: [.contentType: "application/json"],
                body: .init(byteBuffer: ByteBuffer(string: Self.encode(report)))
            )
        }
        return router
    }

    /// An error answer, FastAPI style: `{"detail": "..."}`.
    struct APIError: Error {
        var status: HTTPResponse.Status
        var detail: String
        var retryAfterSeconds: Int64?
    }

    private func handle(
        _ route: String,
        _ request: Request,
        _ body: @Sendable ([UInt8]) throws(APIError) -> JSONValue
    ) async throws -> Response {
        let (latency, gate) = state.withLock { state in
            state.requestCounts[route, default: 0] += 1
            return state.faults.nextGate()
        }
        if latency > .zero { try await Task.sleep(for: latency) }
        var mangling: HostileAnswer?
        switch gate {
        case .unavailable:
            return Self.errorResponse(APIError(status: .serviceUnavailable, detail: "Service temporarily unavailable"))
        case .rateLimited(let retryAfter):
            let millis = max(retryAfter.milliseconds, 0)
            return Self.errorResponse(
                APIError(status: .tooManyRequests, detail: "Rate limit exceeded", retryAfterSeconds: (millis + 999) / 1000)
            )
        case .hostile(let kind):
            mangling = kind
        case .open:
            break
        }
        guard request.headers[.authorization] == "Bearer \(configuration.token)" else {
            return Self.errorResponse(APIError(status: .unauthorized, detail: "Not authenticated"))
        }
        var request = request
        let bytes: [UInt8]
        do {
            bytes = Array((try await request.collectBody(upTo: configuration.maxBodyBytes)).readableBytesView)
        } catch {
            return Self.errorResponse(APIError(status: .contentTooLarge, detail: "Request body too large"))
        }
        do {
            return Self.jsonResponse(try body(bytes), status: .ok, mangledAs: mangling)
        } catch {
            return Self.errorResponse(error)
        }
    }

    private func withJob(_ id: String, _ render: (JobRecord) -> JSONValue) throws(APIError) -> JSONValue {
        guard let record = state.withLock({ $0.jobs[id] }) else {
            throw APIError(status: .notFound, detail: "Job \(id) not found")
        }
        return render(record)
    }

    private func control(_ id: String, _ command: (inout TaggerJob) throws(TaggerJob.Refusal) -> String) throws(APIError) -> JSONValue {
        let outcome: Result<String, APIError> = state.withLock { state in
            guard var record = state.jobs[id] else { return .failure(APIError(status: .notFound, detail: "Job \(id) not found")) }
            do throws(TaggerJob.Refusal) {
                let message = try command(&record.job)
                state.jobs[id] = record
                return .success(message)
            } catch {
                return .failure(APIError(status: .badRequest, detail: error.detail))
            }
        }
        return ["message": .string(try outcome.get())]
    }

    private func start(_ body: [UInt8]) throws(APIError) -> JSONValue {
        let request = try TaggerStartRequest(body)
        let id = request.jobID ?? UUID().uuidString.lowercased()
        let now = ContinuousClock.now
        return try state.withLock { state throws(APIError) -> JSONValue in
            guard state.jobs[id] == nil else {
                throw APIError(status: .conflict, detail: "job_id: a job with id \(id) already exists")
            }
            var job = TaggerJob(id: id, documents: request.documents, settings: request.settings, scenario: state.scenario)
            if state.faults.finishInstantly {
                job.finishInstantly(now: now)
            } else {
                state.active.insert(id)
            }
            state.jobs[id] = JobRecord(job: job)
            state.creationOrder.append(id)
            return [
                "job_id": .string(id), "total_documents": .number(Double(request.documents.count)),
                "message": .string("Batch processing started for \(request.documents.count) documents"),
            ]
        }
    }

    static func encode(_ value: JSONValue) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return (try? encoder.encode(value)).map { String(decoding: $0, as: UTF8.self) } ?? "{}"
    }

    private static func jsonResponse(_ value: JSONValue, status: HTTPResponse.Status, mangledAs mangling: HostileAnswer? = nil) -> Response {
        let body = mangling?.responseBody(for: value) ?? ResponseBody(byteBuffer: ByteBuffer(string: encode(value)))
        return Response(status: status, headers: [.contentType: "application/json"], body: body)
    }

    private static func errorResponse(_ error: APIError) -> Response {
        var response = jsonResponse(["detail": .string(error.detail)], status: error.status)
        if let seconds = error.retryAfterSeconds { response.headers[.retryAfter] = String(seconds) }
        return response
    }
}

/// The request context of the simulator's router: Hummingbird's WebSocket context plus a way to drop
/// the TCP connection without a close frame, for the drop fault.
struct TaggerRequestContext: RequestContext, WebSocketRequestContext {
    var coreContext: CoreRequestContextStorage
    let webSocket: WebSocketHandlerReference<TaggerRequestContext>
    /// Closes the connection's channel at once: no close frame, no close handshake.
    let dropConnection: @Sendable () -> Void

    init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        webSocket = .init()
        let channel = source.channel
        dropConnection = { channel.close(promise: nil) }
    }
}
