public import BatchGateCore
import BatchGatePostgresStore
public import BatchGateProviders
import BatchGateStore
import BatchGateTransport
import BatchGateWebhooks
import Foundation
import Hummingbird
public import Logging
public import Prometheus
public import ServiceLifecycle

/// The assembled gateway: store, provider adapters, job engine and HTTP API, as services to run.
public struct Gateway: Sendable {
    /// The HTTP application (a `Service`).
    public let application: any Service
    /// Runs job turns (submits and polls) until shutdown.
    public let engineService: any Service
    /// Delivers signed webhooks to clients until shutdown.
    public let webhookService: any Service
    /// Keeps the vendor connections of streaming providers' running jobs open until shutdown.
    public let observerService: any Service
    /// Keeps the store open until everything else stopped, and this replica's cache in step with what
    /// other replicas commit to a shared store.
    public let storeService: any Service
    /// How many active jobs were resumed from the store at start.
    public let resumedJobs: Int
    /// Every route the HTTP server answers, as `METHOD /path/{parameter}`.
    public let routes: [String]

    let engine: JobEngine

    /// Opens the store, builds the adapters and resumes every active job.
    ///
    /// - Parameters:
    ///   - transport: the HTTP client for vendor calls; the caller owns its lifetime.
    ///   - webSocket: the WebSocket client for vendors that push over a socket (default: on SwiftNIO).
    ///   - metrics: the registry `GET /metrics` renders (the process's, which swift-metrics records into).
    ///   - onListening: called with the bound port once the server listens (port 0 picks one).
    public static func make(
        configuration: GatewayConfiguration,
        transport: any HTTPTransport,
        webSocket: (any WebSocketTransport)? = nil,
        registry: ProviderRegistry = .standard,
        metrics: PrometheusCollectorRegistry = GatewayMetricsSystem.registry,
        logger: Logger,
        onListening: @escaping @Sendable (Int) async -> Void = { _ in }
    ) async throws -> Gateway {
        let store: any JobStore
        var closeStore: @Sendable () async -> Void = {}
        // One replica per listening address and host: a restart takes its own leases back at once.
        let owner = "\(ProcessInfo.processInfo.hostName)/\(configuration.server.host):\(configuration.server.port)"
        switch configuration.store {
        case .sqlite(let path):
            store = try SQLiteJobStore(path: path, owner: owner)
        case .postgres(let settings):
            let postgres = try await PostgresJobStore(settings: settings, owner: owner, logger: logger)
            store = postgres
            closeStore = { await postgres.close() }
        }
        let context = ProviderContext(transport: transport, webSocket: webSocket ?? NIOWebSocketClient(logger: logger), logger: logger)
        var providers: [String: any BatchProvider] = [:]
        for settings in configuration.providers {
            guard let provider = registry.makeProvider(settings, context: context) else {
                throw GatewayError(status: 500, code: "unknown_provider_kind", message: "Unknown provider kind \(settings.kind).")
            }
            providers[settings.name] = provider.metered()
        }
        var engineConfiguration = JobEngine.Configuration(publicURL: configuration.server.publicURL)
        engineConfiguration.webhookMaxAttempts = configuration.webhooks.maxAttempts
        let engine = JobEngine(
            configuration: engineConfiguration,
            store: store,
            providers: providers,
            routes: configuration.routes,
            logger: logger
        )
        let urlPolicy = WebhookURLPolicy(allowInsecureLoopback: configuration.webhooks.allowInsecureLoopback)
        var webhookDefaults: [String: WebhookSubscription] = [:]
        for (tenant, subscription) in configuration.webhooks.defaults {
            let field = "webhooks.defaults.\(tenant)"
            try WebhookURLPolicy(allowInsecureLoopback: configuration.webhooks.allowInsecureLoopback, field: field + ".url")
                .validate(subscription.url)
            var checked = subscription
            checked.secret = try subscription.secret.map { try WebhookSecret(parsing: $0, field: field + ".secret").encoded }
            webhookDefaults[tenant] = checked
        }
        let resumed: Int
        do {
            resumed = try await engine.resume()
        } catch {
            await closeStore()
            throw error
        }
        logger.info("resumed active jobs", metadata: ["count": "\(resumed)"])

        let router = Router(context: GatewayRequestContext.self)
        // X-Request-Id on every response and every log line of a request; then, when tracing is on, a server
        // span (inside the request id, which it records); then metrics by route and status.
        router.add(middleware: RequestIDMiddleware())
        if configuration.telemetry != nil { router.add(middleware: GatewayTracingMiddleware()) }
        router.add(middleware: HTTPMetricsMiddleware())
        // Prometheus text format, no auth, like /healthz.
        let sampler = StoreSampler(engine: engine)
        router.get("/metrics") { _, _ in
            await sampler.refresh()
            return Response(
                status: .ok,
                headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                body: .init(byteBuffer: ByteBuffer(bytes: metrics.emitToBuffer()))
            )
        }
        router.get("/openapi.yaml") { _, _ in
            Response(
                status: .ok,
                headers: [.contentType: "application/yaml; charset=utf-8"],
                body: .init(byteBuffer: ByteBuffer(string: OpenAPIDocument.yaml))
            )
        }
        // API key → tenant, for the API and the operator page's sign-in.
        let tenantsByKey = Dictionary(configuration.apiKeys.map { ($0.key, $0.tenant) }, uniquingKeysWith: { a, _ in a })
        APIRoutes(
            engine: engine,
            routes: Dictionary(configuration.routes.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a }),
            maxBodyBytes: configuration.server.maxBodyBytes,
            apiKeys: tenantsByKey,
            urlPolicy: urlPolicy,
            webhookDefaults: webhookDefaults,
            ready: {
                do {
                    _ = try await store.job(id: "bat_00000000000000000000000000")
                    return true
                } catch {
                    return false
                }
            }
        ).register(on: router)
        OperatorUI(
            engine: engine,
            sessions: UISessions(apiKeys: tenantsByKey),
            routes: configuration.routes,
            secureCookies: configuration.server.publicURL.lowercased().hasPrefix("https://")
        ).register(on: router)
        let routes = router.routes.map { "\($0.method.rawValue) \($0.path)" }
        let application = Application(
            router: router,
            configuration: .init(address: .hostname(configuration.server.host, port: configuration.server.port), serverName: "BatchGate"),
            onServerRunning: { channel in await onListening(channel.localAddress?.port ?? configuration.server.port) },
            logger: logger
        )
        let webhookService = WebhookDeliveryService(
            engine: engine,
            policy: urlPolicy,
            configuration: WebhookSenderConfiguration(settings: configuration.webhooks),
            logger: logger
        )
        return Gateway(
            application: application,
            engineService: EngineService(engine: engine),
            webhookService: webhookService,
            observerService: ObserverService(engine: engine),
            storeService: StoreService(engine: engine, listener: store as? any StoreChangeListener, close: closeStore),
            resumedJobs: resumed,
            routes: routes,
            engine: engine
        )
    }

    /// Every service of the gateway, in start order; a graceful shutdown stops them in reverse: the HTTP
    /// server drains first, then vendor connections close, then job turns stop, then webhook deliveries.
    public var services: [any Service] { [storeService, webhookService, engineService, observerService, application] }
}

