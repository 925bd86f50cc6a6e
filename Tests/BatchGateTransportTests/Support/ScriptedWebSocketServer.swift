import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL
import NIOWebSocket
import Synchronization

/// A loopback WebSocket server on plain SwiftNIO that behaves in ways a well-mannered server library
/// will not: it writes the `101` response and its first frames in one write (so they reach the client in
/// one TCP read), can close the socket straight after, can never answer, can break the handshake, and
/// records the frames the client sends back.
final class ScriptedWebSocketServer: Sendable {
    /// What the server writes back after one frame from the client.
    struct Reply: Sendable {
        var bytes: [UInt8] = []
        /// Close the socket after writing `bytes`.
        var close = false
    }

    /// How the server treats every connection.
    struct Script: Sendable {
        /// Written in the same write as the 101 response.
        var initial: [UInt8] = []
        /// Close the socket right after the first write, without waiting for the client.
        var closeAfterInitial = false
        /// Never answer the upgrade request.
        var silent = false
        /// Send a Sec-WebSocket-Accept that does not match the client's key.
        var wrongAccept = false
        /// What to answer to each frame the client sends (opcode, unmasked payload).
        var onFrame: @Sendable (WebSocketOpcode, [UInt8]) -> Reply = { opcode, _ in
            opcode == .connectionClose ? Reply(bytes: ScriptedWebSocketServer.close(code: 1000), close: true) : Reply()
        }
    }

    /// One frame the client sent.
    struct ReceivedFrame: Hashable, Sendable {
        var opcode: UInt8
        var payload: [UInt8]
    }

    let port: Int
    /// Every frame clients sent, in arrival order.
    let received: Recorder<ReceivedFrame>
    private let listener: any Channel
    private let connections: ChannelList

    /// The channels a listener accepted, to close them when the server stops.
    private final class ChannelList: Sendable {
        private let channels = Mutex<[any Channel]>([])
        func add(_ channel: any Channel) { channels.withLock { $0.append(channel) } }
        var all: [any Channel] { channels.withLock { $0 } }
    }

    private init(port: Int, listener: any Channel, received: Recorder<ReceivedFrame>, connections: ChannelList) {
        self.port = port
        self.listener = listener
        self.received = received
        self.connections = connections
    }

    /// Listens on 127.0.0.1 on an OS-chosen port; `tls` makes it a `wss://` server.
    static func start(_ script: Script, tls: NIOSSLContext? = nil) async throws -> ScriptedWebSocketServer {
        let recorder = Recorder<ReceivedFrame>()
        let connections = ChannelList()
        let listener = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelInitializer { channel in
                connections.add(channel)
                return channel.eventLoop.makeCompletedFuture {
                    let pipeline = channel.pipeline.syncOperations
                    if let tls { try pipeline.addHandler(NIOSSLServerHandler(context: tls)) }
                    let writer = RawWriter()
                    let decoder = ByteToMessageHandler(HTTPRequestDecoder(leftOverBytesStrategy: .forwardBytes))
                    try pipeline.addHandler(writer)
                    try pipeline.addHandler(decoder)
                    try pipeline.addHandler(
                        ScriptedUpgradeResponder(script: script, writer: writer, decoder: decoder, recorder: recorder)
                    )
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        guard let port = listener.localAddress?.port else {
            try? await listener.close()
            throw TestFailure("the scripted server has no port")
        }
        return ScriptedWebSocketServer(port: port, listener: listener, received: recorder, connections: connections)
    }

    /// Closes the listener and every connection it accepted.
    func stop() async {
        try? await listener.close()
        for channel in connections.all { try? await channel.close() }
    }

    /// Runs `body` with a started server and stops it afterwards, whatever happens.
    @discardableResult
    static func with<R: Sendable>(
        _ script: Script,
        tls: NIOSSLContext? = nil,
        _ body: (ScriptedWebSocketServer) async throws -> R
    ) async throws -> R {
        let server = try await start(script, tls: tls)
        do {
            let result = try await body(server)
            await server.stop()
            return result
        } catch {
            await server.stop()
            throw error
        }
    }

    // MARK: Frames as a server writes them (unmasked)

    /// One frame with a payload of any length.
    static func frame(_ opcode: WebSocketOpcode, _ payload: [UInt8], fin: Bool = true) -> [UInt8] {
        var bytes: [UInt8] = [(fin ? 0x80 : 0) | UInt8(webSocketOpcode: opcode)]
        switch payload.count {
        case ..<126:
            bytes.append(UInt8(payload.count))
        case ...0xFFFF:
            bytes.append(126)
            bytes += [UInt8(payload.count >> 8), UInt8(payload.count & 0xFF)]
        default:
            bytes.append(127)
            bytes += (0..<8).reversed().map { UInt8((UInt64(payload.count) >> (8 * UInt64($0))) & 0xFF) }
        }
        return bytes + payload
    }

    static func text(_ text: String, fin: Bool = true) -> [UInt8] { frame(.text, Array(text.utf8), fin: fin) }

    static func close(code: UInt16, reason: String = "") -> [UInt8] {
        frame(.connectionClose, [UInt8(code >> 8), UInt8(code & 0xFF)] + Array(reason.utf8))
    }
}

/// The front of the server's pipeline: raw bytes are written from here, so that they do not pass the
/// HTTP request decoder (which expects HTTP response parts on its way out).
private final class RawWriter: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer

    private var context: ChannelHandlerContext?

    func handlerAdded(context: ChannelHandlerContext) { self.context = context }
    func handlerRemoved(context: ChannelHandlerContext) { self.context = nil }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        context.fireChannelRead(data)
    }

