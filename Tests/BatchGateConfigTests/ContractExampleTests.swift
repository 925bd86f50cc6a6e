import BatchGateCore
import Foundation
import Testing

@testable import BatchGateConfig

@Suite("The CONTRACT §5 example")
struct ContractExampleTests {
    @Test("loads into exactly the documented values")
    func loadsExample() throws {
        let configuration = try load(contractExample, environment: contractEnvironment)
        #expect(configuration.server == ServerSettings(host: "127.0.0.1", port: 8080, publicURL: "http://127.0.0.1:8080", maxBodyBytes: 1_048_576))
        #expect(configuration.store == .sqlite(path: "./batchgate.sqlite"))
        #expect(configuration.apiKeys == [APIKeySettings(tenant: "acme", key: "bg-test-key-1")])
        #expect(
            configuration.webhooks
                == WebhookSettings(
                    maxAttempts: 8,
                    initialBackoff: .seconds(1),
                    maxBackoff: .seconds(600),
                    timeout: .seconds(30),
                    allowInsecureLoopback: false
                )
        )
        #expect(
            configuration.providers == [
                ProviderSettings(
                    name: "airops",
                    kind: "olostep-airops",
                    baseURL: "https://api.olostep.com",
                    pollInterval: .seconds(15),
                    timeout: .seconds(30),
                    options: ["token": .string("olostep-secret-2")]
                ),
                ProviderSettings(
                    name: "aitronos",
                    kind: "aitronos-scrape",
                    baseURL: "https://api.aitronos.com",
                    pollInterval: .seconds(10),
                    timeout: .seconds(30),
                    options: ["api_key": .string("aitronos-secret-3")]
                ),
                ProviderSettings(
                    name: "tagger",
                    kind: "doc-tagging-ws",
                    baseURL: "http://localhost:8000",
                    pollInterval: .seconds(15),
                    timeout: .seconds(30),
                    options: ["token": .string("tagger-secret-4")]
                ),
            ]
        )
        #expect(
            configuration.routes == [
                RouteSettings(
                    name: "scrape",
                    kind: .urlBatch,
                    targets: [RouteTarget(provider: "airops", weight: 90), RouteTarget(provider: "aitronos", weight: 10)],
                    fallback: ["aitronos"]
                ),
                RouteSettings(name: "tag-documents", kind: .documentTagging, targets: [RouteTarget(provider: "tagger", weight: 1)]),
            ]
        )
    }

    @Test("without its environment, names each missing variable at its value")
    func missingEnvironment() {
        #expect(
            diagnostics(contractExample) == [
                "providers.yaml:5:27: auth.api_keys[0].key: environment variable BATCHGATE_API_KEY is not set (write ${BATCHGATE_API_KEY:-default} to give a default)",
                "providers.yaml:8:80: providers.airops.token: environment variable OLOSTEP_API_KEY is not set (write ${OLOSTEP_API_KEY:-default} to give a default)",
                "providers.yaml:9:84: providers.aitronos.api_key: environment variable AITRONOS_API_KEY is not set (write ${AITRONOS_API_KEY:-default} to give a default)",
                "providers.yaml:10:78: providers.tagger.token: environment variable TAGGER_TOKEN is not set (write ${TAGGER_TOKEN:-default} to give a default)",
            ]
        )
    }

    @Test("loads from a file, and an unreadable file is one diagnostic at 1:1")
    func loadsFromFile() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("batchgate-config-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("providers.yaml").path
        try Data(contractExample.utf8).write(to: URL(fileURLWithPath: path))

        let configuration = try ConfigLoader.load(path: path, environment: contractEnvironment, providerKinds: testKinds)
        #expect(configuration.providers.map(\.name) == ["airops", "aitronos", "tagger"])

        let missing = directory.appendingPathComponent("absent.yaml").path
        #expect(
            throws: ConfigErrors(diagnostics: [
                ConfigDiagnostic(file: missing, line: 1, column: 1, keyPath: "", message: "cannot read the file: No such file or directory")
            ])
        ) {
            try ConfigLoader.load(path: missing, environment: [:], providerKinds: testKinds)
        }
        #expect(
            throws: ConfigErrors(diagnostics: [
                ConfigDiagnostic(file: directory.path, line: 1, column: 1, keyPath: "", message: "cannot read the file: Is a directory")
            ])
        ) {
            try ConfigLoader.load(path: directory.path, environment: [:], providerKinds: testKinds)
        }
    }

    @Test("errors print one diagnostic per line")
    func errorsDescription() {
        let errors = ConfigErrors(diagnostics: [
            ConfigDiagnostic(file: "a.yaml", line: 2, column: 3, keyPath: "server.listen", message: "bad"),
            ConfigDiagnostic(file: "a.yaml", line: 1, column: 1, keyPath: "", message: "worse"),
        ])
        #expect(errors.description == "a.yaml:2:3: server.listen: bad\na.yaml:1:1: worse")
    }
}
