/// Runs a server in a child task, waits until it reports its port, runs `body` with its base URL, then
/// cancels the server and waits for it to stop. Throws when the server ends before listening.
func withLoopbackServer<R>(
    host: String, run: @escaping @Sendable (_ onListening: @escaping @Sendable (Int) async -> Void) async throws -> Void,
    _ body: (_ baseURL: String) async throws -> R
) async throws -> R {
    let (ports, continuation) = AsyncStream.makeStream(of: Int.self, bufferingPolicy: .bufferingNewest(1))
    return try await withThrowingTaskGroup(of: Void.self) { group in
        group.addTask {
            defer { continuation.finish() }
            try await run { port in continuation.yield(port) }
        }
        var iterator = ports.makeAsyncIterator()
        guard let port = await iterator.next() else {
            // The server ended before listening: surface its error.
            try await group.next()
            throw SimulatorError(code: "not_started", message: "The server stopped before it was listening.")
        }
        let hostPart = host.contains(":") ? "[\(host)]" : host
        do {
            let result = try await body("http://\(hostPart):\(port)")
            group.cancelAll()
            try await group.waitForAll()
            return result
        } catch {
            group.cancelAll()
            try? await group.waitForAll()
            throw error
        }
    }
}
