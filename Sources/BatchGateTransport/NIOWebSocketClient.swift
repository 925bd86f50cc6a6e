import BatchGateCore
import HTTPTypes
import HummingbirdWSClient
import Logging
import NIOCore
import NIOWebSocket
import Synchronization

/// The gateway's WebSocket client (`WebSocketTransport`) on SwiftNIO: every connection runs on the
/// shared event loops, so thousands of open connections need no thread each.
///
/// Adds to the plain client a connect timeout and an idle timeout (no message for too long closes the
/// connection and reports `WebSocketClose.idle`), and maps failures to `WebSocketError`.
public struct NIOWebSocketClient: WebSocketTransport {
    /// Largest message accepted; a larger one fails the connection.
    public var maxMessageBytes: Int
    private let logger: Logger

    /// A client with no connection of its own until `connect` is called.
    public init(maxMessageBytes: Int = 16 << 20, logger: Logger) {
        self.maxMessageBytes = maxMessageBytes
        self.logger = logger
    }

    /// An error thrown by the caller's message handler, rethrown as it was.
    private struct HandlerFailure: Error {
        let underlying: any Error
    }

    /// When the connection last showed a sign of life, shared by the reader and the watchdog.
    private final class Activity: Sendable {
        let start = ContinuousClock.now
        /// Nanoseconds since `start` of the last sign of life; -1 until the upgrade succeeded.
        let last = Atomic<Int64>(-1)
        /// Nanoseconds since `start` when the upgrade succeeded; -1 before.
        let upgraded = Atomic<Int64>(-1)
        let messages = Atomic<Int>(0)
        let closedByUs = Atomic<Bool>(false)

        func elapsed() -> Int64 { Self.nanoseconds(start.duration(to: .now)) }
        func touch() { last.store(elapsed(), ordering: .relaxed) }

        func connected() {
            let now = elapsed()
            upgraded.store(now, ordering: .relaxed)
            last.store(now, ordering: .relaxed)
        }

        func received() {
            messages.add(1, ordering: .relaxed)
            touch()
        }

        static func nanoseconds(_ duration: Duration) -> Int64 {
            duration.components.seconds * 1_000_000_000 + duration.components.attoseconds / 1_000_000_000
        }
    }

    private enum Ending: Sendable {
        case closed(WebSocketClose)
        case connectTimedOut
        case idle
    }

    public func connect(
        _ request: WebSocketRequest, onText: @escaping @Sendable (String) async throws -> WebSocketNext
    ) async throws -> WebSocketClose {
        guard request.url.hasPrefix("ws://") || request.url.hasPrefix("wss://") else {
            throw WebSocketError(.invalidRequest, "A WebSocket URL must start with ws:// or wss://.")
        }
        var headers = HTTPFields()
        for header in request.headers {
            guard let name = HTTPField.Name(header.name) else {
                throw WebSocketError(.invalidRequest, "`\(header.name)` is not a valid header name.")
            }
            headers.append(HTTPField(name: name, value: header.value))
        }
        let configuration = WebSocketClientConfiguration(
            maxFrameSize: maxMessageBytes, additionalHeaders: headers, closeTimeout: .seconds(5), validateUTF8: true)
        let maxMessageBytes = maxMessageBytes
        let logger = logger
        let activity = Activity()
        let connectLimit = Activity.nanoseconds(request.connectTimeout)
        let idleLimit = request.idleTimeout.map(Activity.nanoseconds)
        let firstMessageLimit = request.firstMessageTimeout.map(Activity.nanoseconds)
        let url = request.url

        return try await withThrowingTaskGroup(of: Ending.self) { group in
            group.addTask {
                do {
                    let frame = try await WebSocketClient.connect(url: url, configuration: configuration, logger: logger) {
                        inbound, outbound, _ in
                        activity.connected()
                        for try await message in inbound.messages(maxSize: maxMessageBytes) {
                            activity.received()
                            guard case .text(let text) = message else { continue }
                            let next: WebSocketNext
                            do {
                                next = try await onText(text)
                            } catch {
                                throw HandlerFailure(underlying: error)
                            }
                            if next == .close {
                                activity.closedByUs.store(true, ordering: .relaxed)
                                try await outbound.close(.normalClosure, reason: nil)
                                return
                            }
                        }
                    }
                    return .closed(
                        WebSocketClose(
                            code: frame.map { Int(UInt16(webSocketErrorCode: $0.closeCode)) }, reason: frame?.reason,
                            byUs: activity.closedByUs.load(ordering: .relaxed)))
                } catch let failure as HandlerFailure {
                    throw failure.underlying
                } catch let error as WebSocketClientError {
                    if error == .webSocketUpgradeFailed {
                        throw WebSocketError(.upgradeRejected, "The server refused the WebSocket upgrade.")
                    }
                    throw WebSocketError(.connection, "\(error)")
                } catch let error as WebSocketError {
                    throw error
                } catch is CancellationError where Task.isCancelled {
                    throw CancellationError()
                } catch {
                    guard activity.last.load(ordering: .relaxed) >= 0 else { throw WebSocketError(.connection, "\(error)") }
                    // Broken after the upgrade (reset, protocol error): the connection ended without a close frame.
                    return .closed(WebSocketClose(code: nil, reason: "\(error)"))
                }
            }
            group.addTask {
                let tick = Duration.nanoseconds(
                    max(1_000_000, min(connectLimit, idleLimit ?? connectLimit, firstMessageLimit ?? connectLimit) / 8))
                while true {
                    try await Task.sleep(for: tick)
                    let last = activity.last.load(ordering: .relaxed)
                    let now = activity.elapsed()
                    if last < 0 {
                        if now > connectLimit { return .connectTimedOut }
                    } else if let idleLimit, now - last > idleLimit {
                        return .idle
                    } else if let firstMessageLimit, activity.messages.load(ordering: .relaxed) == 0,
                        now - activity.upgraded.load(ordering: .relaxed) > firstMessageLimit
                    {
                        return .idle
                    }
                }
            }
            defer { group.cancelAll() }
            let first = try await group.next()!
            group.cancelAll()
            switch first {
            case .closed(let close):
                return close
            case .connectTimedOut:
                throw WebSocketError(.timeout, "No WebSocket connection within \(request.connectTimeout).")
            case .idle:
                return WebSocketClose(code: nil, idle: true, byUs: true)
            }
        }
    }
}
