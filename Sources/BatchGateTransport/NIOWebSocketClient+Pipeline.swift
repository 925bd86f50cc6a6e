import BatchGateCore
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL
import NIOWebSocket

// The channel pipeline of one WebSocket connection, first to last:
//
//   NIOSSLClientHandler        wss:// only
//   InputEndGate               holds the connection's end back while the HTTP decoder hands over its bytes
//   HTTPRequestEncoder         } the upgrade; both removed after the 101 response
//   HTTPResponseDecoder        }   (leftover bytes are forwarded to the frame decoder)
//   WebSocketUpgradeHandler    sends the upgrade request, checks the 101, swaps in the frame handlers
//   WebSocketFrameEncoder      }
//   WebSocketFrameDecoder      } added by the upgrade
//   NIOWebSocketFrameAggregator}
//   WebSocketConnectionHandler messages, pings, close handshake, timers, back-pressure; feeds the consumer
//
// Why the gate: `ByteToMessageHandler` removes a decoder on a later event-loop tick, and an HTTP decoder
// that has seen the end of input drops its leftover bytes instead of forwarding them. A server that sends
// 101, its messages and a close in one go, then closes the socket, would lose every message. Frames the
// connection handler sends (pongs, close answers) meanwhile wait until the HTTP decoder is gone: on the
// way out it accepts HTTP request parts only.

/// Everything one connection needs, fixed before it starts.
struct WebSocketConnectionSettings: Sendable {
    struct TLS: Sendable {
        var context: NIOSSLContext
        /// The SNI and verification name; nil for an IP address.
        var serverHostname: String?
    }

    var requestHead: HTTPRequestHead
    /// Holds the handshake key and checks the server's Sec-WebSocket-Accept.
    var upgrader: NIOTypedWebSocketClientUpgrader<Void>
    var maxMessageBytes: Int
    /// The TCP connect and the upgrade together must finish by then.
    var upgradeDeadline: NIODeadline
    var connectTimeout: Duration
    var idleTimeout: TimeAmount?
    var firstMessageTimeout: TimeAmount?
    var closeTimeout: TimeAmount
    var tls: TLS?
    /// `host:port`, for messages.
    var authority: String
}

/// What the connection hands its consumer, in the order it happened.
enum WebSocketEvent: Sendable {
    case text(String)
    /// The last event: how the connection ended.
    case ended(WebSocketEnding)
}

enum WebSocketEnding: Sendable {
    case closed(WebSocketClose)
    case failed(WebSocketError)
}

/// What the consumer asks of the connection.
enum WebSocketCommand: Sendable {
    /// Close normally (code 1000) and wait for the server's answer.
    case close
    /// The consumer stopped (its handler threw or its task was cancelled): close now.
    case abort
}

typealias WebSocketEventSequence = NIOAsyncSequenceProducer<
    WebSocketEvent, NIOAsyncSequenceProducerBackPressureStrategies.HighLowWatermark, WebSocketEventsDelegate
>

/// One open connection as the consuming task sees it.
struct WebSocketConnection: Sendable {
    let channel: any Channel
    let events: WebSocketEventSequence
    let handler: NIOLoopBound<WebSocketConnectionHandler>

    /// Builds the pipeline of a fresh channel; runs on the channel's event loop before it connects.
    static func configure(_ channel: any Channel, settings: WebSocketConnectionSettings) throws -> WebSocketConnection {
        let pipeline = channel.pipeline.syncOperations
        if let tls = settings.tls {
            try pipeline.addHandler(NIOSSLClientHandler(context: tls.context, serverHostname: tls.serverHostname))
        }
        let gate = InputEndGate()
        let requestEncoder = HTTPRequestEncoder()
        let responseDecoder = ByteToMessageHandler(HTTPResponseDecoder(leftOverBytesStrategy: .forwardBytes))
        let connection = WebSocketConnectionHandler(settings: settings)
        let upgrade = WebSocketUpgradeHandler(
            settings: settings,
            gate: gate,
            requestEncoder: requestEncoder,
            responseDecoder: responseDecoder,
            connection: connection
        )
        try pipeline.addHandlers([gate, requestEncoder, responseDecoder, upgrade, connection])
        let handler = NIOLoopBound(connection, eventLoop: channel.eventLoop)
        let produced = WebSocketEventSequence.makeSequence(
            elementType: WebSocketEvent.self,
            backPressureStrategy: .init(lowWatermark: 2, highWatermark: 16),
            finishOnDeinit: true,
            delegate: WebSocketEventsDelegate(handler: handler)
        )
        connection.source = produced.source
        return WebSocketConnection(channel: channel, events: produced.sequence, handler: handler)
    }

