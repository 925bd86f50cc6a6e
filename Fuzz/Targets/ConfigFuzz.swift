import BatchGateConfig
import BatchGateCore
import BatchGateProviders
import Foundation
import Synchronization

/// The configuration loader on one file: read from disk as `batchgate serve` and `batchgate validate`
/// read it (so invalid UTF-8 reaches the loader as is), with a fixed environment, then every provider
/// built from it as the gateway builds them at start.
enum ConfigFuzz {
    static let entry = FuzzEntry(
        name: "config",
        summary: "providers.yaml loading (YAML, ${VAR} expansion, every section) and provider construction",
        steps: ["load", "diagnose"],
        run: run
    )

    /// What `${VAR}` reads.
    static let environment = [
        "BATCHGATE_API_KEY": "fuzz-api-key", "OLOSTEP_API_KEY": "fuzz-olostep", "TAGGER_TOKEN": "fuzz-tagger",
        "AITRONOS_API_KEY": "fuzz-aitronos", "BATCHGATE_PUBLIC_URL": "http://127.0.0.1:8080", "EMPTY": "",
    ]

    private static let counter = Atomic<Int>(0)

    static func run(_ body: [UInt8]) async -> Set<String> {
        let path =
            NSTemporaryDirectory() + "batchgate-fuzz-\(ProcessInfo.processInfo.processIdentifier)-\(counter.add(1, ordering: .relaxed).newValue).yaml"
        guard FileManager.default.createFile(atPath: path, contents: Data(body)) else {
            fatalError("The fuzz harness cannot write \(path).")
        }
        defer { try? FileManager.default.removeItem(atPath: path) }
        let registry = ProviderRegistry.standard
        do {
            let configuration = try ConfigLoader.load(path: path, environment: environment, providerKinds: registry.kindSpecs)
            let context = ProviderContext(transport: ScriptedHTTPTransport { _ in HTTPResponse(status: 503) }, logger: FuzzVendor.logger)
            for settings in configuration.providers {
                FuzzInvariant.require(registry.makeProvider(settings, context: context) != nil, "a loaded provider kind has an adapter")
            }
            return ["load"]
        } catch {
            for diagnostic in error.diagnostics {
                FuzzInvariant.require(diagnostic.line >= 1 && diagnostic.column >= 1, "diagnostics name a line and column (\(diagnostic))")
                FuzzInvariant.require(!diagnostic.message.isEmpty, "diagnostics say what is wrong")
            }
            FuzzInvariant.require(!error.diagnostics.isEmpty, "a refused file has a diagnostic")
            return ["diagnose"]
        }
    }
}
