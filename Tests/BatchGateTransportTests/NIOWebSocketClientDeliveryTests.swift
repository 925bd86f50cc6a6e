import BatchGateCore
import BatchGateTransport
import Hummingbird
import HummingbirdWebSocket
import NIOCore
import NIOSSL
import NIOWebSocket
import Synchronization
import Testing

/// The WebSocket client never loses a message the server sent before its close: servers that send and
/// close at once, bytes that share a TCP read with the 101 response, fragments, pings, size limits,
/// protocol errors, timeouts, a slow consumer, and `wss://`.
@Suite(.timeLimit(.minutes(2)))
struct NIOWebSocketClientDeliveryTests {
    typealias Server = ScriptedWebSocketServer

    let client = NIOWebSocketClient(logger: quietLogger)

    static func catchup(_ job: String) -> String {
        #"{"type":"catchup","job":"\#(job)","rows":[{"row":0,"tags":["invoice","\#(job)"]},{"row":1,"tags":["receipt"]}]}"#
    }

    static func completion(_ job: String) -> String { #"{"type":"completed","job":"\#(job)","processed":2}"# }

    /// Connects and collects every text message until the connection ends.
    func collect(_ request: WebSocketRequest, client: NIOWebSocketClient? = nil) async throws -> ([String], WebSocketClose) {
        let received = Mutex<[String]>([])
        let close = try await (client ?? self.client).connect(request) { text in
            received.withLock { $0.append(text) }
            return .keepReading
        }
        return (received.withLock { $0 }, close)
    }

    // MARK: Servers that send and close at once

    @Test func aHundredConcurrentClientsOfAServerThatSendsAndClosesAtOnceGetEveryMessage() async throws {
        let router = Router(context: BasicWebSocketRequestContext.self)
        router.ws("/jobs/{id}") { _, outbound, context in
            let job = String(context.request.uri.path.split(separator: "/").last ?? "")
            try await outbound.write(.text(Self.catchup(job)))
            try await outbound.write(.text(Self.completion(job)))
            try await outbound.close(.normalClosure, reason: "finished")
        }
        try await withWebSocketServer(router) { port in
            let results = try await withThrowingTaskGroup(of: (String, [String], WebSocketClose).self) { group in
                for index in 0..<100 {
                    group.addTask {
                        let job = "job-\(index)"
                        let (texts, close) = try await collect(
                            WebSocketRequest(url: "ws://127.0.0.1:\(port)/jobs/\(job)", connectTimeout: .seconds(30))
                        )
                        return (job, texts, close)
                    }
                }
                var results: [(String, [String], WebSocketClose)] = []
                for try await result in group { results.append(result) }
                return results
            }
            #expect(results.count == 100)
            let incomplete = results.filter { job, texts, close in
                texts != [Self.catchup(job), Self.completion(job)] || close.code != 1000 || close.reason != "finished"
            }
            #expect(incomplete.isEmpty, "\(incomplete.count) of 100 clients missed something: \(incomplete.prefix(3))")
        }
    }

    @Test func messagesInTheSameTCPReadAsThe101ResponseArrive() async throws {
        let script = Server.Script(
            initial: Server.text(Self.catchup("7")) + Server.text(Self.completion("7")) + Server.close(code: 1000, reason: "finished"),
            closeAfterInitial: true
        )
        try await Server.with(script) { server in
            // Many connections, so that reading the socket's end in the same event-loop turn as the 101 happens.
            let results = try await withThrowingTaskGroup(of: ([String], WebSocketClose).self) { group in
                for _ in 0..<50 {
                    group.addTask { try await collect(WebSocketRequest(url: "ws://127.0.0.1:\(server.port)/")) }
                }
                var results: [([String], WebSocketClose)] = []
                for try await result in group { results.append(result) }
                return results
            }
            #expect(results.count == 50)
            for (texts, close) in results {
                #expect(texts == [Self.catchup("7"), Self.completion("7")])
                #expect(close.code == 1000 && close.reason == "finished" && !close.byUs && !close.idle)
            }
        }
    }

    @Test func messagesBeforeASocketClosedWithoutACloseFrameArrive() async throws {
        let script = Server.Script(initial: Server.text("one") + Server.text("two"), closeAfterInitial: true)
        try await Server.with(script) { server in
            let (texts, close) = try await collect(WebSocketRequest(url: "ws://127.0.0.1:\(server.port)/"))
            #expect(texts == ["one", "two"])
            #expect(close.code == nil && !close.idle && !close.byUs)
        }
    }

    @Test func aPolicyViolationCloseIsSurfacedAfterTheMessagesBeforeIt() async throws {
        let script = Server.Script(
            initial: Server.text(#"{"type":"error","message":"invalid token"}"#) + Server.close(code: 1008, reason: "invalid token"),
            closeAfterInitial: true
        )
        try await Server.with(script) { server in
            let (texts, close) = try await collect(WebSocketRequest(url: "ws://127.0.0.1:\(server.port)/?token=wrong"))
            #expect(texts == [#"{"type":"error","message":"invalid token"}"#])
            #expect(close.code == 1008)
            #expect(close.reason == "invalid token")
        }
    }

    // MARK: Frames

    @Test func aFragmentedMessageIsJoinedAndAPingBetweenItsFragmentsIsAnswered() async throws {
        let script = Server.Script(
            initial: Server.text("hel", fin: false) + Server.frame(.ping, Array("mid".utf8))
                + Server.frame(.continuation, Array("lo ".utf8), fin: false)
                + Server.frame(.continuation, Array("wörld".utf8)) + Server.text("after") + Server.close(code: 1000)
        )
        try await Server.with(script) { server in
            let (texts, close) = try await collect(WebSocketRequest(url: "ws://127.0.0.1:\(server.port)/"))
            #expect(texts == ["hello wörld", "after"])
            #expect(close.code == 1000)
            try await waitUntil("the pong and the close answer") { server.received.all.count >= 2 }
            let frames = server.received.all
            #expect(frames.first == .init(opcode: 0xA, payload: Array("mid".utf8)))
            #expect(frames.contains { $0.opcode == 0x8 })
        }
    }

    @Test func aPingIsAnsweredWithItsPayload() async throws {
        var script = Server.Script(initial: Server.frame(.ping, Array("are you there".utf8)))
        script.onFrame = { opcode, payload in
            switch opcode {
            case .pong:
                Server.Reply(bytes: Server.text("pong: " + String(decoding: payload, as: UTF8.self)) + Server.close(code: 1000, reason: "bye"))
            case .connectionClose: Server.Reply(close: true)
            default: Server.Reply()
            }
        }
        try await Server.with(script) { server in
            let (texts, close) = try await collect(WebSocketRequest(url: "ws://127.0.0.1:\(server.port)/", idleTimeout: .seconds(10)))
            #expect(texts == ["pong: are you there"])
            #expect(close.code == 1000 && close.reason == "bye")
        }
    }

    @Test func binaryMessagesCountAsMessagesButAreNotHandedOn() async throws {
        let script = Server.Script(
            initial: Server.frame(.binary, [0, 1, 2, 0xFF]) + Server.text("text") + Server.close(code: 1000),
            closeAfterInitial: true
        )
        try await Server.with(script) { server in
            let (texts, close) = try await collect(
                WebSocketRequest(url: "ws://127.0.0.1:\(server.port)/", firstMessageTimeout: .seconds(5))
            )
            #expect(texts == ["text"])
            #expect(close.code == 1000)
        }
    }

    // MARK: Limits and protocol errors

    @Test(arguments: ["one frame", "fragments"])
    func aMessageOverTheLimitFailsTheConnectionWith1009(_ shape: String) async throws {
        let oversized =
            shape == "one frame"
            ? Server.text(String(repeating: "x", count: 2000))
            : Server.text(String(repeating: "x", count: 600), fin: false) + Server.frame(.continuation, Array(repeating: 0x78, count: 600))
        let small = NIOWebSocketClient(maxMessageBytes: 1024, logger: quietLogger)
        let script = Server.Script(initial: Server.text("small") + oversized)
        try await Server.with(script) { server in
            let received = Mutex<[String]>([])
            await #expect {
                _ = try await small.connect(WebSocketRequest(url: "ws://127.0.0.1:\(server.port)/")) { text in
                    received.withLock { $0.append(text) }
                    return .keepReading
                }
            } throws: { error in
                guard let error = error as? WebSocketError else { return false }
                return error.code == .connection && error.message.contains("1024-byte message limit")
            }
            #expect(received.withLock { $0 } == ["small"], "\(shape)")
            try await waitUntil("the client's close frame") { server.received.all.contains { $0.opcode == 0x8 } }
            #expect(server.received.all.first { $0.opcode == 0x8 }?.payload.prefix(2) == [0x03, 0xF1], "1009, \(shape)")
        }
    }

    @Test func aTextMessageThatIsNotUTF8FailsTheConnectionWith1007() async throws {
        let script = Server.Script(initial: Server.frame(.text, [0x68, 0xFF, 0xFE]))
        try await Server.with(script) { server in
            await #expect {
                _ = try await collect(WebSocketRequest(url: "ws://127.0.0.1:\(server.port)/"))
            } throws: { error in
                (error as? WebSocketError)?.code == .connection && "\(error)".contains("UTF-8")
            }
            try await waitUntil("the client's close frame") { server.received.all.contains { $0.opcode == 0x8 } }
            #expect(server.received.all.first { $0.opcode == 0x8 }?.payload.prefix(2) == [0x03, 0xEF])
        }
    }