    /// Hands each text message to `onText` in order until the connection ends, and returns how it ended
    /// as soon as that is known.
    func run(onText: @escaping @Sendable (String) async throws -> WebSocketNext) async throws -> WebSocketClose {
        var closing = false
        let iterator = events.makeAsyncIterator()
        while let event = await iterator.next() {
            switch event {
            case .text(let text):
                // After the handler asked to close, the messages still arriving are not wanted.
                if closing { continue }
                let next: WebSocketNext
                do {
                    next = try await onText(text)
                } catch {
                    send(.abort)
                    await closed()
                    throw error
                }
                if next == .close {
                    closing = true
                    send(.close)
                }
            case .ended(let ending):
                // The close handshake, if one is under way, finishes on the event loop within the close timeout.
                switch ending {
                case .closed(var close):
                    // The handler asked to close: the connection is closed by us even when the server's close
                    // was already on its way.
                    if closing { close.byUs = true }
                    return close
                case .failed(let error):
                    throw error
                }
            }
        }
        // The sequence stops early only when the consuming task is cancelled.
        send(.abort)
        await closed()
        if Task.isCancelled { throw CancellationError() }
        throw WebSocketError(.connection, "The connection ended without saying how.")
    }

    private func send(_ command: WebSocketCommand) {
        let handler = handler
        handler.eventLoop.execute { handler.value.perform(command) }
    }

    /// Returns once the channel is closed (at once after an abort).
    private func closed() async {
        try? await channel.closeFuture.get()
    }

    /// A short description of a connection failure.
    static func describe(_ error: any Error) -> String {
        if let error = error as? NIOConnectionError {
            if let failure = error.connectionErrors.first { return describe(failure.error) }
            if error.dnsAError != nil || error.dnsAAAAError != nil { return "the host name could not be resolved" }
            return "no address to connect to"
        }
        if let error = error as? IOError { return error.description }
        if let error = error as? NIOSSLError { return "TLS: \(error)" }
        if let error = error as? BoringSSLError { return "TLS: \(error)" }
        return String(describing: error)
    }
}

/// Tells the connection handler, on its event loop, when the consumer wants more or has gone.
struct WebSocketEventsDelegate: NIOAsyncSequenceProducerDelegate {
    let handler: NIOLoopBound<WebSocketConnectionHandler>

    func produceMore() {
        let handler = handler
        handler.eventLoop.execute { handler.value.produceMore() }
    }

    func didTerminate() {
        let handler = handler
        handler.eventLoop.execute { handler.value.consumerTerminated() }
    }
}

/// Passes everything through, except that while `hold()` is in force the end of the connection (channel
/// inactive, errors, user events such as input closed) waits until `release()`, and then follows in order.
///
/// The upgrade holds it from the end of the 101 response until the HTTP decoder has been removed, which
/// is when the decoder forwards the bytes that followed the response. An HTTP decoder that sees the end of
/// input first would drop those bytes.
final class InputEndGate: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer

    private enum Held {
        case inactive
        case error(any Error)
        case event(Any)
    }

    private var holding = false
    private var held: [Held] = []
    private var context: ChannelHandlerContext?

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        context.fireChannelRead(data)
    }

    func channelInactive(context: ChannelHandlerContext) {
        if holding { held.append(.inactive) } else { context.fireChannelInactive() }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if holding { held.append(.error(error)) } else { context.fireErrorCaught(error) }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if holding { held.append(.event(event)) } else { context.fireUserInboundEventTriggered(event) }
    }

    func hold() {
        holding = true
    }

    func release() {
        holding = false
        let events = held
        held = []
        guard let context else { return }
        for event in events {
            switch event {
            case .inactive: context.fireChannelInactive()
            case .error(let error): context.fireErrorCaught(error)
            case .event(let event): context.fireUserInboundEventTriggered(event)
            }
        }
    }
}

