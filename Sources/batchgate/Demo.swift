import ArgumentParser
import BatchGateCore
import BatchGateServer
import BatchGateSimulators
import BatchGateTransport
import Foundation
import Logging
import ServiceLifecycle

struct Demo: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Start the built-in vendor simulators and a gateway on a temporary SQLite file, submit a batch, and show its unified status live.")

    @Option(help: "How many URLs the demo batch has.")
    var urls = 12

    @Option(help: "Seconds the simulated vendor spends on each of its phases.")
    var phaseSeconds = 2.0

    func run() async throws {
        let logger = makeLogger("batchgate.demo", defaultLevel: .warning)
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("batchgate-demo-\(Identifier.secret(byteCount: 6))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }

        let vendorToken = Identifier.secret()
        let apiKey = "demo_" + Identifier.secret()
        let phase = Duration.milliseconds(Int64(phaseSeconds * 1000))
        let scenario = AirOpsSimulator.Scenario(
            queueDelay: phase / 2, scrapingDuration: phase, analyzingDuration: phase / 2, enrichingSubmitDelay: phase / 4,
            enrichingDuration: phase)

        try await CurlHTTPClient.withClient(logger: logger) { transport in
            try await withAirOpsSimulator(.init(token: vendorToken, scenario: scenario), transport: transport, logger: logger) { vendorURL, _ in
                let port = try LoopbackPort.reserve()
                let publicURL = "http://127.0.0.1:\(port)"
                let configuration = GatewayConfiguration(
                    server: .init(host: "127.0.0.1", port: port, publicURL: publicURL),
                    store: .sqlite(path: directory.appendingPathComponent("batchgate.sqlite").path),
                    apiKeys: [.init(tenant: "demo", key: apiKey)],
                    providers: [
                        .init(name: "airops", kind: "olostep-airops", baseURL: vendorURL, pollInterval: .seconds(1), options: ["token": .string(vendorToken)])
                    ],
                    routes: [.init(name: "scrape", kind: .urlBatch, targets: [.init(provider: "airops")])])
                let gateway = try await Gateway.make(configuration: configuration, transport: transport, logger: logger)
                say("BatchGate demo: AirOps simulator at \(vendorURL), gateway at \(publicURL) (SQLite in \(directory.path))")
                let services = ServiceGroup(services: gateway.services, logger: logger)
                try await withThrowingTaskGroup(of: Void.self) { group in
                    group.addTask { try await services.run() }
                    do {
                        try await watchOneBatch(transport: transport, publicURL: publicURL, apiKey: apiKey)
                    } catch {
                        await services.triggerGracefulShutdown()
                        throw error
                    }
                    await services.triggerGracefulShutdown()
                    try await group.waitForAll()
                }
            }
        }
    }

    private func watchOneBatch(transport: CurlHTTPClient, publicURL: String, apiKey: String) async throws {
        let client = APIClient(transport: transport, baseURL: publicURL, apiKey: apiKey)
        try await client.waitUntilReady()
        let list = (0..<urls).map { index in
            index % 6 == 5 ? "https://example.com/fail/page-\(index)" : "https://example.com/articles/\(index)"
        }
        let body: JSONValue = .object([
            "route": .string("scrape"),
            "input": .object(["urls": .array(list.map(JSONValue.string)), "brands": .array([.string("BatchGate")])]),
        ])
        let created = try await client.send("POST", "/v1/batches", body: body)
        guard let id = created["id"]?.stringValue else { throw ValidationError("The gateway did not return a batch id.") }
        say("created \(id) on route scrape → provider \(created["provider"]?.stringValue ?? "?")")
        say("polling_url \(created["polling_url"]?.stringValue ?? "")")
        let start = ContinuousClock.now
        var lastLine = ""
        while true {
            let batch = try await client.send("GET", "/v1/batches/\(id)")
            let line = Self.describe(batch)
            if line != lastLine {
                let elapsed = (ContinuousClock.now - start).seconds
                say(String(format: "[%5.1fs] ", elapsed) + line)
                lastLine = line
            }
            if let status = batch["lifecycle_status"]?.stringValue, LifecycleStatus(rawValue: status)?.isTerminal == true {
                let results = try await client.send("GET", "/v1/batches/\(id)/results?limit=1000")
                if case .array(let items)? = results["data"] {
                    let failed = items.filter { $0["status"]?.stringValue == "failed" }.count
                    say("results: \(items.count) items, \(items.count - failed) succeeded, \(failed) failed")
                }
                return
            }
            try await Task.sleep(for: .milliseconds(200))
        }
    }

    static func describe(_ batch: JSONValue) -> String {
        let status = batch["lifecycle_status"]?.stringValue ?? "?"
        let vendor = batch["provider_status"]?.stringValue ?? "-"
        func count(_ key: String) -> Int {
            if case .number(let value)? = batch["progress"]?[key] { return Int(value) }
            return 0
        }
        var phases: [String] = []
        if case .array(let items)? = batch["phases"] {
            phases = items.map { "\($0["name"]?.stringValue ?? "?")=\($0["state"]?.stringValue ?? "?")" }
        }
        let padded = status.padding(toLength: 9, withPad: " ", startingAt: 0)
        return "\(padded) \(String(format: "%3d", count("percent")))%  succeeded \(count("succeeded"))/\(count("total")), failed \(count("failed"))  provider_status=\(vendor)  \(phases.joined(separator: " "))"
    }
}
