public import BatchGateCore
import FoundationEssentials
import HTTPTypes
public import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
public import NIOSSL
import NIOWebSocket
import Synchronization

/// The gateway's WebSocket client (`WebSocketTransport`), written directly on SwiftNIO: every connection
/// runs on the shared event loops, so thousands of open connections need no thread each.
///
/// Every message the server sent before its close is delivered, then the close is reported: bytes that
/// arrive together with the `101 Switching Protocols` response go straight on to the frame decoder, and
/// the end of the connection is held back until the HTTP decoder has handed them over (see
/// `InputEndGate`), so a server that sends its messages and closes at once loses nothing.
///
/// Adds a connect timeout (TCP and upgrade together), an idle timeout and a first-message timeout (both
/// reported as `WebSocketClose.idle`) and a message size limit; answers pings, joins fragmented messages,
/// speaks `ws://` and `wss://`, and maps every failure to `WebSocketError`.
public struct NIOWebSocketClient: WebSocketTransport {
    /// Largest message accepted, after its fragments are joined. A larger one closes the connection with
    /// code 1009 and `connect` throws `WebSocketError` (`.connection`).
    public var maxMessageBytes: Int
    /// How long a close handshake may take before the TCP connection is dropped.
    public var closeTimeout: Duration
    private let tls: TLSContextCache
    private let group: any EventLoopGroup
    private let logger: Logger

    /// A client with no connection of its own until `connect` is called.
    /// - Parameters:
    ///   - maxMessageBytes: the largest message accepted (at most 4 GiB).
    ///   - closeTimeout: how long a close handshake may take.
    ///   - tlsConfiguration: how `wss://` servers are verified; the default trusts the system's roots and
    ///     checks the host name.
    ///   - logger: where connection failures are logged at debug level.
    public init(
        maxMessageBytes: Int = 16 << 20,
        closeTimeout: Duration = .seconds(5),
        tlsConfiguration: TLSConfiguration = .makeClientConfiguration(),
        logger: Logger
    ) {
        self.maxMessageBytes = maxMessageBytes
        self.closeTimeout = closeTimeout
        self.tls = TLSContextCache(configuration: tlsConfiguration)
        self.group = MultiThreadedEventLoopGroup.singleton
        self.logger = logger
    }

    /// Connects, hands every text message to `onText` in order, and returns how the connection ended as
    /// soon as that is known (a close handshake under way finishes on the event loop within
    /// `closeTimeout`). Binary messages keep the connection alive but are not handed on. While `onText`
    /// is behind, reading stops and the idle timeout does not run. Failures to connect or upgrade, and a
    /// server breaking the protocol (oversized message, text that is not UTF-8, malformed frames), throw
    /// `WebSocketError`; errors thrown by `onText` close the connection and are rethrown.
    public func connect(
        _ request: WebSocketRequest,
        onText: @escaping @Sendable (String) async throws -> WebSocketNext
    ) async throws -> WebSocketClose {
        let target = try WebSocketTarget(url: request.url)
        guard (1...Int(UInt32.max)).contains(maxMessageBytes) else {
            throw WebSocketError(.invalidRequest, "The message size limit must be between 1 byte and 4 GiB (it is \(maxMessageBytes)).")
        }
        guard request.connectTimeout > .zero, closeTimeout > .zero else {
            throw WebSocketError(.invalidRequest, "The connect and close timeouts must be positive.")
        }
        let upgrader = NIOTypedWebSocketClientUpgrader<Void>(maxFrameSize: maxMessageBytes) { channel, _ in
            // Only the key and the Sec-WebSocket-Accept check are used: `WebSocketUpgradeHandler`
            // changes the pipeline itself so that no byte after the 101 response is lost.
            channel.eventLoop.makeSucceededVoidFuture()
        }
        var tlsSettings: WebSocketConnectionSettings.TLS?
        if target.secure {
            do {
                tlsSettings = .init(context: try tls.context(), serverHostname: target.isIPAddress ? nil : target.host)
            } catch {
                throw WebSocketError(.invalidRequest, "The TLS configuration for wss:// cannot be used: \(error).")
            }
        }
        let settings = WebSocketConnectionSettings(
            requestHead: try Self.upgradeRequestHead(target: target, headers: request.headers, upgrader: upgrader),
            upgrader: upgrader,
            maxMessageBytes: maxMessageBytes,
            upgradeDeadline: .now() + TimeAmount(request.connectTimeout),
            connectTimeout: request.connectTimeout,
            idleTimeout: request.idleTimeout.map { TimeAmount($0) },
            firstMessageTimeout: request.firstMessageTimeout.map { TimeAmount($0) },
            closeTimeout: TimeAmount(closeTimeout),
            tls: tlsSettings,
            authority: target.authority
        )

        let bootstrap = ClientBootstrap(group: group)
            .connectTimeout(TimeAmount(request.connectTimeout))
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
        let initializer: @Sendable (any Channel) -> EventLoopFuture<WebSocketConnection> = { channel in
            channel.eventLoop.makeCompletedFuture { try WebSocketConnection.configure(channel, settings: settings) }
        }
        let connection: WebSocketConnection
        do {
            if target.isIPAddress {
                let address = try SocketAddress(ipAddress: target.host, port: target.port)
                connection = try await bootstrap.connect(to: address, channelInitializer: initializer)
            } else {
                connection = try await bootstrap.connect(host: target.host, port: target.port, channelInitializer: initializer)
            }
        } catch let error as ChannelError {
            if case .connectTimeout = error {
                throw WebSocketError(.timeout, "No connection to \(target.authority) within \(request.connectTimeout).")
            }
            throw WebSocketError(.connection, "Could not connect to \(target.authority): \(WebSocketConnection.describe(error)).")
        } catch {
            throw WebSocketError(.connection, "Could not connect to \(target.authority): \(WebSocketConnection.describe(error)).")
        }
        do {
            return try await connection.run(onText: onText)
        } catch let error as WebSocketError {
            logger.debug("websocket failed", metadata: ["server": "\(target.authority)", "error": "\(error)"])
            throw error
        }
    }

