import ArgumentParser
import BatchGateConfig
import BatchGateCore
import BatchGateSimulators
import BatchGateTransport
import Foundation
import ServiceLifecycle
import UnixSignals

struct Simulate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the vendor simulators alone on loopback (for tests, benchmarks and trying the gateway)."
    )

    @Option(help: "Comma-separated vendors to run: airops, aitronos, tagger.")
    var vendors = "airops"

    @Option(help: "Port of the first simulator (0 picks free ports); further vendors take the next ports.")
    var port = 9101

    @Option(help: "The bearer token the simulators require.")
    var token = "sim-token"

    @Option(help: "AirOps faults, e.g. latency=50ms,status503=3,ratelimit=2:1s,duplicate,out-of-order,drop=scraping_completed,pause.")
    var faults = ""

    @Option(help: "Aitronos faults, e.g. latency=50ms,status503=3,ratelimit=2:1s,slow-create=1:10s.")
    var aitronosFaults = ""

    @Option(help: "Document-tagging faults, e.g. drop=2,drop_after=5,stall=1,reject_token,instant,status503=2,ratelimit=1:1s,latency=20ms.")
    var taggerFaults = ""

    @Option(help: "Time the document tagger spends on each document, e.g. 50ms or 2s.")
    var taggerDocumentInterval: DurationArgument = DurationArgument(.milliseconds(50))

    @Option(help: "The document tagger's keepalive period on an otherwise quiet socket, e.g. 30s.")
    var taggerKeepalive: DurationArgument = DurationArgument(.seconds(30))

    @Option(help: "How often the document tagger pings each socket, cutting off clients that do not answer by the next ping, e.g. 2s.")
    var taggerPing: DurationArgument = DurationArgument(.seconds(30))

    @Option(help: "Keep AirOps and Aitronos batches unfinished this long, for load tests (AirOps: scraping; Aitronos: each URL), e.g. 30m.")
    var hold: DurationArgument?

    @Option(help: "AirOps batches created before this time (Unix milliseconds) all finish at it, for load tests.")
    var finishAt: Int64?

    /// Fault text per vendor name, from the options above.
    var faultsByVendor: [String: String] { ["airops": faults, "aitronos": aitronosFaults, "tagger": taggerFaults] }

    func validate() throws {
        for name in vendorList {
            guard let vendor = SimulatorRegistry.vendor(named: name) else {
                throw ValidationError(
                    "Unknown vendor '\(name)'; available: \(SimulatorRegistry.vendors.map(\.name).joined(separator: ", "))."
                )
            }
            do {
                try vendor.checkFaults(faultsByVendor[name] ?? "")
            } catch {
                throw ValidationError("\(name == "airops" ? "--faults" : "--\(name)-faults"): \(error)")
            }
        }
    }

    var vendorList: [String] { vendors.split(separator: ",").map { String($0).trimmingCharacters(in: .whitespaces) } }

    func run() async throws {
        let logger = makeLogger("batchgate.simulate")
        try await CurlHTTPClient.withClient(logger: logger) { transport in
            var services: [any Service] = []
            for (offset, name) in vendorList.enumerated() {
                guard let vendor = SimulatorRegistry.vendor(named: name) else { continue }
                let launch = SimulatorLaunch(
                    port: port == 0 ? 0 : port + offset,
                    token: token,
                    faults: faultsByVendor[name] ?? "",
                    itemDuration: vendor.jobKind == .documentTagging ? taggerDocumentInterval.duration : nil,
                    keepalive: taggerKeepalive.duration,
                    pingInterval: taggerPing.duration,
                    hold: hold?.duration,
                    finishAt: finishAt.map(Timestamp.init(milliseconds:)),
                    webhookTransport: transport,
                    logger: logger
                )
                services.append(SimulatorService(name: name) { onListening in try await vendor.run(launch, onListening) })
            }
            let group = ServiceGroup(services: services, gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
            try await group.run()
        }
    }
}

/// A simulator's `run(onListening:)` as a service that announces where it listens.
struct SimulatorService: Service {
    let name: String
    let body: @Sendable (_ onListening: @escaping @Sendable (Int) async -> Void) async throws -> Void

    init(name: String, _ body: @escaping @Sendable (_ onListening: @escaping @Sendable (Int) async -> Void) async throws -> Void) {
        self.name = name
        self.body = body
    }

    /// The simulator's server stops on the group's graceful shutdown by itself.
    func run() async throws {
        try await body { port in say("\(name) simulator listening on http://127.0.0.1:\(port)") }
    }
}

/// A duration option written as in `providers.yaml`: `200ms`, `15s`, `10m`, `1h`.
struct DurationArgument: ExpressibleByArgument, Sendable {
    let duration: Duration

    init(_ duration: Duration) { self.duration = duration }

    init?(argument: String) {
        guard let duration = Duration(configText: argument) else { return nil }
        self.duration = duration
    }

    var defaultValueDescription: String { "\(duration)" }
}
