public import Logging

/// Runs an `AitronosSimulator` for the duration of `body`, then stops it gracefully and waits for it to
/// shut down.
///
/// `body` gets the simulator's base URL (`http://127.0.0.1:<port>`, without the configured path
/// prefix) and the simulator itself. Throws when the simulator cannot start, or whatever `body` throws.
public func withAitronosSimulator<R>(
    _ configuration: AitronosSimulator.Configuration,
    logger: Logger = Logger(label: "batchgate.simulator.aitronos", factory: { _ in SwiftLogNoOpLogHandler() }),
    _ body: (_ baseURL: String, _ simulator: AitronosSimulator) async throws -> R
) async throws -> R {
    let simulator = AitronosSimulator(configuration: configuration, logger: logger)
    return try await withLoopbackServer(
        host: configuration.host,
        run: { onListening in try await simulator.run(onListening: onListening) },
        { baseURL in try await body(baseURL, simulator) }
    )
}
