public import Logging

/// Runs a `TaggerSimulator` for the duration of `body`, then stops it and waits for it to shut down
/// (open sockets get a normal close).
///
/// `body` gets the simulator's base URL (`http://127.0.0.1:<port>`; its sockets are under
/// `ws://127.0.0.1:<port>`) and the simulator itself. Throws when the simulator cannot start, or
/// whatever `body` throws.
public func withTaggerSimulator<R>(
    _ configuration: TaggerSimulator.Configuration,
    logger: Logger = Logger(label: "batchgate.simulator.tagger", factory: { _ in SwiftLogNoOpLogHandler() }),
    _ body: (_ baseURL: String, _ simulator: TaggerSimulator) async throws -> R
) async throws -> R {
    let simulator = TaggerSimulator(configuration: configuration, logger: logger)
    return try await withLoopbackServer(
        host: configuration.host,
        run: { onListening in try await simulator.run(onListening: onListening) },
        { baseURL in try await body(baseURL, simulator) }
    )
}
