public import BatchGateCore
import Instrumentation
public import Logging
import Synchronization

/// An HTTP/1.1 and HTTP/2 client on libcurl's multi interface: one event thread drives every
/// transfer, and connections are kept and reused per host.
///
/// Redirects are never followed (a 3xx comes back as a response), only `http` and `https` URLs are
/// accepted, and proxy environment variables are ignored. Scope a client with
/// ``withClient(configuration:logger:isolation:_:)``, or create one with
/// ``init(configuration:logger:)`` and call ``shutdown()`` when done.
public final class CurlHTTPClient: HTTPTransport {
    /// Connection limits, timeouts and size limits of one client.
    public struct Configuration: Sendable {
        /// Longest time to establish a connection (TCP and TLS); a request's own timeout still caps
        /// the whole exchange.
        public var connectTimeout: Duration = .seconds(10)
        /// Most open connections to one host; further requests to it wait for a free connection,
        /// and that wait counts towards their timeout.
        public var maxConnectionsPerHost: Int = 64
        /// Most open connections in total, and most idle connections kept for reuse.
        public var maxTotalConnections: Int = 512
        /// Largest response body accepted; a larger one fails the request with `.connection`.
        public var maxResponseBytes: Int = 16 * 1024 * 1024
        /// Sent as `User-Agent` unless the request sets its own.
        public var userAgent: String = "BatchGate/1.0"
        /// Called on the event thread with the IP address a request is about to be sent to, on a new
        /// or a reused connection; returning false fails the request with `.connection`. Use it to
        /// refuse private addresses at send time. Must be fast and must not block.
        public var allowRemoteAddress: (@Sendable (String) -> Bool)?

        /// Creates a configuration; every parameter has the default documented on its property.
        public init(
            connectTimeout: Duration = .seconds(10),
            maxConnectionsPerHost: Int = 64,
            maxTotalConnections: Int = 512,
            maxResponseBytes: Int = 16 * 1024 * 1024,
            userAgent: String = "BatchGate/1.0",
            allowRemoteAddress: (@Sendable (String) -> Bool)? = nil
        ) {
            self.connectTimeout = connectTimeout
            self.maxConnectionsPerHost = maxConnectionsPerHost
            self.maxTotalConnections = maxTotalConnections
            self.maxResponseBytes = maxResponseBytes
            self.userAgent = userAgent
            self.allowRemoteAddress = allowRemoteAddress
        }

        /// The first problem with the values, naming the property, or nil when they are usable.
        func validationError() -> TransportError? {
            func invalid(_ message: String) -> TransportError {
                TransportError(.invalidRequest, "CurlHTTPClient.Configuration.\(message)")
            }
            if PreparedRequest.milliseconds(connectTimeout) < 1 {
                return invalid("connectTimeout must be at least 1 ms (got \(connectTimeout))")
            }
            if maxConnectionsPerHost < 1 {
                return invalid("maxConnectionsPerHost must be at least 1 (got \(maxConnectionsPerHost))")
            }
            if maxTotalConnections < maxConnectionsPerHost {
                return invalid(
                    "maxTotalConnections must be at least maxConnectionsPerHost "
                        + "(got \(maxTotalConnections) < \(maxConnectionsPerHost))"
                )
            }
            if maxResponseBytes < 0 {
                return invalid("maxResponseBytes must not be negative (got \(maxResponseBytes))")
            }
            if !PreparedRequest.isValidHeaderValue(userAgent) {
                return invalid("userAgent must not contain CR, LF or NUL")
            }
            return nil
        }
    }

    /// The configuration the client was created with.
    public let configuration: Configuration
    let loop: CurlEventLoop

    /// Creates a client and starts its event thread.
    ///
    /// Call ``shutdown()`` when done. If the last reference goes away without it, `deinit` shuts
    /// down the same way: no request can still be in flight then (each holds the client), so the
    /// event thread just stops, its connections close, and `deinit` waits for it to exit.
    /// Throws `.invalidRequest` naming the bad configuration value, or `.connection` when libcurl or
    /// the thread cannot be set up.
    public init(configuration: Configuration = .init(), logger: Logger? = nil) throws(TransportError) {
        if let error = configuration.validationError() { throw error }
        self.configuration = configuration
        let logger = logger ?? Logger(label: "batchgate.transport", factory: { _ in SwiftLogNoOpLogHandler() })
        loop = try CurlEventLoop(configuration: configuration, logger: logger)
        try loop.start()
    }

    deinit {
        loop.shutdown()
    }

    /// Runs `body` with a new client and shuts the client down when `body` returns or throws.
    ///
    /// Requests still in flight at that point fail with `.cancelled`.
    public static func withClient<R: Sendable>(
        configuration: Configuration = .init(),
        logger: Logger? = nil,
        isolation: isolated (any Actor)? = #isolation,
        _ body: (CurlHTTPClient) async throws -> R
    ) async throws -> R {
        let client = try CurlHTTPClient(configuration: configuration, logger: logger)
        defer { client.shutdown() }
        return try await body(client)
    }

    /// Stops the event thread and waits for it to exit (normally well under a millisecond).
    ///
    /// Requests in flight fail with `.cancelled`, and so does every later ``send(_:)``. Idempotent;
    /// a call racing with another returns without waiting.
    public func shutdown() {
        loop.shutdown()
    }

    /// Sends the request and returns the whole response, whatever its status.
    ///
    /// Throws `.invalidRequest` for a URL that is not absolute http(s), an invalid method or header
    /// (the message names the header, never its value), or a non-positive timeout; `.timeout` when
    /// `request.timeout` passes; `.connection` when the connection fails or closes early or the body
    /// exceeds `maxResponseBytes`; `.cancelled` when the task is cancelled (the transfer is aborted
    /// at once) or the client is shut down.
    public func send(_ request: HTTPRequest) async throws(TransportError) -> HTTPResponse {
        let prepared = try PreparedRequest(request.carryingTraceContext())
        let loop = loop
        let id = loop.makeTransferID()
        let result = await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<TransferResult, Never>) in
                loop.submit(Submission(id: id, request: prepared, continuation: continuation))
            }
        } onCancel: {
            loop.cancel(id)
        }
        return try result.get()
    }

    /// Transfers currently in the multi handle, as of the event thread's last iteration.
    var activeTransferCount: Int {
        loop.activeTransferCount.load(ordering: .relaxed)
    }
}

extension HTTPRequest {
    /// The request with the task's trace context added as W3C `traceparent` (and `tracestate`), when
    /// tracing is on and a span is current; a header of those names the caller set is replaced.
    func carryingTraceContext() -> HTTPRequest {
        guard let context = ServiceContext.current else { return self }
        var injected: [(name: String, value: String)] = []
        InstrumentationSystem.instrument.inject(context, into: &injected, using: HeaderPairsInjector())
        guard !injected.isEmpty else { return self }
        var request = self
        let names = Set(injected.map { $0.name.lowercased() })
        request.headers.removeAll { names.contains($0.name.lowercased()) }
        request.headers += injected
        return request
    }
}

/// Writes trace context fields as request header pairs.
struct HeaderPairsInjector: Injector {
    func inject(_ value: String, forKey key: String, into carrier: inout [(name: String, value: String)]) {
        carrier.append((key, value))
    }
}