/// Sends the upgrade request once connected, checks the response, and on a valid 101 puts the frame
/// handlers in place and removes the HTTP handlers and itself. A refusal is reported to the connection.
final class WebSocketUpgradeHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPClientResponsePart
    typealias OutboundOut = HTTPClientRequestPart

    private let settings: WebSocketConnectionSettings
    private let gate: InputEndGate
    private let requestEncoder: HTTPRequestEncoder
    private let responseDecoder: ByteToMessageHandler<HTTPResponseDecoder>
    private let connection: WebSocketConnectionHandler
    private var requestSent = false
    private var accepted = false
    private var finished = false

    init(
        settings: WebSocketConnectionSettings,
        gate: InputEndGate,
        requestEncoder: HTTPRequestEncoder,
        responseDecoder: ByteToMessageHandler<HTTPResponseDecoder>,
        connection: WebSocketConnectionHandler
    ) {
        self.settings = settings
        self.gate = gate
        self.requestEncoder = requestEncoder
        self.responseDecoder = responseDecoder
        self.connection = connection
    }

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { sendRequest(context: context) }
    }

    func channelActive(context: ChannelHandlerContext) {
        sendRequest(context: context)
        context.fireChannelActive()
    }

    private func sendRequest(context: ChannelHandlerContext) {
        guard !requestSent else { return }
        requestSent = true
        context.write(wrapOutboundOut(.head(settings.requestHead)), promise: nil)
        context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !finished else { return }
        switch unwrapInboundIn(data) {
        case .head(let head):
            guard head.status == .switchingProtocols else {
                refuse(
                    "The server answered the WebSocket upgrade with HTTP \(head.status.code) \(head.status.reasonPhrase) instead of 101."
                )
                return
            }
            guard head.headers["Upgrade"].contains(where: { $0.lowercased() == "websocket" }) else {
                refuse("The server's 101 response does not switch to the websocket protocol.")
                return
            }
            guard settings.upgrader.shouldAllowUpgrade(upgradeResponse: head) else {
                refuse("The server's 101 response has a missing or wrong Sec-WebSocket-Accept.")
                return
            }
            accepted = true
        case .body:
            break
        case .end:
            guard accepted else { return }
            finished = true
            switchToWebSocket(context: context)
        }
    }

    private func refuse(_ message: String) {
        finished = true
        connection.upgradeFailed(WebSocketError(.upgradeRejected, message))
    }

    /// Runs inside the HTTP decoder's read, before any byte after the 101 response was decoded: those
    /// bytes stay in the decoder until it is removed, then go to the frame decoder added here.
    private func switchToWebSocket(context: ChannelHandlerContext) {
        let pipeline = context.pipeline.syncOperations
        do {
            try pipeline.addHandler(WebSocketFrameEncoder(), position: .before(connection))
            try pipeline.addHandler(
                ByteToMessageHandler(WebSocketFrameDecoder(maxFrameSize: settings.maxMessageBytes)),
                position: .before(connection)
            )
            try pipeline.addHandler(
                NIOWebSocketFrameAggregator(
                    minNonFinalFragmentSize: 0,
                    maxAccumulatedFrameCount: WebSocketConnectionHandler.maxFragments,
                    maxAccumulatedFrameSize: settings.maxMessageBytes
                ),
                position: .before(connection)
            )
        } catch {
            connection.upgradeFailed(WebSocketError(.connection, "The WebSocket handlers could not be installed: \(error)."))
            return
        }
        gate.hold()
        connection.upgraded()
        let gate = gate
        let connection = connection
        pipeline.removeHandler(requestEncoder, promise: nil)
        pipeline.removeHandler(responseDecoder).assumeIsolated().whenComplete { _ in
            connection.httpDecoderRemoved()
            gate.release()
        }
        pipeline.removeHandler(context: context, promise: nil)
    }
}

