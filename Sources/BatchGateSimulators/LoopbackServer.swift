import Logging
import ServiceLifecycle

/// Runs a server as the one service of a `ServiceGroup`, waits until it reports its port, runs `body`
/// with its base URL, then shuts the server down gracefully and waits for it to stop. Throws when the
/// server ends before listening.
///
/// The server is never cancelled: cancelling a NIO server while it holds an accepted connection it has
/// not started serving traps in NIO (`Deinited NIOAsyncWriter without calling finish()`); a graceful
/// shutdown serves or closes every accepted connection first.
func withLoopbackServer<R>(
    host: String,
    run: @escaping @Sendable (_ onListening: @escaping @Sendable (Int) async -> Void) async throws -> Void,
    _ body: (_ baseURL: String) async throws -> R
) async throws -> R {
    let (ports, continuation) = AsyncStream.makeStream(of: Int.self, bufferingPolicy: .bufferingNewest(1))
    let server = ClosureService {
        defer { continuation.finish() }
        try await run { port in continuation.yield(port) }
    }
    let group = ServiceGroup(services: [server], logger: Logger(label: "batchgate.loopback", factory: { _ in SwiftLogNoOpLogHandler() }))
    return try await withThrowingTaskGroup(of: Void.self) { tasks in
        tasks.addTask { try await group.run() }
        var iterator = ports.makeAsyncIterator()
        guard let port = await iterator.next() else {
            // The server ended before listening: surface its error.
            try await tasks.next()
            throw SimulatorError(code: "not_started", message: "The server stopped before it was listening.")
        }
        let hostPart = host.contains(":") ? "[\(host)]" : host
        do {
            let result = try await body("http://\(hostPart):\(port)")
            await group.triggerGracefulShutdown()
            try await tasks.waitForAll()
            return result
        } catch {
            await group.triggerGracefulShutdown()
            try? await tasks.waitForAll()
            throw error
        }
    }
}

/// A closure as a `Service`.
struct ClosureService: Service {
    let body: @Sendable () async throws -> Void

    init(_ body: @escaping @Sendable () async throws -> Void) { self.body = body }

    func run() async throws { try await body() }
}
