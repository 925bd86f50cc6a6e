import BatchGateCore
import BatchGateTransport
import Hummingbird
import HummingbirdWebSocket
import Logging
import NIOWebSocket
import Synchronization
import Testing

/// The WebSocket client against a loopback WebSocket server: messages in order, close codes, the
/// idle and first-message timeouts, refused upgrades and connections.
@Suite(.timeLimit(.minutes(1)))
struct NIOWebSocketClientTests {
    /// Runs a WebSocket server on 127.0.0.1 for `body`: `/talk` sends three messages then closes with
    /// 1008; `/echo` echoes until closed; `/whoami` sends the upgrade's `Authorization` header; `/silent` sends nothing; `/late` sends one message after 300 ms
    /// and then a message every 50 ms; any other path answers 404.
    @discardableResult
    func withServer<R: Sendable>(_ body: @Sendable (Int) async throws -> R) async throws -> R {
        let router = Router(context: BasicWebSocketRequestContext.self)
        // Routes speak as soon as the socket is open: messages that follow the 101 response at once must arrive.
        router.ws("/talk") { _, outbound, _ in
            for index in 1...3 { try await outbound.write(.text("message \(index)")) }
            try await outbound.close(.policyViolation, reason: "enough")
        }
        router.ws("/echo") { inbound, outbound, _ in
            for try await message in inbound.messages(maxSize: 1 << 20) {
                if case .text(let text) = message { try await outbound.write(.text(text)) }
            }
        }
        router.ws("/whoami") { _, outbound, context in
            try await outbound.write(.text(context.request.headers[.authorization] ?? "-"))
        }
        router.ws("/silent") { inbound, _, _ in
            for try await _ in inbound {}
        }
        router.ws("/late") { _, outbound, _ in
            try await Task.sleep(for: .milliseconds(300))
            while !Task.isCancelled {
                try await outbound.write(.text("tick"))
                try await Task.sleep(for: .milliseconds(50))
            }
        }
        return try await withWebSocketServer(router, body)
    }

    let client = NIOWebSocketClient(logger: quietLogger)

    @Test func messagesArriveInOrderAndTheCloseCodeIsReported() async throws {
        try await withServer { port in
            let received = Mutex<[String]>([])
            let close = try await client.connect(WebSocketRequest(url: "ws://127.0.0.1:\(port)/talk")) { text in
                received.withLock { $0.append(text) }
                return .keepReading
            }
            #expect(received.withLock { $0 } == ["message 1", "message 2", "message 3"])
            #expect(close.code == 1008)
            #expect(close.reason == "enough")
            #expect(!close.idle && !close.byUs)
        }
    }

    @Test func theHandlerCanCloseTheConnection() async throws {
        try await withServer { port in
            let close = try await client.connect(
                WebSocketRequest(url: "ws://127.0.0.1:\(port)/talk")
            ) { text in text == "message 2" ? .close : .keepReading }
            #expect(close.byUs)
        }
    }

    @Test func aSilentConnectionIsClosedAfterTheIdleTimeout() async throws {
        try await withServer { port in
            let start = ContinuousClock.now
            let close = try await client.connect(
                WebSocketRequest(url: "ws://127.0.0.1:\(port)/silent", idleTimeout: .milliseconds(200))
            ) { _ in .keepReading }
            #expect(close.idle)
            let elapsed = ContinuousClock.now - start
            #expect(elapsed >= .milliseconds(200), "\(elapsed)")
        }
    }

    @Test func aPeerThatDoesNotSpeakFirstInTimeIsClosed() async throws {
        try await withServer { port in
            // The first message comes after 300 ms: too late for a 100 ms first-message timeout ...
            let early = try await client.connect(
                WebSocketRequest(url: "ws://127.0.0.1:\(port)/late", idleTimeout: .seconds(5), firstMessageTimeout: .milliseconds(100))
            ) { _ in .keepReading }
            #expect(early.idle)
            // ... but in time for a 2 s one; later messages come well within the idle timeout.
            let count = Mutex(0)
            let patient = try await client.connect(
                WebSocketRequest(url: "ws://127.0.0.1:\(port)/late", idleTimeout: .seconds(1), firstMessageTimeout: .seconds(2))
            ) { _ in
                count.withLock { $0 += 1 }
                return count.withLock { $0 } >= 3 ? .close : .keepReading
            }
            #expect(patient.byUs)
        }
    }

    @Test func errorsFromTheHandlerAreRethrown() async throws {
        struct Stop: Error {}
        try await withServer { port in
            await #expect(throws: Stop.self) {
                _ = try await client.connect(WebSocketRequest(url: "ws://127.0.0.1:\(port)/talk")) { _ in throw Stop() }
            }
        }
    }

    @Test func headersReachTheServer() async throws {
        try await withServer { port in
            let reply = Mutex<String?>(nil)
            _ = try await client.connect(
                WebSocketRequest(url: "ws://127.0.0.1:\(port)/whoami", headers: [("Authorization", "Bearer t")])
            ) { text in
                reply.withLock { $0 = text }
                return .close
            }
            #expect(reply.withLock { $0 } == "Bearer t")
        }
    }

    @Test func aRefusedUpgradeAndARefusedConnectionAreErrors() async throws {
        try await withServer { port in
            await #expect {
                _ = try await client.connect(WebSocketRequest(url: "ws://127.0.0.1:\(port)/nowhere")) { _ in .keepReading }
            } throws: { error in
                (error as? WebSocketError)?.code == .upgradeRejected
            }
        }
        let closedPort = try await withServer { port in port }
        await #expect {
            _ = try await client.connect(WebSocketRequest(url: "ws://127.0.0.1:\(closedPort)/talk", connectTimeout: .seconds(2))) { _ in
                .keepReading
            }
        } throws: { error in
            [.connection, .timeout].contains((error as? WebSocketError)?.code)
        }
        await #expect {
            _ = try await client.connect(WebSocketRequest(url: "http://127.0.0.1:1/talk")) { _ in .keepReading }
        } throws: { error in
            (error as? WebSocketError)?.code == .invalidRequest
        }
    }
}