/// The WebSocket side of a connection: turns frames into events for the consumer, answers pings, runs the
/// close handshake and the upgrade, first-message, idle and close timers, and stops reading while the
/// consumer is behind (an idle timer does not run then).
final class WebSocketConnectionHandler: ChannelDuplexHandler {
    typealias InboundIn = WebSocketFrame
    typealias OutboundIn = WebSocketFrame
    typealias OutboundOut = WebSocketFrame

    /// Most fragments one message may come in.
    static let maxFragments = 1 << 16

    private enum State {
        case upgrading
        case open
        /// A close frame was sent (ours or the answer to the server's); waiting for the server to finish.
        case closing
        case closed
    }

    var source: WebSocketEventSequence.Source?
    private let settings: WebSocketConnectionSettings
    private var context: ChannelHandlerContext?
    private var state = State.upgrading
    private var reported = false
    /// The consumer asked for the close (or the idle timer did).
    private var closedByUs = false
    /// Why the connection broke, when it broke without a close frame.
    private var breakage: String?
    private var messages = 0
    private var producing = true
    private var readPending = false
    private var idleSince = NIODeadline.now()
    /// Frames to send, held while the HTTP decoder is still in the pipeline: it takes only HTTP request
    /// parts on the way out. Nil when frames go out at once.
    private var heldWrites: [WebSocketFrame]?
    /// A close of the channel asked for while frames were held.
    private var closeHeld = false
    private var upgradeTimer: Scheduled<Void>?
    private var firstMessageTimer: Scheduled<Void>?
    private var idleTimer: Scheduled<Void>?
    private var closeTimer: Scheduled<Void>?

    init(settings: WebSocketConnectionSettings) {
        self.settings = settings
    }