    func write(_ bytes: ByteBuffer, thenClose: Bool = false) {
        guard let context else { return }
        let written = context.writeAndFlush(NIOAny(bytes))
        if thenClose { written.assumeIsolated().whenComplete { _ in context.close(promise: nil) } }
    }

    func close() {
        context?.close(promise: nil)
    }
}

/// Answers the upgrade request with the script's bytes, then decodes and records the client's frames.
private final class ScriptedUpgradeResponder: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart

    private let script: ScriptedWebSocketServer.Script
    private let writer: RawWriter
    private let decoder: ByteToMessageHandler<HTTPRequestDecoder>
    private let recorder: Recorder<ScriptedWebSocketServer.ReceivedFrame>
    private var head: HTTPRequestHead?

    init(
        script: ScriptedWebSocketServer.Script,
        writer: RawWriter,
        decoder: ByteToMessageHandler<HTTPRequestDecoder>,
        recorder: Recorder<ScriptedWebSocketServer.ReceivedFrame>
    ) {
        self.script = script
        self.writer = writer
        self.decoder = decoder
        self.recorder = recorder
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head): self.head = head
        case .body: break
        case .end:
            guard let head, !script.silent else { return }
            answer(context: context, head: head)
        }
    }

    private func answer(context: ChannelHandlerContext, head: HTTPRequestHead) {
        let upgrader = NIOWebSocketServerUpgrader(
            shouldUpgrade: { channel, _ in channel.eventLoop.makeSucceededFuture(HTTPHeaders()) },
            upgradePipelineHandler: { channel, _ in channel.eventLoop.makeSucceededVoidFuture() }
        )
        let script = script
        let recorder = recorder
        let decoder = decoder
        let writer = writer
        upgrader.buildUpgradeResponse(channel: context.channel, upgradeRequest: head, initialResponseHeaders: HTTPHeaders())
            .assumeIsolated()
            .whenComplete { result in
                guard case .success(var headers) = result else {
                    context.close(promise: nil)
                    return
                }
                if script.wrongAccept { headers.replaceOrAdd(name: "Sec-WebSocket-Accept", value: "bm90IHRoZSByaWdodCBrZXk=") }
                var response = "HTTP/1.1 101 Switching Protocols\r\n"
                for (name, value) in headers { response += "\(name): \(value)\r\n" }
                response += "\r\n"
                var buffer = context.channel.allocator.buffer(capacity: response.utf8.count + script.initial.count)
                buffer.writeString(response)
                buffer.writeBytes(script.initial)
                if script.closeAfterInitial {
                    writer.write(buffer, thenClose: true)
                    return
                }
                writer.write(buffer)
                do {
                    let pipeline = context.pipeline.syncOperations
                    try pipeline.addHandler(ByteToMessageHandler(WebSocketFrameDecoder(maxFrameSize: 1 << 24)))
                    try pipeline.addHandler(ClientFrameRecorder(script: script, writer: writer, recorder: recorder))
                    pipeline.removeHandler(decoder, promise: nil)
                    pipeline.removeHandler(context: context, promise: nil)
                } catch {
                    context.close(promise: nil)
                }
            }
    }
}

/// Records each frame the client sends and writes the script's reply.
private final class ClientFrameRecorder: ChannelInboundHandler {
    typealias InboundIn = WebSocketFrame

    private let script: ScriptedWebSocketServer.Script
    private let writer: RawWriter
    private let recorder: Recorder<ScriptedWebSocketServer.ReceivedFrame>

    init(script: ScriptedWebSocketServer.Script, writer: RawWriter, recorder: Recorder<ScriptedWebSocketServer.ReceivedFrame>) {
        self.script = script
        self.writer = writer
        self.recorder = recorder
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = unwrapInboundIn(data)
        let payload = Array(frame.unmaskedData.readableBytesView)
        recorder.record(.init(opcode: UInt8(webSocketOpcode: frame.opcode), payload: payload))
        let reply = script.onFrame(frame.opcode, payload)
        if !reply.bytes.isEmpty || reply.close {
            writer.write(context.channel.allocator.buffer(bytes: reply.bytes), thenClose: reply.close)
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }
}
