import BatchGateCore
import Testing

@testable import BatchGateConfig

/// `ConfigBounds`: absurd numbers and durations are refused at load, naming the range.
@Suite("Value bounds")
struct BoundsTests {
    static let airopsPrefix = "providers:\n  airops: {kind: olostep-airops, base_url: \"https://a.example\", token: t, "

    @Test(
        "values outside their range are refused with the range",
        arguments: [
            ("webhooks: {timeout: 500ms}", "providers.yaml:1:21: webhooks.timeout: must be between 1s and 2m, got \"500ms\""),
            ("webhooks: {timeout: 121s}", "providers.yaml:1:21: webhooks.timeout: must be between 1s and 2m, got \"121s\""),
            ("webhooks: {timeout: 9000000h}", "providers.yaml:1:21: webhooks.timeout: must be between 1s and 2m, got \"9000000h\""),
            ("webhooks: {initial_backoff: 5ms}", "providers.yaml:1:29: webhooks.initial_backoff: must be between 10ms and 1h, got \"5ms\""),
            (
                "webhooks: {initial_backoff: 2h, max_backoff: 3h}",
                "providers.yaml:1:29: webhooks.initial_backoff: must be between 10ms and 1h, got \"2h\""
            ),
            ("webhooks: {max_backoff: 25h}", "providers.yaml:1:25: webhooks.max_backoff: must be between 10ms and 24h, got \"25h\""),
            ("webhooks: {max_attempts: 1000000}", "providers.yaml:1:26: webhooks.max_attempts: must be between 1 and 100, got 1000000"),
            ("webhooks: {max_attempts: -3}", "providers.yaml:1:26: webhooks.max_attempts: must be between 1 and 100, got -3"),
            (
                "server: {max_body_bytes: 1023}",
                "providers.yaml:1:26: server.max_body_bytes: must be between 1024 bytes (1 KiB) and 1073741824 bytes (1 GiB), got 1023"
            ),
            (
                "server: {max_body_bytes: 1073741825}",
                "providers.yaml:1:26: server.max_body_bytes: must be between 1024 bytes (1 KiB) and 1073741824 bytes (1 GiB), got 1073741825"
            ),
            (
                "server: {max_body_bytes: -1}",
                "providers.yaml:1:26: server.max_body_bytes: must be between 1024 bytes (1 KiB) and 1073741824 bytes (1 GiB), got -1"
            ),
            (
                "server: {max_body_bytes: 99999999999999999999}",
                "providers.yaml:1:26: server.max_body_bytes: expected an integer, got 99999999999999999999"
            ),
            (
                airopsPrefix + "poll_interval: 50ms}",
                "providers.yaml:2:90: providers.airops.poll_interval: must be between 100ms and 1h, got \"50ms\""
            ),
            (airopsPrefix + "poll_interval: 2h}", "providers.yaml:2:90: providers.airops.poll_interval: must be between 100ms and 1h, got \"2h\""),
            (airopsPrefix + "timeout: 999ms}", "providers.yaml:2:84: providers.airops.timeout: must be between 1s and 10m, got \"999ms\""),
            (airopsPrefix + "timeout: 11m}", "providers.yaml:2:84: providers.airops.timeout: must be between 1s and 10m, got \"11m\""),
            (
                "providers:\n  tagger: {kind: doc-tagging-ws, base_url: \"http://t.example\", token: t, heartbeat: 25h}\nroutes: {tag: {kind: document_tagging, targets: [{provider: tagger}]}}",
                "providers.yaml:2:85: providers.tagger.heartbeat: must be between 1ms and 24h, got \"25h\""
            ),
        ]
    )
    func refused(yaml: String, expected: String) {
        #expect(diagnostics(withDefaults(yaml)) == [expected])
    }

    @Test("the ends of each range are accepted")
    func boundariesAccepted() throws {
        let low = try load(
            withDefaults(
                """
                server: {max_body_bytes: 1024}
                webhooks: {timeout: 1s, initial_backoff: 10ms, max_backoff: 10ms, max_attempts: 1}
                providers:
                  airops: {kind: olostep-airops, base_url: "https://a.example", token: t, poll_interval: 100ms, timeout: 1s}
                """
            )
        )
        #expect(low.server.maxBodyBytes == 1_024)
        #expect(
            low.webhooks == WebhookSettings(maxAttempts: 1, initialBackoff: .milliseconds(10), maxBackoff: .milliseconds(10), timeout: .seconds(1))
        )
        #expect(low.providers.first?.pollInterval == .milliseconds(100))
        #expect(low.providers.first?.timeout == .seconds(1))

        let high = try load(
            withDefaults(
                """
                server: {max_body_bytes: 1073741824}
                webhooks: {timeout: 120s, initial_backoff: 1h, max_backoff: 24h, max_attempts: 100}
                providers:
                  airops: {kind: olostep-airops, base_url: "https://a.example", token: t, poll_interval: 1h, timeout: 10m}
                """
            )
        )
        #expect(high.server.maxBodyBytes == 1 << 30)
        #expect(
            high.webhooks == WebhookSettings(maxAttempts: 100, initialBackoff: .seconds(3_600), maxBackoff: .seconds(86_400), timeout: .seconds(120))
        )
        #expect(high.providers.first?.pollInterval == .seconds(3_600))
        #expect(high.providers.first?.timeout == .seconds(600))
    }

    @Test("an option's declared range replaces the general one")
    func declaredOptionRanges() throws {
        let kinds = testKinds.merging([
            "ranged": ProviderKindSpec(
                kind: "ranged",
                jobKinds: [.urlBatch],
                options: [
                    ProviderOptionSpec("batch_size", .int, intRange: 1...1_000),
                    ProviderOptionSpec("settle", .duration, durationRange: .milliseconds(100)...(.seconds(5))),
                ]
            )
        ]) { first, _ in first }
        func found(_ options: String) -> [String] {
            let yaml = withDefaults(
                "providers:\n  r: {kind: ranged, base_url: \"https://r.example\", \(options)}\nroutes: {s: {kind: url_batch, targets: [{provider: r}]}}"
            )
            do {
                _ = try ConfigLoader.load(yaml: yaml, file: "providers.yaml", environment: [:], providerKinds: kinds)
                return []
            } catch {
                return error.diagnostics.map(\.description)
            }
        }
        #expect(found("batch_size: 1000, settle: 5s") == [])
        #expect(
            found("batch_size: 0, settle: 50ms") == [
                "providers.yaml:2:64: providers.r.batch_size: must be between 1 and 1000, got 0",
                "providers.yaml:2:75: providers.r.settle: must be between 100ms and 5s, got \"50ms\"",
            ]
        )
        #expect(
            found("batch_size: 1001, settle: 6s") == [
                "providers.yaml:2:64: providers.r.batch_size: must be between 1 and 1000, got 1001",
                "providers.yaml:2:78: providers.r.settle: must be between 100ms and 5s, got \"6s\"",
            ]
        )
    }
}
