import BatchGateCore
import Testing

@testable import BatchGateConfig

/// Every diagnostic that shows a value shows where a `${VAR}` value came from instead of the value.
@Suite("Values from the environment are never echoed")
struct SecretEchoTests {
    static let secret = "hunter2-secret"
    static let airopsPrefix = "providers:\n  airops: {kind: olostep-airops, base_url: \"https://a.example\", token: t, "
    static let airopsLine = "  airops: {kind: olostep-airops, base_url: \"https://a.example\", token: t}\n"
    static let scraperOnly = "providers:\n  scraper-one: {kind: olostep-airops, base_url: \"https://a.example\", token: t}\n"
    static let events = WebhookEventType.allCases.map(\.rawValue).joined(separator: ", ")

    @Test("a duration from ${X} that is not a duration names the key and ${X}, not the value")
    func durationFromEnvironment() {
        let found = diagnostics(withDefaults(Self.airopsPrefix + "poll_interval: \"${X}\"}"), environment: ["X": Self.secret])
        #expect(
            found == [
                "providers.yaml:2:90: providers.airops.poll_interval: expected a duration like 200ms, 15s or 10m, got a string from ${X} (value not shown)"
            ]
        )
        #expect(!found.joined().contains(Self.secret))
    }

    /// (the file's first lines, its environment, every diagnostic expected).
    @Test(
        "each message that shows a value",
        arguments: [
            (
                "webhooks: {timeout: \"${X}\"}", ["X": "5m"],
                ["providers.yaml:1:21: webhooks.timeout: must be between 1s and 2m, got a string from ${X} (value not shown)"]
            ),
            (
                "webhooks: {initial_backoff: \"${A}\", max_backoff: \"${B}\"}", ["A": "5m", "B": "1m"],
                ["providers.yaml:1:50: webhooks.max_backoff: must be at least initial_backoff (the value of ${A}), got the value of ${B}"]
            ),
            (
                "webhooks: {initial_backoff: \"${A}\"}", ["A": "1h"],
                ["providers.yaml:1:29: webhooks.initial_backoff: must be at most max_backoff (default 10m), got the value of ${A}"]
            ),
            (
                "webhooks:\n  max_attempts: ${X}", ["X": secret],
                ["providers.yaml:2:17: webhooks.max_attempts: expected an integer, got a string from ${X} (value not shown)"]
            ),
            (
                "webhooks: {defaults: {acme: {url: \"https://h.example/x\", events: [\"${E}\"]}}}", ["E": "job.\(secret)"],
                ["providers.yaml:1:67: webhooks.defaults.acme.events[0]: unknown event a string from ${E} (value not shown); one of \(events)"]
            ),
            (
                "server: {listen: \"${X}\"}", ["X": secret],
                ["providers.yaml:1:18: server.listen: expected host:port like 127.0.0.1:8080 or [::1]:8080, got a string from ${X} (value not shown)"]
            ),
            (
                "server: {public_url: \"${X}\"}", ["X": secret],
                [
                    "providers.yaml:1:22: server.public_url: expected an http or https URL like https://api.example.com, got a string from ${X} (value not shown)"
                ]
            ),
            (
                "server: {max_body_bytes: !!int \"${X}\"}", ["X": secret],
                ["providers.yaml:1:26: server.max_body_bytes: value is not valid for its tag !!int"]
            ),
            (
                "server:\n  max_body_bytes: ${X}", ["X": "5"],
                [
                    "providers.yaml:2:19: server.max_body_bytes: must be between 1024 bytes (1 KiB) and 1073741824 bytes (1 GiB), got an integer from ${X} (value not shown)"
                ]
            ),
            (
                "providers:\n  airops: {kind: \"${K}\", base_url: \"https://a.example\", token: t}", ["K": secret],
                [
                    "providers.yaml:2:18: providers.airops.kind: unknown provider kind a string from ${K} (value not shown); known kinds: aitronos-scrape, doc-tagging-ws, olostep-airops"
                ]
            ),
            (
                "providers:\n" + airopsLine + "  aitronos: {kind: aitronos-scrape, base_url: \"https://b.example\", api_key: k, auth: \"${X}\"}",
                ["X": secret],
                ["providers.yaml:3:86: providers.aitronos.auth: expected one of bearer, x-api-key, got a string from ${X} (value not shown)"]
            ),
            (
                "providers:\n" + airopsLine
                    + "  tagger:\n    kind: doc-tagging-ws\n    base_url: \"http://t.example\"\n    token: t\n    verify_tls: ${X}", ["X": secret],
                ["providers.yaml:7:17: providers.tagger.verify_tls: expected true or false, got a string from ${X} (value not shown)"]
            ),
            (
                "routes: {scrape: {kind: \"${X}\", targets: [{provider: airops}]}}", ["X": secret],
                ["providers.yaml:1:25: routes.scrape.kind: expected one of url_batch, document_tagging, got a string from ${X} (value not shown)"]
            ),
            (
                "routes:\n  scrape:\n    kind: url_batch\n    targets:\n      - provider: airops\n        weight: ${W}", ["W": "5000"],
                ["providers.yaml:6:17: routes.scrape.targets[0].weight: must be between 1 and 1000, got an integer from ${W} (value not shown)"]
            ),
            (
                scraperOnly + "routes: {scrape: {kind: url_batch, targets: [{provider: scraper-one}, {provider: \"${P}\"}]}}", ["P": "scraper-one"],
                ["providers.yaml:3:82: routes.scrape.targets[1].provider: provider the value of ${P} is already a target of this route (targets[0])"]
            ),
            (
                scraperOnly + "routes: {scrape: {kind: url_batch, targets: [{provider: scraper-one}], fallback: [\"${P}\", \"${P}\"]}}",
                ["P": "scraper-one"],
                ["providers.yaml:3:91: routes.scrape.fallback[1]: provider the value of ${P} is already in fallback (fallback[0])"]
            ),
            (
                scraperOnly + "routes: {tag: {kind: document_tagging, targets: [{provider: \"${P}\"}]}}", ["P": "scraper-one"],
                ["providers.yaml:3:61: routes.tag.targets[0].provider: provider the value of ${P} (olostep-airops) cannot serve document_tagging"]
            ),
        ]
    )
    func messages(yaml: String, environment: [String: String], expected: [String]) {
        let found = diagnostics(withDefaults(yaml), environment: environment)
        #expect(found == expected)
        for line in found {
            for value in environment.values {
                #expect(!line.contains(value), "\(line) shows \(value)")
            }
        }
    }
}
