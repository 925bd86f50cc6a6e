import Hummingbird
import HummingbirdWebSocket
import ServiceLifecycle

/// Runs a Hummingbird WebSocket server for `router` on 127.0.0.1 with an OS-chosen port for the
/// duration of `body`, then shuts it down gracefully.
func withWebSocketServer<R: Sendable>(
    _ router: Router<BasicWebSocketRequestContext>,
    _ body: @Sendable (Int) async throws -> R
) async throws -> R {
    let (ports, continuation) = AsyncStream.makeStream(of: Int.self)
    let app = Application(
        router: router,
        server: .http1WebSocketUpgrade(webSocketRouter: router),
        configuration: .init(address: .hostname("127.0.0.1", port: 0)),
        onServerRunning: { channel in
            continuation.yield(channel.localAddress?.port ?? 0)
            continuation.finish()
        },
        logger: quietLogger
    )
    let services = ServiceGroup(services: [app], logger: quietLogger)
    return try await withThrowingTaskGroup(of: Void.self) { group in
        group.addTask {
            defer { continuation.finish() }
            try await services.run()
        }
        var iterator = ports.makeAsyncIterator()
        guard let port = await iterator.next(), port > 0 else {
            await services.triggerGracefulShutdown()
            throw TestFailure("the WebSocket server did not start")
        }
        do {
            let result = try await body(port)
            await services.triggerGracefulShutdown()
            try await group.waitForAll()
            return result
        } catch {
            await services.triggerGracefulShutdown()
            try? await group.waitForAll()
            throw error
        }
    }
}
