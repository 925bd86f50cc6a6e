import BatchGateCore
import BatchGateProviders
import Foundation

/// The Aitronos adapter on one exchange. The input holds vendor bodies separated by lines of `---`:
/// the first answers create and progress, the others answer job details (`GET …/jobs/{id}`, picked per
/// job id) and the last also answers the job list (`GET …/jobs?limit=…`) read after a submit that timed out.
enum AitronosFuzz {
    static let entry = FuzzEntry(
        name: "aitronos",
        summary: "Aitronos create, progress, job detail and job list decoding, results matching, folded into a job state",
        steps: ["create", "progress", "job-detail", "job-list"],
        run: run
    )

    static let input = URLBatchInput(
        urls: FuzzVendor.urls,
        schema: .object(["type": .string("object"), "properties": .object(["title": .object(["type": .string("string")])])])
    )

    static func run(_ body: [UInt8]) async -> Set<String> {
        var accepted: Set<String> = []
        let parts = InputParts.split(body)
        let transport = ScriptedHTTPTransport { request in
            if let range = request.url.range(of: "/v1/scrape/jobs/") {
                let jobID = String(request.url[range.upperBound...])
                return FuzzVendor.ok(parts.count > 1 ? parts[1 + InputParts.hash(jobID) % (parts.count - 1)] : parts[0])
            }
            if request.url.contains("/v1/scrape/jobs?") { return FuzzVendor.ok(parts[parts.count - 1]) }
            return FuzzVendor.ok(parts[0])
        }
        let aitronos = AitronosProvider(
            settings: FuzzVendor.settings(name: "aitronos", kind: "aitronos-scrape", options: ["api_key": .string("fuzz-key")]),
            context: ProviderContext(transport: transport, logger: FuzzVendor.logger)
        )
        var folder = StateFolder()
        let submission = Submission(jobID: "job_fuzz", input: .urlBatch(input), webhookURL: nil)
        if let outcome = try? await aitronos.submit(submission) {
            accepted.insert("create")
            if let observation = outcome.observation { folder.apply(observation) }
        }
        if let observation = try? await aitronos.poll(providerBatchID: "batch_fuzz") {
            accepted.insert("progress")
            folder.apply(observation)
        }
        if let results = try? await aitronos.results(providerBatchID: "batch_fuzz", input: .urlBatch(input)) {
            FuzzInvariant.check(results, count: input.urls.count)
            if results.contains(where: { $0.data != nil || $0.error != nil }) { accepted.insert("job-detail") }
        }
        if let lookup = try? await aitronos.findSubmitted(submission, since: Timestamp(milliseconds: 1_734_300_000_000)), lookup != .unknown {
            accepted.insert("job-list")
        }
        return accepted
    }
}
