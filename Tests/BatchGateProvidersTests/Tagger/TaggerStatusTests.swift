import BatchGateCore
import Testing

@testable import BatchGateProviders

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

private let doc = TaggingDocument(title: "A", filePath: "https://files.example/a.pdf", fileSourceType: "url")

/// The tables of `Tagger+Status.swift`, row by row, and every documented example payload.
@Suite struct TaggerStatusTests {
    // MARK: Job status table

    @Test(arguments: [
        ("pending", LifecycleStatus.pending), ("processing", .running), ("paused", .running), ("completed", .completed),
        ("failed", .failed), ("cancelled", .cancelled), ("warming_up", .running),
    ])
    func jobStatusRow(_ status: String, _ expected: LifecycleStatus) {
        #expect(TaggerProvider.lifecycle(status: status) == expected)
    }

    @Test func missingStatusReadsAsRunning() {
        #expect(TaggerProvider.lifecycle(status: nil) == .running)
    }

    @Test func statusResponseFixture() throws {
        let state: TaggerWire.JobState = try TaggerProvider.decode(try fixture("tagger/status-response.json"), what: "status")
        let observation = TaggerProvider.observation(from: state)
        #expect(observation.lifecycle == .running)
        #expect(observation.providerStatus == "paused")
        #expect(observation.total == 10)
        #expect(observation.succeeded == 4)
        #expect(observation.failed == 1)
        #expect(observation.percentHint == 50)
    }

    // MARK: Message table

    private func update(_ name: String) throws -> StreamUpdate {
        let text = String(decoding: try fixture("tagger/\(name).json"), as: UTF8.self)
        guard case .update(let update) = try TaggerProvider.decodeMessage(text) else {
            Issue.record("\(name) did not decode to an update")
            throw TimedOut(what: "an update")
        }
        return update
    }

    @Test func catchupWithIntegerState() throws {
        let update = try update("catchup-example")
        #expect(update.kind == .snapshot)
        #expect(update.observation?.lifecycle == .running)
        #expect(update.observation?.total == 10)
        #expect(update.observation?.succeeded == 3)
        #expect(update.observation?.percentHint == 30)
        #expect(update.rows.count == 1)
        #expect(update.rows[0].result.status == .succeeded)
        #expect(update.rows[0].result.key == "Document 1")
        #expect(update.rows[0].result.data?["tags"] == ["tag1", "tag2"])
        #expect(update.payload.isEmpty)
    }

    @Test func catchupWithStringState() throws {
        let update = try update("catchup-redis-strings")
        #expect(update.observation?.total == 10)
        #expect(update.observation?.succeeded == 3)
        #expect(update.observation?.failed == 1)
        #expect(update.observation?.percentHint == 30)
        #expect(update.rows.map(\.index) == [0, 1])
        #expect(update.rows[1].result.status == .failed)
        #expect(update.rows[1].isFinal)
        #expect(update.rows[1].result.error == ItemError(code: "model-error", message: "Model refused"))
    }

    @Test func untypedProgressIsARow() throws {
        let update = try update("progress-example")
        #expect(update.kind == .row)
        #expect(update.messageType == "progress")
        #expect(update.observation?.lifecycle == .running)
        #expect(update.observation?.percentHint == 10)
        let row = try #require(update.rows.first)
        #expect(row.index == 0)
        #expect(row.isFinal)
        #expect(row.result.status == .succeeded)
        #expect(row.result.key == "Training Manual")
        #expect(row.result.data?["metadata"]?["extraction_method"] == "pypdf2")
        #expect(row.result.data?["row_number"] == 1)
        #expect(!update.payload.isEmpty)
    }

    @Test func rateLimitedRowIsPendingNotFailed() throws {
        let row = try #require(try update("progress-rate-limited").rows.first)
        #expect(row.index == 4)
        #expect(!row.isFinal)
        #expect(row.result.status == .pending)
        #expect(row.result.error == ItemError(code: "rate-limit", message: "Rate limit reached"))
        #expect(row.result.data?["retry_after_ms"] == 2000)
        #expect(row.result.data?["retry_count"] == 1)
    }

    @Test(arguments: ["completed-example", "completed-live"])
    func completedCountsAsStringsOrIntegers(_ name: String) throws {
        let update = try update(name)
        #expect(update.kind == .terminal)
        #expect(update.observation?.lifecycle == .completed)
        #expect(update.observation?.succeeded == 9)
        #expect(update.observation?.failed == 1)
    }

    @Test func cancelledIsTerminal() throws {
        let text = #"{"type": "cancelled", "job_id": "j", "processed_count": "2", "failed_count": "0", "message": "Job cancelled"}"#
        guard case .update(let update) = try TaggerProvider.decodeMessage(text) else {
            Issue.record("not an update")
            return
        }
        #expect(update.kind == .terminal)
        #expect(update.observation?.lifecycle == .cancelled)
        #expect(update.observation?.succeeded == 2)
    }

    @Test func errorMessageFailsWithoutCounts() throws {
        let update = try update("error-message")
        #expect(update.kind == .terminal)
        #expect(update.observation?.lifecycle == .failed)
        #expect(update.observation?.error?.code == "provider_failed")
        #expect(update.observation?.error?.message.contains("Redis connection lost") == true)
    }

    @Test func keepaliveCarriesStatus() throws {
        let update = try update("keepalive-example")
        #expect(update.kind == .keepalive)
        #expect(update.observation?.lifecycle == .running)
        #expect(update.observation?.providerStatus == "processing")
    }

    @Test func authenticationErrorIsARefusal() throws {
        let text = String(decoding: try fixture("tagger/auth-error-example.json"), as: UTF8.self)
        #expect(try TaggerProvider.decodeMessage(text) == .refusal("Authentication required"))
    }

