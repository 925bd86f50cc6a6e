import BatchGateConfig
import BatchGateCore
import Testing

@Suite struct WebhookDefaultsTests {
    @Test func defaultsLoadPerTenant() throws {
        let configuration = try load(
            withDefaults(
                """
                webhooks:
                  defaults:
                    acme: {url: "https://hooks.acme.example/batchgate", secret: "${SECRET}", events: [batch.completed, batch.failed]}
                    globex: {url: "https://hooks.globex.example/"}
                """
            ),
            environment: ["SECRET": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"]
        )
        #expect(
            configuration.webhooks.defaults["acme"]
                == WebhookSubscription(
                    url: "https://hooks.acme.example/batchgate",
                    secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
                    events: [.completed, .failed]
                )
        )
        #expect(configuration.webhooks.defaults["globex"]?.events == WebhookEventType.defaultSubscription)
        #expect(configuration.webhooks.defaults["globex"]?.secret == nil)
    }

    @Test func badDefaultsAreReportedWithTheirPlace() {
        let problems = diagnostics(
            withDefaults(
                """
                webhooks:
                  defaults:
                    acme: {url: "ftp://x", secret: "plain-secret", events: [batch.done]}
                    globex: {events: [batch.completed]}
                """
            )
        )
        #expect(
            problems == [
                "providers.yaml:3:17: webhooks.defaults.acme.url: expected an https URL like https://hooks.example.com/batchgate",
                "providers.yaml:3:36: webhooks.defaults.acme.secret: expected a whsec_<base64> secret (value not shown)",
                "providers.yaml:3:61: webhooks.defaults.acme.events[0]: unknown event \"batch.done\"; one of batch.created, batch.progress, batch.completed, batch.failed, batch.cancelled, batch.expired",
                "providers.yaml:4:13: webhooks.defaults.globex: missing required key \"url\"",
            ]
        )
        #expect(!problems.joined().contains("plain-secret"))
    }
}
