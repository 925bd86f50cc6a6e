/// One WebSocket connection to open.
public struct WebSocketRequest: Sendable {
    /// `ws://` or `wss://`.
    public var url: String
    /// Extra headers of the upgrade request, sent in order.
    public var headers: [(name: String, value: String)]
    /// The TCP connect and the upgrade must finish within this.
    public var connectTimeout: Duration
    /// When no message arrives for this long, the connection is closed and `WebSocketClose.idle` is set.
    public var idleTimeout: Duration?
    /// For peers that speak first (a snapshot on connect): when the first message has not arrived this
    /// long after the upgrade, the connection is closed as idle.
    public var firstMessageTimeout: Duration?

    public init(
        url: String,
        headers: [(name: String, value: String)] = [],
        connectTimeout: Duration = .seconds(10),
        idleTimeout: Duration? = nil,
        firstMessageTimeout: Duration? = nil
    ) {
        self.url = url
        self.headers = headers
        self.connectTimeout = connectTimeout
        self.idleTimeout = idleTimeout
        self.firstMessageTimeout = firstMessageTimeout
    }
}

/// What to do after one message.
public enum WebSocketNext: Sendable, Hashable {
    case keepReading
    /// Close the connection normally (code 1000).
    case close
}

/// How a WebSocket connection ended.
public struct WebSocketClose: Sendable, Hashable, CustomStringConvertible {
    /// The close code the peer sent, if it sent one (1000 normal, 1008 policy violation, ...).
    public var code: Int?
    public var reason: String?
    /// We closed it because no message arrived within `WebSocketRequest.idleTimeout`.
    public var idle: Bool
    /// We closed it because the message handler asked to.
    public var byUs: Bool

    public init(code: Int?, reason: String? = nil, idle: Bool = false, byUs: Bool = false) {
        self.code = code
        self.reason = reason
        self.idle = idle
        self.byUs = byUs
    }

    public var description: String {
        if idle { return "closed after no message within the idle timeout" }
        if byUs { return "closed by the gateway" }
        guard let code else { return "closed without a close frame" }
        return "closed with code \(code)" + (reason.map { $0.isEmpty ? "" : " (\($0))" } ?? "")
    }
}

/// Why a WebSocket connection could not be opened or broke.
public struct WebSocketError: Error, Sendable, Hashable, CustomStringConvertible {
    public enum Code: String, Sendable, Hashable {
        /// DNS, refused, reset, TLS: try again later.
        case connection
        /// No connection or upgrade within `connectTimeout`.
        case timeout
        /// The server answered the upgrade with an HTTP status instead of switching protocols.
        case upgradeRejected = "upgrade_rejected"
        case invalidRequest = "invalid_request"
    }

    public var code: Code
    public var message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { "\(code.rawValue): \(message)" }
}

/// Opens text WebSocket connections. The gateway's implementation runs on SwiftNIO event loops, so many
/// connections share a few threads.
public protocol WebSocketTransport: Sendable {
    /// Connects, calls `onText` for each text message in order until it answers `.close`, the peer
    /// closes, or the idle timeout passes, and returns how the connection ended. Errors thrown by
    /// `onText` close the connection and are rethrown; failures to connect throw `WebSocketError`.
    func connect(_ request: WebSocketRequest, onText: @escaping @Sendable (String) async throws -> WebSocketNext) async throws -> WebSocketClose
}
