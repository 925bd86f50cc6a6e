public import BatchGateCore
public import Logging

/// Runs an `AirOpsSimulator` for the duration of `body`, then stops it and waits for it to shut down.
///
/// `body` gets the simulator's base URL (`http://127.0.0.1:<port>`) and the simulator itself. Throws
/// when the simulator cannot start, or whatever `body` throws.
public func withAirOpsSimulator<R>(
    _ configuration: AirOpsSimulator.Configuration,
    transport: any HTTPTransport,
    logger: Logger = Logger(label: "batchgate.simulator.airops", factory: { _ in SwiftLogNoOpLogHandler() }),
    _ body: (_ baseURL: String, _ simulator: AirOpsSimulator) async throws -> R
) async throws -> R {
    let simulator = AirOpsSimulator(configuration: configuration, webhookTransport: transport, logger: logger)
    return try await withLoopbackServer(
        host: configuration.host,
        run: { onListening in try await simulator.run(onListening: onListening) },
        { baseURL in try await body(baseURL, simulator) }
    )
}
