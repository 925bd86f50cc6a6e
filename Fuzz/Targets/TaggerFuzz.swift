import BatchGateCore
import BatchGateProviders
import Synchronization

/// The document-tagging adapter on one exchange. The input holds messages separated by lines of `---`;
/// each is one WebSocket text message of the job's socket (catchup, progress, completed, error,
/// keepalive, …), and the first also answers the start request and the status endpoint.
enum TaggerFuzz {
    static let entry = FuzzEntry(
        name: "tagger",
        summary: "Tagger start, status and WebSocket message decoding (observe and results), folded into a job state",
        steps: ["start", "status", "catchup", "progress", "completed", "error", "keepalive", "results"],
        run: run
    )

    static let input = DocumentTaggingInput(documents: [
        TaggingDocument(title: "Document 1", filePath: "https://example.com/doc1.pdf", fileSourceType: "url"),
        TaggingDocument(title: "Document 2", filePath: "s3://bucket/doc2.pdf", fileSourceType: "s3"),
        TaggingDocument(title: "Training Manual", filePath: "/data/manual.pdf", fileSourceType: "local"),
    ])

    static func run(_ body: [UInt8]) async -> Set<String> {
        let accepted = Mutex<Set<String>>([])
        let parts = InputParts.split(body, limit: 64)
        let messages = parts.map { String(decoding: $0, as: UTF8.self) }
        let tagger = TaggerProvider(
            settings: FuzzVendor.settings(name: "tagger", kind: "doc-tagging-ws", options: ["token": .string("fuzz-token")]),
            context: ProviderContext(
                transport: ScriptedHTTPTransport { _ in FuzzVendor.ok(parts[0]) },
                webSocket: ScriptedWebSocketTransport(messages: messages),
                logger: FuzzVendor.logger
            )
        )
        let folder = Mutex(StateFolder())
        let submission = Submission(jobID: "job_fuzz", input: .documentTagging(input), webhookURL: nil)
        if let outcome = try? await tagger.submit(submission) {
            accepted.withLock { _ = $0.insert("start") }
            if let observation = outcome.observation { folder.withLock { $0.apply(observation) } }
        }
        if let observation = try? await tagger.poll(providerBatchID: "job_fuzz") {
            accepted.withLock { _ = $0.insert("status") }
            folder.withLock { $0.apply(observation) }
        }
        _ = try? await tagger.observe(providerBatchID: "job_fuzz") { update in
            for row in update.rows {
                FuzzInvariant.require(row.index >= 0 && row.result.index == row.index, "a streamed row's index is its own (\(row.index))")
            }
            if let observation = update.observation { folder.withLock { $0.apply(observation) } }
            let step = update.kind == .row ? "progress" : update.messageType == "cancelled" ? "completed" : update.messageType
            accepted.withLock { _ = $0.insert(step) }
        }
        if let results = try? await tagger.results(providerBatchID: "job_fuzz", input: .documentTagging(input)) {
            for (position, result) in results.enumerated() where position > 0 {
                FuzzInvariant.require(result.index > results[position - 1].index, "results are in index order, once each")
            }
            if !results.isEmpty { accepted.withLock { _ = $0.insert("results") } }
        }
        return accepted.withLock { $0 }
    }
}
