import BatchGateCore
import BatchGateProviders

/// The AirOps adapter on one vendor body: the create response, the poll answer
/// (`GET /v1/batches-airops/{id}`), the same body as an error answer (503 with `Retry-After` from its
/// first line), as a webhook, and as the items page (`GET …/items`). Observations are folded into one
/// job state.
enum AirOpsFuzz {
    static let entry = FuzzEntry(
        name: "airops",
        summary: "AirOps create, poll (GET batch), error answer, webhook and items decoding, folded into a job state",
        steps: ["create", "poll", "webhook", "items", "error-answer"],
        run: run
    )

    static let input = URLBatchInput(
        urls: FuzzVendor.urls,
        customIDs: ["post-1", "post-2", "post-3", "item-3", "item-4", "item-5"]
    )

    static func provider(answering answer: @escaping @Sendable (HTTPRequest) -> HTTPResponse) -> AirOpsProvider {
        AirOpsProvider(
            settings: FuzzVendor.settings(name: "airops", kind: "olostep-airops", options: ["token": .string("fuzz-token")]),
            context: ProviderContext(transport: ScriptedHTTPTransport(answer: answer), logger: FuzzVendor.logger)
        )
    }

    static func run(_ body: [UInt8]) async -> Set<String> {
        var accepted: Set<String> = []
        let airops = provider { _ in FuzzVendor.ok(body) }
        var folder = StateFolder()
        let submission = Submission(jobID: "job_fuzz", input: .urlBatch(input), webhookURL: "http://127.0.0.1:8080/v1/webhooks/airops")
        if let outcome = try? await airops.submit(submission) {
            accepted.insert("create")
            if let observation = outcome.observation { folder.apply(observation) }
        }
        if let observation = try? await airops.poll(providerBatchID: "batch_fuzz") {
            accepted.insert("poll")
            folder.apply(observation)
        }
        if let event = try? airops.decodeWebhook(body) {
            accepted.insert("webhook")
            folder.apply(event.observation)
        }
        if let results = try? await airops.results(providerBatchID: "batch_fuzz", input: .urlBatch(input)) {
            FuzzInvariant.check(results, count: input.urls.count)
            if results.contains(where: { $0.status != .pending }) { accepted.insert("items") }
        }
        let firstLine = String(decoding: body.prefix(while: { $0 != 0x0A }).prefix(64), as: UTF8.self)
        let failing = provider { _ in
            HTTPResponse(status: 503, headers: [("Retry-After", firstLine), ("Content-Type", "application/json")], body: body)
        }
        do {
            _ = try await failing.poll(providerBatchID: "batch_fuzz")
            FuzzInvariant.require(false, "a 503 answer is an error")
        } catch {
            FuzzInvariant.require(error.isRetryable, "a 503 answer is retryable")
            if let retryAfter = error.retryAfter { FuzzInvariant.require(retryAfter >= .zero, "Retry-After is not negative") }
            if error.providerCode != nil || error.message.hasPrefix("AirOps is unavailable:") { accepted.insert("error-answer") }
        }
        return accepted
    }
}
