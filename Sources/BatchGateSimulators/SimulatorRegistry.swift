public import BatchGateCore
public import Logging

/// How to start one simulator.
public struct SimulatorLaunch: Sendable {
    /// 0 picks a free port.
    public var port: Int
    /// The credential the simulator requires.
    public var token: String
    /// The vendor's fault text (`latency=50ms,status503=3`, ...); empty for none.
    public var faults: String
    /// About how long the vendor spends on each item; nil for the simulator's own pace.
    public var itemDuration: Duration?
    /// How many items a batch has, for vendors whose pace is set per phase rather than per item.
    public var batchItems: Int
    /// The keepalive period of vendors that keep sockets open; nil for the simulator's default.
    public var keepalive: Duration?
    /// How often vendors that keep sockets open ping them (cutting off clients that do not answer); nil
    /// for the simulator's default.
    public var pingInterval: Duration?
    /// Every Nth item fails for good, with vendors whose items fail by count (others fail URLs that say `fail`).
    public var failEvery: Int?
    /// Keeps batches unfinished at least this long, for load tests (AirOps: scraping takes this long;
    /// Aitronos: each URL does); nil for the pace `itemDuration` sets. The tagger ignores it.
    public var hold: Duration?
    /// AirOps batches created before this time all finish at it (see `AirOpsSimulator.Scenario.finishAt`).
    public var finishAt: Timestamp?
    /// Where a vendor that sends webhooks sends them from.
    public var webhookTransport: any HTTPTransport
    public var logger: Logger

    public init(
        port: Int = 0,
        token: String,
        faults: String = "",
        itemDuration: Duration? = nil,
        batchItems: Int = 12,
        keepalive: Duration? = nil,
        pingInterval: Duration? = nil,
        failEvery: Int? = nil,
        hold: Duration? = nil,
        finishAt: Timestamp? = nil,
        webhookTransport: any HTTPTransport,
        logger: Logger
    ) {
        self.port = port
        self.token = token
        self.faults = faults
        self.itemDuration = itemDuration
        self.batchItems = batchItems
        self.keepalive = keepalive
        self.pingInterval = pingInterval
        self.failEvery = failEvery
        self.hold = hold
        self.finishAt = finishAt
        self.webhookTransport = webhookTransport
        self.logger = logger
    }
}

/// One simulated vendor: what `batchgate simulate` and `batchgate demo` need to run it and to point a
/// provider at it.
public struct SimulatedVendor: Sendable {
    /// Its name on the command line, and the demo's provider name.
    public var name: String
    /// The `providers.yaml` kind of the adapter that speaks its protocol.
    public var providerKind: String
    /// The job kind that adapter serves.
    public var jobKind: JobKind
    /// The provider option that carries the credential.
    public var credentialOption: String
    /// Checks fault text, naming what is wrong.
    public var checkFaults: @Sendable (String) throws -> Void
    /// Provider options besides the credential that a gateway needs to use this simulator.
    public var providerOptions: @Sendable (SimulatorLaunch) -> [String: ConfigValue]
    /// Serves until graceful shutdown (or cancellation), calling `onListening` with the bound port once.
    public var run: @Sendable (SimulatorLaunch, _ onListening: @escaping @Sendable (Int) async -> Void) async throws -> Void
}

/// Every simulated vendor BatchGate ships. Adding a vendor adds one entry here.
public enum SimulatorRegistry {
    public static let vendors: [SimulatedVendor] = [airops, aitronos, tagger]

    public static func vendor(named name: String) -> SimulatedVendor? {
        vendors.first { $0.name == name }
    }

