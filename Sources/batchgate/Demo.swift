import ArgumentParser
import BatchGateCore
import BatchGateServer
import BatchGateSimulators
import BatchGateTransport
import BatchGateWebhooks
import Foundation
import Logging
import ServiceLifecycle
import UnixSignals

struct Demo: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract:
            "Start the built-in vendor simulators and a gateway on a temporary SQLite file, run one batch on each of the three vendors, and show their unified status live, side by side."
    )

    @Option(help: "How many items each demo batch has.")
    var items = 12

    @Option(help: "Seconds the simulated vendors spend on each AirOps phase (the others are paced to match).")
    var phaseSeconds = 2.0

    @Flag(help: "Print one line per event even on a terminal.")
    var plain = false

    @Flag(help: "Keep the gateway and simulators serving after the demo batches finish, until Ctrl-C, to look around the operator page.")
    var keepServing = false

    func run() async throws {
        let logger = makeLogger("batchgate.demo", defaultLevel: .warning)
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("batchgate-demo-\(Identifier.secret(byteCount: 6))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }

        let vendorToken = Identifier.secret()
        let apiKey = "demo_" + Identifier.secret()
        // Each vendor takes about as long as AirOps's three phases in all: about 4.25 phase lengths.
        let perItem = Duration.milliseconds(Int64(phaseSeconds * 1000)) * 4.25 / Double(max(1, items))

        try await CurlHTTPClient.withClient(logger: logger) { transport in
            let launches = SimulatorRegistry.vendors.map { vendor in
                (
                    vendor,
                    SimulatorLaunch(
                        token: vendorToken,
                        itemDuration: perItem,
                        batchItems: items,
                        keepalive: .seconds(5),
                        failEvery: 6,
                        webhookTransport: transport,
                        logger: logger
                    )
                )
            }
            // The client's side too: a loopback receiver for each batch's signed webhooks.
            try await withWebhookRecorder { hooksURL, _ in
                try await withSimulators(launches) { urls in
                    let port = try LoopbackPort.reserve()
                    let publicURL = "http://127.0.0.1:\(port)"
                    // One provider and one route per simulated vendor, both named after it.
                    let configuration = GatewayConfiguration(
                        server: .init(host: "127.0.0.1", port: port, publicURL: publicURL),
                        store: .sqlite(path: directory.appendingPathComponent("batchgate.sqlite").path),
                        apiKeys: [.init(tenant: "demo", key: apiKey)],
                        webhooks: WebhookSettings(allowInsecureLoopback: true),
                        providers: launches.map { vendor, launch in
                            .init(
                                name: vendor.name,
                                kind: vendor.providerKind,
                                baseURL: urls[vendor.name] ?? "",
                                pollInterval: .seconds(1),
                                options: vendor.providerOptions(launch).merging([vendor.credentialOption: .string(vendorToken)]) { _, credential in
                                    credential
                                }
                            )
                        },
                        routes: launches.map { vendor, _ in .init(name: vendor.name, kind: vendor.jobKind, targets: [.init(provider: vendor.name)]) }
                    )
                    let gateway = try await Gateway.make(configuration: configuration, transport: transport, logger: logger)
                    say("BatchGate demo: gateway at \(publicURL), SQLite in \(directory.path)")
                    say("simulators: " + launches.map { vendor, _ in "\(vendor.name) \(urls[vendor.name] ?? "?")" }.joined(separator: ", "))
                    say("operator page: \(publicURL)/ui (sign in with the API key \(apiKey))")
                    let services = ServiceGroup(
                        configuration: .init(
                            services: gateway.services.map { .init(service: $0) },
                            gracefulShutdownSignals: keepServing ? [.sigint, .sigterm] : [],
                            logger: logger
                        )
                    )
                    try await withThrowingTaskGroup(of: Void.self) { group in
                        group.addTask { try await services.run() }
                        do {
                            try await runBatches(
                                launches.map(\.0),
                                transport: transport,
                                publicURL: publicURL,
                                hooksURL: hooksURL + "/demo",
                                apiKey: apiKey
                            )
                        } catch {
                            await services.triggerGracefulShutdown()
                            throw error
                        }
                        if keepServing {
                            say("serving until Ctrl-C: \(publicURL)/ui (API key \(apiKey))")
                        } else {
                            await services.triggerGracefulShutdown()
                        }
                        try await group.waitForAll()
                    }
                }
            }
        }
    }

    /// One batch per vendor, followed side by side through their event streams; then their results.
    private func runBatches(
        _ vendors: [SimulatedVendor],
        transport: CurlHTTPClient,
        publicURL: String,
        hooksURL: String,
        apiKey: String
    ) async throws {
        let client = APIClient(transport: transport, baseURL: publicURL, apiKey: apiKey)
        try await client.waitUntilReady()
        let urls: [JSONValue] = (0..<items).map { index in
            .string(index % 6 == 5 ? "https://example.com/fail/page-\(index)" : "https://example.com/articles/\(index)")
        }
        let documents: [JSONValue] = (0..<items).map { index in
            [
                "title": .string("Handbook chapter \(index + 1)"), "file_path": .string("s3://demo/handbook-\(index + 1).pdf"),
                "file_source_type": "s3",
            ]
        }
        // One input per job kind, which every vendor of that kind takes (each ignores what it has no use for).
        let inputs: [JobKind: JSONValue] = [
            .urlBatch: ["urls": .array(urls), "brands": ["BatchGate"], "schema": ["type": "object", "properties": ["title": ["type": "string"]]]],
            .documentTagging: ["documents": .array(documents), "config": ["num_tags": 5]],
        ]
        let requests: [JSONValue] = vendors.compactMap { vendor in
            inputs[vendor.jobKind].map {
                [
                    "route": .string(vendor.name), "input": $0,
                    "webhook": [
                        "url": .string(hooksURL), "secret": .string(WebhookSecret.generate().encoded),
                        "events": ["batch.created", "batch.progress", "batch.completed", "batch.failed"],
                    ],
                ]
            }
        }
        var ids: [String] = []
        for request in requests {
            let created = try await client.send("POST", "/v1/batches", body: request)
            guard let id = created["id"]?.stringValue else { throw ValidationError("The gateway did not return a batch id.") }
            say(
                "created \(id) on route \(request["route"]?.stringValue ?? "?") → \(created["provider_kind"]?.stringValue ?? "?")  events_url \(created["events_url"]?.stringValue ?? "")"
            )
            ids.append(id)
        }
        _ = await Watch.show(ids, api: client, transport: transport, terminal: !plain && isatty(1) != 0)
        for id in ids {
            let batch = try await client.send("GET", "/v1/batches/\(id)")
            let results = try await client.send("GET", "/v1/batches/\(id)/results?limit=1000")
            let rows = results["data"]?.arrayValue ?? []
            let failed = rows.filter { $0["status"]?.stringValue == "failed" }.count
            say(
                "\(id) \(batch["provider_kind"]?.stringValue ?? "?"): \(batch["lifecycle_status"]?.stringValue ?? "?"), "
                    + "\(rows.count) results, \(rows.count - failed) succeeded, \(failed) failed"
            )
        }
    }
}
