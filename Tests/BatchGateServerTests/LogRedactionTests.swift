import Testing

@testable import BatchGateServer

@Suite struct LogRedactionTests {
    @Test(arguments: [
        ("/v1/providers/airops/webhooks/bat_01ABC.secret123", "/v1/providers/airops/webhooks/[token]"),
        ("/v1/batches/bat_01ABC", "/v1/batches/bat_01ABC"),
    ])
    func inboundWebhookTokensNeverReachLogs(path: String, logged: String) {
        #expect(ErrorMiddleware<GatewayRequestContext>.redacted(path) == logged)
    }
}
