import BatchGateCore
import BatchGateProviders
import BatchGateStore
import Hummingbird
import Logging
import ServiceLifecycle

/// The assembled gateway: store, provider adapters, job engine and HTTP API, as services to run.
public struct Gateway: Sendable {
    /// The HTTP application (a `Service`).
    public let application: any Service
    /// Runs job turns (submits and polls) until shutdown.
    public let engineService: any Service
    /// How many active jobs were resumed from the store at start.
    public let resumedJobs: Int

    let engine: JobEngine

    /// Opens the store, builds the adapters and resumes every active job.
    ///
    /// - Parameters:
    ///   - transport: the HTTP client for vendor calls; the caller owns its lifetime.
    ///   - onListening: called with the bound port once the server listens (port 0 picks one).
    public static func make(
        configuration: GatewayConfiguration, transport: any HTTPTransport, registry: ProviderRegistry = .standard,
        logger: Logger, onListening: @escaping @Sendable (Int) async -> Void = { _ in }
    ) async throws -> Gateway {
        let store: any JobStore
        switch configuration.store {
        case .sqlite(let path):
            store = try SQLiteJobStore(path: path)
        case .postgres:
            throw GatewayError(
                status: 500, code: "store_unsupported", message: "store.postgres is not available in this build; use store.sqlite.")
        }
        let context = ProviderContext(transport: transport, logger: logger)
        var providers: [String: any BatchProvider] = [:]
        for settings in configuration.providers {
            guard let provider = registry.makeProvider(settings, context: context) else {
                throw GatewayError(status: 500, code: "unknown_provider_kind", message: "Unknown provider kind \(settings.kind).")
            }
            providers[settings.name] = provider
        }
        let engine = JobEngine(
            configuration: .init(publicURL: configuration.server.publicURL), store: store, providers: providers,
            routes: configuration.routes, logger: logger)
        let resumed = try await engine.resume()
        logger.info("resumed active jobs", metadata: ["count": "\(resumed)"])

        let router = Router(context: GatewayRequestContext.self)
        APIRoutes(
            engine: engine, routes: Dictionary(configuration.routes.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a }),
            maxBodyBytes: configuration.server.maxBodyBytes,
            apiKeys: Dictionary(configuration.apiKeys.map { ($0.key, $0.tenant) }, uniquingKeysWith: { a, _ in a }),
            ready: {
                do {
                    _ = try await store.job(id: "bat_00000000000000000000000000")
                    return true
                } catch {
                    return false
                }
            }
        ).register(on: router)
        let application = Application(
            router: router,
            configuration: .init(address: .hostname(configuration.server.host, port: configuration.server.port), serverName: "BatchGate"),
            onServerRunning: { channel in await onListening(channel.localAddress?.port ?? configuration.server.port) },
            logger: logger)
        return Gateway(application: application, engineService: EngineService(engine: engine), resumedJobs: resumed, engine: engine)
    }

    /// Every service of the gateway, in start order.
    public var services: [any Service] { [engineService, application] }
}

/// Runs the engine's job turns as a service.
struct EngineService: Service {
    let engine: JobEngine

    func run() async throws {
        await engine.scheduler.run { jobID in await engine.turn(jobID) }
    }
}