    @Test func unknownTypeIsIgnored() throws {
        #expect(try TaggerProvider.decodeMessage(#"{"type": "stats", "job_id": "j"}"#) == .ignored("message type `stats`"))
    }

    @Test(arguments: [
        (#"not json"#, "malformed JSON"),
        (#"{"type": "progress", "job_id": "j"}"#, "no `row_id`"),
        // A negative row id is not a count: refused while decoding, naming the field.
        (#"{"row_id": -3, "status": "success"}"#, "expected a count from 0 to 1000000000, got -3 at row_id"),
        (#"{"row_id": 9223372036854775807, "status": "success"}"#, "at row_id"),
        (#"{"type": "catchup", "state": {"total": "many"}}"#, "state.total"),
    ])
    func badMessagesNameTheProblem(_ text: String, _ expected: String) {
        #expect {
            _ = try TaggerProvider.decodeMessage(text)
        } throws: { error in
            (error as? ProviderError)?.code == .badResponse && "\(error)".contains(expected)
        }
    }

    // MARK: Row table

    @Test(arguments: [
        (#"{"row_id": 0, "status": "success"}"#, ItemStatus.succeeded, true),
        (#"{"row_id": 0, "status": "failed", "error": "x"}"#, .failed, true),
        (#"{"row_id": 0, "status": "failed", "error": "x", "retry_after_ms": 10}"#, .pending, false),
        (#"{"row_id": 0, "status": "processing"}"#, .pending, false),
        (#"{"row_id": 0, "status": "pending"}"#, .pending, false),
    ])
    func rowRow(_ text: String, _ status: ItemStatus, _ isFinal: Bool) throws {
        let wire = try JSONDecoder().decode(TaggerWire.Row.self, from: Data(text.utf8))
        let row = try #require(TaggerProvider.row(from: wire))
        #expect(row.result.status == status)
        #expect(row.isFinal == isFinal)
    }

    // MARK: Merging rows

    @Test func rowBookCountsEachRowOnce() {
        func row(_ index: Int, _ status: ItemStatus, final: Bool) -> StreamRow {
            StreamRow(index: index, result: ItemResult(index: index, key: "d\(index)", status: status), isFinal: final)
        }
        var book = StreamRowBook()
        #expect(book.merge([row(0, .pending, final: false)]).count == 1)
        #expect(book.merge([row(0, .succeeded, final: true), row(1, .failed, final: true)]).count == 2)
        // The same rows again, as a snapshot after a reconnect: nothing changes, nothing is counted twice.
        #expect(book.merge([row(0, .succeeded, final: true), row(1, .failed, final: true)]).isEmpty)
        // A final row never changes again.
        #expect(book.merge([row(1, .succeeded, final: true)]).isEmpty)
        #expect(book.succeeded == 1)
        #expect(book.failed == 1)

        let reloaded = StreamRowBook(stored: [
            ItemResult(index: 0, key: "d0", status: .succeeded), ItemResult(index: 1, key: "d1", status: .pending),
        ])
        #expect(reloaded.finalCount == 1)
    }

    // MARK: Validation

    @Test(arguments: [
        (JobInput.documentTagging(DocumentTaggingInput(documents: [])), "input.documents"),
        (
            .documentTagging(DocumentTaggingInput(documents: [TaggingDocument(title: " ", filePath: "a.pdf", fileSourceType: "url")])),
            "input.documents[0].title"
        ),
        (
            .documentTagging(DocumentTaggingInput(documents: [TaggingDocument(title: "A", filePath: "", fileSourceType: "url")])),
            "input.documents[0].file_path"
        ),
        (
            .documentTagging(DocumentTaggingInput(documents: [TaggingDocument(title: "A", filePath: "a.pdf", fileSourceType: "ftp")])),
            "input.documents[0].file_source_type"
        ),
        (.documentTagging(DocumentTaggingInput(documents: [doc], config: ["num_pages": 11])), "input.config.num_pages"),
        (.documentTagging(DocumentTaggingInput(documents: [doc], config: ["num_tags": 2])), "input.config.num_tags"),
        (.documentTagging(DocumentTaggingInput(documents: [doc], config: ["num_tags": .number(3.5)])), "input.config.num_tags"),
        (.documentTagging(DocumentTaggingInput(documents: [doc], config: ["model_name": 4])), "input.config.model_name"),
        (.documentTagging(DocumentTaggingInput(documents: [doc], config: ["exclusion_words": [1]])), "input.config.exclusion_words"),
        (.documentTagging(DocumentTaggingInput(documents: [doc], config: ["temperature": 1])), "input.config.temperature"),
        (.documentTagging(DocumentTaggingInput(documents: [doc], config: "fast")), "input.config"),
        (.urlBatch(URLBatchInput(urls: ["https://a.example"])), "input"),
    ])
    func validationNamesTheField(_ input: JobInput, _ field: String) {
        #expect {
            try provider.validate(input)
        } throws: { error in
            (error as? GatewayError)?.field == field
        }
    }

    @Test func documentedInputIsValid() throws {
        try provider.validate(
            .documentTagging(
                DocumentTaggingInput(
                    documents: [doc, TaggingDocument(title: "B", filePath: "s3://bucket/b.pdf", fileSourceType: "s3", description: "b")],
                    config: ["model_name": "openai/gpt-4o-mini", "num_pages": 3, "num_tags": 8, "exclusion_words": ["the"], "api_key": "k"]
                )
            )
        )
    }

    private let provider = TaggerProvider(
        settings: ProviderSettings(name: "tagger", kind: "doc-tagging-ws", baseURL: "http://127.0.0.1:9", options: ["token": .string("t")]),
        context: ProviderContext(transport: RefusingTransport(), logger: quietLogger)
    )
}