/// Runs the webhook sender with its own HTTP client, which refuses to connect to any address the URL
/// policy forbids (checked on the connected address, so DNS cannot be switched between check and send).
struct WebhookDeliveryService: Service {
    let engine: JobEngine
    let policy: WebhookURLPolicy
    let configuration: WebhookSenderConfiguration
    let logger: Logger

    func run() async throws {
        let policy = policy
        let client = CurlHTTPClient.Configuration(allowRemoteAddress: { policy.allowsRemoteAddress($0) })
        try await CurlHTTPClient.withClient(configuration: client, logger: logger) { transport in
            let sender = WebhookSender(
                outbox: EngineOutbox(engine: engine),
                transport: transport,
                policy: policy,
                configuration: configuration,
                logger: logger
            )
            engine.onDeliveriesQueued { sender.wake() }
            try await sender.run()
        }
    }
}

/// The store's outbox, telling the job cache when a job's delivery summary changed.
struct EngineOutbox: WebhookOutbox {
    let engine: JobEngine

    func claimDue(now: Timestamp, limit: Int, lease: Duration) async throws -> [WebhookDelivery] {
        try await engine.store.claimDue(now: now, limit: limit, lease: lease)
    }

    func record(_ attempt: DeliveryAttempt, for delivery: WebhookDelivery) async throws {
        try await engine.metrics.commit("record_attempt") { try await engine.store.record(attempt, for: delivery) }
        engine.cache.invalidateRendering(delivery.jobID)
    }

    func nextDueTime(now: Timestamp) async throws -> Timestamp? {
        try await engine.store.nextDueTime(now: now)
    }
}

/// Runs the engine's job turns as a service.
struct EngineService: Service {
    let engine: JobEngine

    func run() async throws {
        let engine = engine
        await withDiscardingTaskGroup { group in
            group.addTask {
                await engine.scheduler.run { jobID in
                    await engine.withinJobScope(jobID, operation: "turn") { await engine.turn(jobID) }
                }
            }
            group.addTask {
                await engine.leases.run(
                    lost: { jobIDs in
                        for jobID in jobIDs { engine.scheduler.cancel(jobID) }
                    },
                    claimed: { jobIDs in
                        // Jobs nobody alive worked on (a replica stopped, or they were created elsewhere), now
                        // this replica's: their first turns spread over a second.
                        for jobID in jobIDs where !engine.scheduler.isScheduled(jobID) {
                            engine.scheduler.schedule(jobID, after: .seconds(1) * engine.random.fraction())
                        }
                    }
                )
            }
        }
        // Stopped: other replicas take this one's jobs over at once instead of after the lease expires.
        await engine.leases.releaseAll()
    }
}

/// Runs the observers of streaming providers' jobs as a service.
struct ObserverService: Service {
    let engine: JobEngine

    func run() async throws {
        await engine.observers.run { jobID in
            await engine.withinJobScope(jobID, operation: "observe") { await engine.observe(jobID) }
        }
    }
}

/// Follows the changes other replicas commit to a shared store (job versions, delivery records, released
/// leases) until shutdown, then closes the store: it is the first service started and the last stopped.
struct StoreService: Service {
    let engine: JobEngine
    let listener: (any StoreChangeListener)?
    let close: @Sendable () async -> Void

    func run() async throws {
        if let listener {
            let engine = engine
            // Changes are handed on in order; a burst the follower has not caught up with waits in the buffer.
            let (changes, continuation) = AsyncStream.makeStream(of: StoreChange.self, bufferingPolicy: .bufferingNewest(100_000))
            await cancelWhenGracefulShutdown {
                await withDiscardingTaskGroup { group in
                    group.addTask {
                        do {
                            try await listener.listenForChanges { continuation.yield($0) }
                        } catch {
                            engine.logger.error("store change listener stopped", metadata: ["error": "\(error)"])
                        }
                        continuation.finish()
                    }
                    group.addTask {
                        for await change in changes { await engine.follow(change) }
                    }
                }
            }
        } else {
            try? await gracefulShutdown()
        }
        await close()
    }
}
