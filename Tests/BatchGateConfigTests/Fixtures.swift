import BatchGateCore

@testable import BatchGateConfig

/// Provider kinds shaped like the real ones, so the loader is tested without the providers module.
let testKinds: [String: ProviderKindSpec] = [
    "olostep-airops": ProviderKindSpec(
        kind: "olostep-airops",
        jobKinds: [.urlBatch],
        options: [ProviderOptionSpec("token", .string, required: true)]
    ),
    "aitronos-scrape": ProviderKindSpec(
        kind: "aitronos-scrape",
        jobKinds: [.urlBatch],
        options: [
            ProviderOptionSpec("api_key", .string, required: true),
            ProviderOptionSpec("auth", .string, allowedValues: ["bearer", "x-api-key"]),
            ProviderOptionSpec("max_urls_per_batch", .int),
        ]
    ),
    "doc-tagging-ws": ProviderKindSpec(
        kind: "doc-tagging-ws",
        jobKinds: [.documentTagging],
        options: [
            ProviderOptionSpec("token", .string, required: true),
            ProviderOptionSpec("token_in", .string, allowedValues: ["query", "header"]),
            ProviderOptionSpec("verify_tls", .bool),
            ProviderOptionSpec("heartbeat", .duration),
        ]
    ),
]

/// CONTRACT §5, verbatim.
let contractExample = """
    server:   {listen: "127.0.0.1:8080", public_url: "http://127.0.0.1:8080", max_body_bytes: 1048576}
    store:    {sqlite: "./batchgate.sqlite"}          # or {postgres: "${DATABASE_URL}"}
    auth:
      api_keys:
        - {tenant: acme, key: "${BATCHGATE_API_KEY}"}
    webhooks: {max_attempts: 8, initial_backoff: 1s, max_backoff: 10m, timeout: 30s, allow_insecure_loopback: false}
    providers:
      airops:   {kind: olostep-airops, base_url: "https://api.olostep.com", token: "${OLOSTEP_API_KEY}", poll_interval: 15s}
      aitronos: {kind: aitronos-scrape, base_url: "https://api.aitronos.com", api_key: "${AITRONOS_API_KEY}", poll_interval: 10s}
      tagger:   {kind: doc-tagging-ws, base_url: "http://localhost:8000", token: "${TAGGER_TOKEN}"}
    routes:
      scrape:        {kind: url_batch, targets: [{provider: airops, weight: 90}, {provider: aitronos, weight: 10}], fallback: [aitronos]}
      tag-documents: {kind: document_tagging, targets: [{provider: tagger}]}

    """

let contractEnvironment = [
    "BATCHGATE_API_KEY": "bg-test-key-1",
    "OLOSTEP_API_KEY": "olostep-secret-2",
    "AITRONOS_API_KEY": "aitronos-secret-3",
    "TAGGER_TOKEN": "tagger-secret-4",
]

/// The sections a case leaves out, filled in so that only the case's own text is under test.
let defaultSections: [(key: String, text: String)] = [
    (
        "auth",
        """
        auth:
          api_keys:
            - {tenant: acme, key: k-1}

        """
    ),
    (
        "providers",
        """
        providers:
          airops: {kind: olostep-airops, base_url: "https://api.olostep.com", token: t-1}
          aitronos: {kind: aitronos-scrape, base_url: "https://api.aitronos.com", api_key: a-1}
          tagger: {kind: doc-tagging-ws, base_url: "http://localhost:8000", token: t-2}

        """
    ),
    (
        "routes",
        """
        routes:
          scrape: {kind: url_batch, targets: [{provider: airops}]}

        """
    ),
]

/// `text` followed by every default section whose top-level key `text` does not have, so line numbers of
/// `text` start at 1.
func withDefaults(_ text: String) -> String {
    var yaml = text
    if !yaml.isEmpty && !yaml.hasSuffix("\n") { yaml += "\n" }
    for section in defaultSections where !text.split(separator: "\n").contains(where: { $0.hasPrefix("\(section.key):") }) {
        yaml += section.text
    }
    return yaml
}

/// The diagnostics of loading `yaml` as `providers.yaml`, as printed; empty when it loads.
func diagnostics(_ yaml: String, environment: [String: String] = [:]) -> [String] {
    do {
        _ = try ConfigLoader.load(yaml: yaml, file: "providers.yaml", environment: environment, providerKinds: testKinds)
        return []
    } catch {
        return error.diagnostics.map(\.description)
    }
}

/// Loads `yaml`, failing the test with the diagnostics when it does not load.
func load(_ yaml: String, environment: [String: String] = [:]) throws -> GatewayConfiguration {
    try ConfigLoader.load(yaml: yaml, file: "providers.yaml", environment: environment, providerKinds: testKinds)
}