    // MARK: Channel events

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        cancelTimers()
        closeTimer?.cancel()
        if !reported { report(.failed(WebSocketError(.connection, "The connection to \(settings.authority) was torn down."))) }
        self.context = nil
    }

    func channelActive(context: ChannelHandlerContext) {
        upgradeTimer = context.eventLoop.assumeIsolated().scheduleTask(deadline: settings.upgradeDeadline) { [self] in
            guard state == .upgrading else { return }
            report(
                .failed(
                    WebSocketError(
                        .timeout,
                        "The server at \(settings.authority) did not complete the WebSocket upgrade within \(settings.connectTimeout)."
                    )
                )
            )
            closeChannel()
        }
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        cancelTimers()
        closeTimer?.cancel()
        switch state {
        case .upgrading:
            report(
                .failed(
                    WebSocketError(
                        .connection,
                        breakage.map { "The connection to \(settings.authority) broke before the upgrade: \($0)." }
                            ?? "The server at \(settings.authority) closed the connection before answering the WebSocket upgrade."
                    )
                )
            )
        case .open, .closing:
            report(.closed(WebSocketClose(code: nil, reason: breakage, byUs: closedByUs)))
        case .closed:
            break
        }
        state = .closed
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        switch state {
        case .upgrading:
            breakage = breakage ?? WebSocketConnection.describe(error)
            closeChannel()
        case .open:
            if let violation = Self.violation(error, limit: settings.maxMessageBytes) {
                failProtocol(code: violation.code, violation.message)
            } else if !(error is ByteToMessageDecoderError) {
                breakage = breakage ?? WebSocketConnection.describe(error)
                closeChannel()
            }
        case .closing:
            // A broken or unclean end after a close frame changes nothing.
            closeChannel()
        case .closed:
            break
        }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = unwrapInboundIn(data)
        switch frame.opcode {
        case .text, .binary:
            guard state == .open else { return }
            guard !frame.rsv1, !frame.rsv2, !frame.rsv3 else {
                failProtocol(code: .protocolError, "The server set reserved bits on a frame without an agreed extension.")
                return
            }
            messages += 1
            firstMessageTimer?.cancel()
            firstMessageTimer = nil
            idleSince = .now()
            guard frame.opcode == .text else { return }
            guard let text = String(validating: frame.unmaskedData.readableBytesView, as: UTF8.self) else {
                failProtocol(code: .dataInconsistentWithMessage, "The server sent a text message that is not valid UTF-8.")
                return
            }
            deliver(text)
        case .ping:
            guard state == .open else { return }
            send(WebSocketFrame(fin: true, opcode: .pong, maskKey: .random(), data: frame.unmaskedData))
        case .pong:
            break
        case .connectionClose:
            receivedClose(frame)
        default:
            guard state == .open else { return }
            failProtocol(code: .protocolError, "The server sent a frame with the unknown opcode \(frame.opcode).")
        }
    }

    /// Reads only while the consumer keeps up.
    func read(context: ChannelHandlerContext) {
        if state == .open && !producing {
            readPending = true
        } else {
            context.read()
        }
    }

    // MARK: Calls from the upgrade and the consumer

    /// The 101 response was valid and the frame handlers are in place.
    func upgraded() {
        guard state == .upgrading, let context else { return }
        state = .open
        heldWrites = []
        upgradeTimer?.cancel()
        upgradeTimer = nil
        idleSince = .now()
        if let limit = settings.firstMessageTimeout {
            firstMessageTimer = context.eventLoop.assumeIsolated().scheduleTask(in: limit) { [self] in
                guard state == .open, messages == 0 else { return }
                closeIdle()
            }
        }
        armIdleTimer()
    }

    /// The HTTP decoder has left the pipeline, after handing over the bytes that followed the 101 response.
    func httpDecoderRemoved() {
        guard let frames = heldWrites else { return }
        heldWrites = nil
        guard let context else { return }
        for frame in frames { context.write(wrapOutboundOut(frame), promise: nil) }
        context.flush()
        if closeHeld { context.close(promise: nil) }
    }

    func upgradeFailed(_ error: WebSocketError) {
        guard state == .upgrading else { return }
        report(.failed(error))
        closeChannel()
    }

    func perform(_ command: WebSocketCommand) {
        switch command {
        case .close:
            guard state == .open else { return }
            closedByUs = true
            startClosing(code: .normalClosure)
        case .abort:
            if !reported { report(.closed(WebSocketClose(code: nil, byUs: true))) }
            if state == .open { sendClose(code: .goingAway) }
            closeChannel()
        }
    }

    func produceMore() {
        producing = true
        if state == .open {
            idleSince = .now()
            armIdleTimer()
        }
        if readPending, let context {
            readPending = false
            context.read()
        }
    }

    /// The consumer will read no more: after the end (nothing to do) or because its task was cancelled.
    func consumerTerminated() {
        guard !reported else { return }
        perform(.abort)
    }

    // MARK: Internals

    private func deliver(_ text: String) {
        guard let source else { return }
        switch source.yield(.text(text)) {
        case .produceMore:
            break
        case .stopProducing:
            producing = false
            idleTimer?.cancel()
            idleTimer = nil
        case .dropped:
            perform(.abort)
        }
    }

    /// Reports how the connection ended, once, after every message already delivered.
    private func report(_ ending: WebSocketEnding) {
        guard !reported else { return }
        reported = true
        _ = source?.yield(.ended(ending))
        source?.finish()
    }

    private func receivedClose(_ frame: WebSocketFrame) {
        var data = frame.unmaskedData
        let code = data.readableBytes >= 2 ? data.readInteger(as: UInt16.self).map(Int.init) : nil
        let reason = data.readableBytes > 0 ? String(decoding: data.readableBytesView, as: UTF8.self) : nil
        switch state {
        case .open:
            report(.closed(WebSocketClose(code: code, reason: reason)))
            startClosing(code: .normalClosure)
        case .closing:
            // The answer to our close: the handshake is complete.
            report(.closed(WebSocketClose(code: code, reason: reason, byUs: closedByUs)))
            closeChannel()
        case .upgrading, .closed:
            break
        }
    }

    private func closeIdle() {
        report(.closed(WebSocketClose(code: nil, idle: true, byUs: true)))
        closedByUs = true
        startClosing(code: .normalClosure)
    }

    /// Sends a close frame and gives the server `closeTimeout` to answer and close the socket.
    private func startClosing(code: WebSocketErrorCode) {
        guard state == .open, let context else { return }
        state = .closing
        cancelTimers()
        sendClose(code: code)
        // No more messages are handed on, so reading goes on regardless of the consumer: the server's answer
        // must be seen.
        if readPending {
            readPending = false
            context.read()
        }
        closeTimer = context.eventLoop.assumeIsolated().scheduleTask(in: settings.closeTimeout) { [self] in
            closeChannel()
        }
    }

    /// The server broke the protocol: the connection fails with `message`, the server gets `code`.
    private func failProtocol(code: WebSocketErrorCode, _ message: String) {
        report(.failed(WebSocketError(.connection, message)))
        if state == .open { sendClose(code: code) }
        state = .closing
        closeChannel()
    }

    private func sendClose(code: WebSocketErrorCode) {
        guard let context else { return }
        var data = context.channel.allocator.buffer(capacity: 2)
        data.write(webSocketErrorCode: code)
        send(WebSocketFrame(fin: true, opcode: .connectionClose, maskKey: .random(), data: data))
    }

    private func send(_ frame: WebSocketFrame) {
        if heldWrites != nil {
            heldWrites?.append(frame)
        } else {
            context?.writeAndFlush(wrapOutboundOut(frame), promise: nil)
        }
    }

    private func armIdleTimer() {
        guard let limit = settings.idleTimeout, let context, state == .open, producing else { return }
        idleTimer?.cancel()
        idleTimer = context.eventLoop.assumeIsolated().scheduleTask(deadline: idleSince + limit) { [self] in
            idleTimer = nil
            guard state == .open, producing else { return }
            if NIODeadline.now() < idleSince + limit {
                armIdleTimer()
            } else {
                closeIdle()
            }
        }
    }

    private func cancelTimers() {
        upgradeTimer?.cancel()
        firstMessageTimer?.cancel()
        idleTimer?.cancel()
        upgradeTimer = nil
        firstMessageTimer = nil
        idleTimer = nil
    }

    private func closeChannel() {
        if heldWrites != nil {
            closeHeld = true
        } else {
            context?.close(promise: nil)
        }
    }

    /// A protocol error of the server's, with the close code it earns; nil for any other error.
    static func violation(_ error: any Error, limit: Int) -> (code: WebSocketErrorCode, message: String)? {
        switch error {
        case NIOWebSocketError.invalidFrameLength:
            return (.messageTooLarge, "The server sent a frame larger than the \(limit)-byte message limit.")
        case NIOWebSocketFrameAggregator.Error.accumulatedFrameSizeIsTooLarge:
            return (.messageTooLarge, "The server sent a message larger than the \(limit)-byte message limit.")
        case NIOWebSocketFrameAggregator.Error.tooManyFragments:
            return (.messageTooLarge, "The server sent a message in more than \(maxFragments) fragments.")
        case let error as NIOWebSocketError:
            return (.protocolError, "The server sent a malformed frame (\(error)).")
        case let error as NIOWebSocketFrameAggregator.Error:
            return (.protocolError, "The server sent fragments out of order (\(error)).")
        default:
            return nil
        }
    }
}
