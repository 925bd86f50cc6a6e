import ArgumentParser
import BatchGateCore
import BatchGateServer
import BatchGateTransport
import ServiceLifecycle
import UnixSignals

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the gateway until SIGTERM or SIGINT, then drain gracefully."
    )

    @OptionGroup var options: ConfigOption

    func run() async throws {
        let configuration = try options.load()
        let logger = makeLogger("batchgate", format: configuration.server.logFormat)
        // Before anything makes a span; its exporter is started first and stopped last, flushing the last spans.
        let tracing = try GatewayTracing.bootstrap(configuration.telemetry, logger: logger)
        try await CurlHTTPClient.withClient(logger: logger) { transport in
            let gateway = try await Gateway.make(
                configuration: configuration,
                transport: transport,
                logger: logger,
                onListening: { port in say("batchgate listening on \(configuration.server.host):\(port)") }
            )
            let group = ServiceGroup(
                services: (tracing.map { [$0] } ?? []) + gateway.services,
                gracefulShutdownSignals: [.sigterm, .sigint],
                logger: logger
            )
            try await group.run()
        }
    }
}
