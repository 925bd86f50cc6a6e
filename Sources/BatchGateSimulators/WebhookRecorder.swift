public import BatchGateCore
import Hummingbird
public import Logging
import Synchronization

/// A loopback webhook receiver for tests: records every POST and answers with a chosen status.
public final class WebhookRecorder: Sendable {
    /// One received request.
    public struct Received: Sendable, Hashable {
        /// The request path, e.g. `/hooks/airops`.
        public var path: String
        /// Header values by lowercased name (the last one wins when a name repeats).
        public var headers: [String: String]
        /// The request body.
        public var body: [UInt8]
        /// When it arrived.
        public var at: Timestamp
    }

    struct State: Sendable {
        var received: [Received] = []
        var failuresLeft = 0
        var failureStatus = 503
    }

    let state = Mutex(State())
    let logger: Logger

    /// Makes a recorder; it listens once `run(host:port:onListening:)` is called.
    public init(logger: Logger = Logger(label: "batchgate.simulator.webhooks", factory: { _ in SwiftLogNoOpLogHandler() })) {
        self.logger = logger
    }

    /// Makes the next `count` requests answer `status` (recorded all the same); later ones answer 200.
    public func failNext(_ count: Int, status: Int = 503) {
        state.withLock {
            $0.failuresLeft = max(0, count)
            $0.failureStatus = status
        }
    }

    /// Every request received so far, in arrival order.
    public func received() -> [Received] {
        state.withLock { $0.received }
    }

    /// Serves on `host:port` (0: a free port) until the task is cancelled; reports the bound port once.
    public func run(host: String = "127.0.0.1", port: Int = 0, onListening: @escaping @Sendable (Int) async -> Void) async throws {
        let router = Router(context: BasicRequestContext.self)
        router.post("**") { request, _ -> Response in
            var request = request
            let body = Array((try await request.collectBody(upTo: 16 << 20)).readableBytesView)
            var headers: [String: String] = [:]
            for field in request.headers { headers[field.name.canonicalName.lowercased()] = field.value }
            let status = self.state.withLock { state -> Int in
                state.received.append(Received(path: request.uri.path, headers: headers, body: body, at: .now()))
                guard state.failuresLeft > 0 else { return 200 }
                state.failuresLeft -= 1
                return state.failureStatus
            }
            return Response(status: .init(code: status), body: ResponseBody(byteBuffer: ByteBuffer(string: status == 200 ? "ok" : "unavailable")))
        }
        let app = Application(
            router: router,
            configuration: .init(address: .hostname(host, port: port), serverName: nil),
            onServerRunning: { channel in await onListening(channel.localAddress?.port ?? 0) },
            logger: logger
        )
        do {
            try await app.run()
        } catch is CancellationError where Task.isCancelled {
            return
        }
    }
}

/// Runs a `WebhookRecorder` on loopback for the duration of `body`, which gets its base URL
/// (`http://127.0.0.1:<port>`; any path under it is recorded), then stops it.
public func withWebhookRecorder<R>(
    _ recorder: WebhookRecorder = WebhookRecorder(),
    port: Int = 0,
    _ body: (_ baseURL: String, _ recorder: WebhookRecorder) async throws -> R
) async throws -> R {
    try await withLoopbackServer(
        host: "127.0.0.1",
        run: { onListening in try await recorder.run(port: port, onListening: onListening) },
        { baseURL in try await body(baseURL, recorder) }
    )
}