    /// The upgrade request: `GET` of the URL's path and query with `Host`, the caller's headers (checked),
    /// and the WebSocket handshake headers.
    static func upgradeRequestHead(
        target: WebSocketTarget,
        headers: [(name: String, value: String)],
        upgrader: NIOTypedWebSocketClientUpgrader<Void>
    ) throws(WebSocketError) -> HTTPRequestHead {
        var fields = HTTPHeaders()
        fields.add(name: "Host", value: target.hostHeader)
        for header in headers {
            guard HTTPField.Name(header.name) != nil else {
                throw WebSocketError(.invalidRequest, "`\(header.name)` is not a valid header name.")
            }
            guard HTTPField.isValidValue(header.value) else {
                throw WebSocketError(
                    .invalidRequest,
                    "The value of header `\(header.name)` holds characters a header cannot carry (line breaks or controls)."
                )
            }
            guard !reservedHeaders.contains(header.name.lowercased()) else {
                throw WebSocketError(.invalidRequest, "The header `\(header.name)` is set by the WebSocket client itself.")
            }
            fields.add(name: header.name, value: header.value)
        }
        fields.add(name: "Connection", value: "Upgrade")
        fields.add(name: "Upgrade", value: "websocket")
        upgrader.addCustom(upgradeRequestHeaders: &fields)
        return HTTPRequestHead(version: .http1_1, method: .GET, uri: target.requestTarget, headers: fields)
    }

    /// Headers of the handshake itself, which a caller may not set.
    static let reservedHeaders: Set<String> = [
        "host", "connection", "upgrade", "sec-websocket-key", "sec-websocket-version", "sec-websocket-extensions",
        "content-length", "transfer-encoding",
    ]
}

/// Where a `ws://` or `wss://` URL points. Messages name the host and port only: the query may carry a token.
struct WebSocketTarget: Hashable, Sendable {
    /// `wss://`.
    var secure: Bool
    /// The host name or IP address, without brackets.
    var host: String
    var port: Int
    /// The path and query sent in the request line.
    var requestTarget: String
    /// True when `host` is an IP address literal (no DNS lookup, no SNI).
    var isIPAddress: Bool

    /// Parses `url`; throws `.invalidRequest` naming what is wrong.
    init(url: String) throws(WebSocketError) {
        guard let components = URLComponents(string: url), let scheme = components.scheme?.lowercased() else {
            throw WebSocketError(.invalidRequest, "The WebSocket URL is not a valid URL.")
        }
        guard scheme == "ws" || scheme == "wss" else {
            throw WebSocketError(.invalidRequest, "A WebSocket URL must start with ws:// or wss:// (this one starts with \(scheme)://).")
        }
        var host = components.host ?? ""
        if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        guard !host.isEmpty else { throw WebSocketError(.invalidRequest, "The WebSocket URL has no host.") }
        guard components.user == nil, components.password == nil else {
            throw WebSocketError(.invalidRequest, "The WebSocket URL carries credentials (user@host); send them in a header instead.")
        }
        secure = scheme == "wss"
        let port = components.port ?? (secure ? 443 : 80)
        guard (1...65535).contains(port) else {
            throw WebSocketError(.invalidRequest, "The WebSocket URL's port \(port) is not between 1 and 65535.")
        }
        self.host = host
        self.port = port
        let path = components.percentEncodedPath.isEmpty ? "/" : components.percentEncodedPath
        requestTarget = path + (components.percentEncodedQuery.map { "?" + $0 } ?? "")
        isIPAddress = (try? SocketAddress(ipAddress: host, port: port)) != nil
    }

    /// `host:port`, with brackets around an IPv6 address.
    var authority: String { "\(bracketedHost):\(port)" }

    /// The `Host` header: the port only when it is not the scheme's default.
    var hostHeader: String { port == (secure ? 443 : 80) ? bracketedHost : authority }

    private var bracketedHost: String { host.contains(":") ? "[\(host)]" : host }
}

/// One `NIOSSLContext` per client, made on first use (loading the trust roots is slow) and then shared.
final class TLSContextCache: Sendable {
    private let configuration: TLSConfiguration
    private let cached = Mutex<NIOSSLContext?>(nil)

    init(configuration: TLSConfiguration) {
        self.configuration = configuration
    }

    func context() throws -> NIOSSLContext {
        try cached.withLock { cached in
            if let cached { return cached }
            let context = try NIOSSLContext(configuration: configuration)
            cached = context
            return context
        }
    }
}