    @Test func aWrongAcceptKeyIsARefusedUpgrade() async throws {
        try await Server.with(Server.Script(initial: Server.text("never read"), wrongAccept: true)) { server in
            await #expect {
                _ = try await collect(WebSocketRequest(url: "ws://127.0.0.1:\(server.port)/"))
            } throws: { error in
                (error as? WebSocketError)?.code == .upgradeRejected && "\(error)".contains("Sec-WebSocket-Accept")
            }
        }
    }

    @Test func invalidRequestsAreRefusedBeforeConnecting() async throws {
        let cases: [(WebSocketRequest, String)] = [
            (WebSocketRequest(url: "ws://"), "no host"),
            (WebSocketRequest(url: "ws://127.0.0.1:70000/"), "port"),
            (WebSocketRequest(url: "ftp://127.0.0.1/"), "ws:// or wss://"),
            (WebSocketRequest(url: "not a url"), "not a valid URL"),
            (WebSocketRequest(url: "ws://user:secret@127.0.0.1/"), "credentials"),
            (WebSocketRequest(url: "ws://127.0.0.1/", headers: [("Bad Name", "x")]), "not a valid header name"),
            (WebSocketRequest(url: "ws://127.0.0.1/", headers: [("X-Token", "a\r\nInjected: yes")]), "line breaks"),
            (WebSocketRequest(url: "ws://127.0.0.1/", headers: [("Sec-WebSocket-Key", "x")]), "set by the WebSocket client"),
        ]
        for (request, expected) in cases {
            await #expect {
                _ = try await collect(request)
            } throws: { error in
                (error as? WebSocketError)?.code == .invalidRequest && "\(error)".contains(expected)
            }
        }
    }

    // MARK: Timeouts and back-pressure

    @Test func aServerThatNeverAnswersTheUpgradeTimesOut() async throws {
        try await Server.with(Server.Script(silent: true)) { server in
            await #expect {
                _ = try await collect(WebSocketRequest(url: "ws://127.0.0.1:\(server.port)/", connectTimeout: .milliseconds(300)))
            } throws: { error in
                (error as? WebSocketError)?.code == .timeout
            }
        }
    }

    @Test func aSlowConsumerGetsEveryMessageBeforeTheIdleTimeout() async throws {
        // 200 messages of 4 KiB: reading stops while the consumer is behind, and the idle timeout (shorter
        // than the time the consumer needs) must not run then.
        let messages = (0..<200).map { "message \($0) " + String(repeating: "m", count: 4096) }
        let script = Server.Script(initial: messages.flatMap { Server.text($0) })
        try await Server.with(script) { server in
            let received = Mutex<[String]>([])
            let close = try await client.connect(
                WebSocketRequest(url: "ws://127.0.0.1:\(server.port)/", idleTimeout: .seconds(1))
            ) { text in
                received.withLock { $0.append(text) }
                try await Task.sleep(for: .milliseconds(10))
                return .keepReading
            }
            #expect(received.withLock { $0 } == messages)
            #expect(close.idle)
        }
    }

    @Test func cancellingTheConsumingTaskClosesTheConnection() async throws {
        try await Server.with(Server.Script(initial: Server.text("first"))) { server in
            let started = Counter()
            let task = Task {
                try await client.connect(WebSocketRequest(url: "ws://127.0.0.1:\(server.port)/")) { _ in
                    started.increment()
                    return .keepReading
                }
            }
            try await waitUntil("the first message") { started.current == 1 }
            task.cancel()
            await #expect(throws: CancellationError.self) { _ = try await task.value }
            try await waitUntil("the client's close frame") { server.received.all.contains { $0.opcode == 0x8 } }
        }
    }

    // MARK: TLS

    @Test func wssConnectsToATrustedServerAndRefusesAnUntrustedOne() async throws {
        let certificate = try NIOSSLCertificate(bytes: Array(TestTLS.certificatePEM.utf8), format: .pem)
        let key = try NIOSSLPrivateKey(bytes: Array(TestTLS.privateKeyPEM.utf8), format: .pem)
        let serverTLS = try NIOSSLContext(
            configuration: .makeServerConfiguration(certificateChain: [.certificate(certificate)], privateKey: .privateKey(key))
        )
        var trusting = TLSConfiguration.makeClientConfiguration()
        trusting.trustRoots = .certificates([certificate])
        let trustingClient = NIOWebSocketClient(tlsConfiguration: trusting, logger: quietLogger)
        let script = Server.Script(initial: Server.text("secure hello") + Server.close(code: 1000, reason: "done"))
        try await Server.with(script, tls: serverTLS) { server in
            let (texts, close) = try await collect(WebSocketRequest(url: "wss://localhost:\(server.port)/"), client: trustingClient)
            #expect(texts == ["secure hello"])
            #expect(close.code == 1000 && close.reason == "done")

            await #expect {
                _ = try await collect(WebSocketRequest(url: "wss://localhost:\(server.port)/"))
            } throws: { error in
                (error as? WebSocketError)?.code == .connection && "\(error)".contains("TLS")
            }
        }
    }
}