    static let airops = SimulatedVendor(
        name: "airops",
        providerKind: "olostep-airops",
        jobKind: .urlBatch,
        credentialOption: "token",
        checkFaults: { _ = try AirOpsFaults.parse($0) },
        providerOptions: { _ in [:] },
        run: { launch, onListening in
            var scenario = AirOpsSimulator.Scenario()
            if let perItem = launch.itemDuration {
                // The three phases take about 4.25 phase lengths in all: paced so a batch takes `batchItems` items' time.
                let phase = perItem * Double(max(1, launch.batchItems)) / 4.25
                scenario = AirOpsSimulator.Scenario(
                    queueDelay: phase / 2,
                    scrapingDuration: phase,
                    analyzingDuration: phase / 2,
                    enrichingSubmitDelay: phase / 4,
                    enrichingDuration: phase
                )
            }
            if let hold = launch.hold {
                scenario.queueDelay = .zero
                scenario.scrapingDuration = hold
            }
            scenario.finishAt = launch.finishAt
            let simulator = AirOpsSimulator(
                configuration: .init(port: launch.port, token: launch.token, scenario: scenario, faults: try AirOpsFaults.parse(launch.faults)),
                webhookTransport: launch.webhookTransport,
                logger: launch.logger
            )
            try await simulator.run(onListening: onListening)
        }
    )

    static let aitronos = SimulatedVendor(
        name: "aitronos",
        providerKind: "aitronos-scrape",
        jobKind: .urlBatch,
        credentialOption: "api_key",
        checkFaults: { _ = try AitronosFaults.parse($0) },
        providerOptions: { _ in [:] },
        run: { launch, onListening in
            var configuration = AitronosSimulator.Configuration(
                port: launch.port,
                apiKey: launch.token,
                faults: try AitronosFaults.parse(launch.faults)
            )
            if let perItem = launch.itemDuration {
                // Two URLs at a time, each taking two items' time: about one item's time per URL overall.
                configuration.perURLDuration = perItem * 2
                configuration.parallelJobs = 2
            }
            if let hold = launch.hold { configuration.perURLDuration = hold }
            let simulator = AitronosSimulator(configuration: configuration, logger: launch.logger)
            try await simulator.run(onListening: onListening)
        }
    )

    static let tagger = SimulatedVendor(
        name: "tagger",
        providerKind: "doc-tagging-ws",
        jobKind: .documentTagging,
        credentialOption: "token",
        checkFaults: { _ = try TaggerFaults(parsing: $0) },
        providerOptions: { launch in launch.keepalive.map { ["keepalive_interval": .duration($0)] } ?? [:] },
        run: { launch, onListening in
            let scenario = TaggerSimulator.Scenario(
                documentInterval: launch.itemDuration ?? TaggerSimulator.Scenario().documentInterval,
                failEvery: launch.failEvery
            )
            let simulator = TaggerSimulator(
                configuration: .init(
                    port: launch.port,
                    token: launch.token,
                    scenario: scenario,
                    faults: try TaggerFaults(parsing: launch.faults),
                    keepaliveInterval: launch.keepalive ?? .seconds(30),
                    pingInterval: launch.pingInterval ?? .seconds(30)
                ),
                logger: launch.logger
            )
            try await simulator.run(onListening: onListening)
        }
    )
}

/// Runs each vendor with its launch on loopback for the duration of `body`, which gets their base URLs by
/// name; then stops them gracefully.
public func withSimulators<R>(
    _ vendors: [(SimulatedVendor, SimulatorLaunch)],
    _ body: (_ baseURLs: [String: String]) async throws -> R
) async throws -> R {
    var baseURLs: [String: String] = [:]
    func start(_ index: Int) async throws -> R {
        guard index < vendors.count else { return try await body(baseURLs) }
        let (vendor, launch) = vendors[index]
        let run: @Sendable (_ onListening: @escaping @Sendable (Int) async -> Void) async throws -> Void = { onListening in
            try await vendor.run(launch, onListening)
        }
        return try await withLoopbackServer(host: "127.0.0.1", run: run) { url in
            baseURLs[vendor.name] = url
            return try await start(index + 1)
        }
    }
    return try await start(0)
}
