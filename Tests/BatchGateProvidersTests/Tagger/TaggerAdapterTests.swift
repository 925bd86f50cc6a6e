import BatchGateCore
import BatchGateProviders
import BatchGateSimulators
import BatchGateTransport
import Synchronization
import Testing

/// The tagger adapter against the simulator over loopback: libcurl for HTTP, SwiftNIO for the WebSocket.
@Suite(.serialized, .timeLimit(.minutes(2))) struct TaggerAdapterTests {
    static let token = "tagger-test-token"

    struct Setup: Sendable {
        var scenario = TaggerSimulator.Scenario(documentInterval: .milliseconds(20))
        var faults = TaggerFaults()
        var options: [String: ConfigValue] = [:]
        var token = TaggerAdapterTests.token
    }

    func withAdapter(_ setup: Setup = Setup(), _ body: (TaggerProvider, TaggerSimulator) async throws -> Void) async throws {
        let client = try CurlHTTPClient()
        defer { client.shutdown() }
        // The simulator waits a little before a socket's first message, as a vendor across a network would
        // (the catchup then arrives apart from the upgrade's 101 response).
        let configuration = TaggerSimulator.Configuration(
            token: Self.token,
            scenario: setup.scenario,
            faults: setup.faults,
            keepaliveInterval: .seconds(1),
            firstMessageDelay: .milliseconds(100)
        )
        try await withTaggerSimulator(configuration) { baseURL, simulator in
            var options = setup.options
            options["token"] = .string(setup.token)
            // Generous, so a loaded machine never makes a socket look silent: these tests are not about timing.
            options["keepalive_interval"] = options["keepalive_interval"] ?? .duration(.seconds(10))
            let provider = TaggerProvider(
                settings: ProviderSettings(name: "tagger", kind: "doc-tagging-ws", baseURL: baseURL + "/", timeout: .seconds(5), options: options),
                context: ProviderContext(transport: client, webSocket: NIOWebSocketClient(logger: quietLogger), logger: quietLogger)
            )
            try await body(provider, simulator)
        }
    }

    static func input(_ count: Int) -> JobInput {
        .documentTagging(
            DocumentTaggingInput(
                documents: (0..<count).map { TaggingDocument(title: "Doc \($0)", filePath: "s3://b/\($0).pdf", fileSourceType: "s3") },
                config: ["num_tags": 4, "model_name": "openai/gpt-4o-mini"]
            )
        )
    }

    @Test func startObserveAndReadTheResults() async throws {
        var setup = Setup()
        setup.scenario.failEvery = 3
        try await withAdapter(setup) { provider, simulator in
            let outcome = try await provider.submit(Submission(jobID: "bat_test_1", input: Self.input(9), webhookURL: nil))
            #expect(outcome.providerBatchID == "bat_test_1", "the gateway's job id is the vendor job_id")
            #expect(outcome.observation?.total == 9)

            let updates = Mutex<[StreamUpdate]>([])
            let end = try await provider.observe(providerBatchID: outcome.providerBatchID) { update in
                updates.withLock { $0.append(update) }
            }
            #expect(end == .terminal)
            let seen = updates.withLock { $0 }
            #expect(seen.first?.kind == .snapshot)
            #expect(seen.last?.kind == .terminal)
            #expect(seen.last?.observation?.lifecycle == .completed)
            #expect(seen.last?.observation?.succeeded == 6)
            #expect(seen.last?.observation?.failed == 3)
            var book = StreamRowBook()
            for update in seen { _ = book.merge(update.rows) }
            #expect(book.succeeded == 6 && book.failed == 3)

            let status = try await provider.poll(providerBatchID: outcome.providerBatchID)
            #expect(status.lifecycle == .completed)
            #expect(status.succeeded == 6)

            let results = try await provider.results(providerBatchID: outcome.providerBatchID, input: Self.input(9))
            try #require(results.map(\.index) == Array(0..<9))
            #expect(results.filter { $0.status == .failed }.count == 3)
            #expect(results[0].status == .succeeded)
            #expect(results[0].data?["tags"] != nil, "a succeeded row keeps its tags")
            #expect(results[2].error?.code == "model-error")
            #expect(simulator.jobIDs() == ["bat_test_1"])
        }
    }

    /// A start whose answer was lost created the job: starting the same submission again finds it under its
    /// `job_id` (the vendor answers 409) and takes it instead of failing.
    @Test func aStartOfAJobThatAlreadyExistsTakesThatJob() async throws {
        try await withAdapter { provider, simulator in
            let submission = Submission(jobID: "bat_test_dup", input: Self.input(3), webhookURL: nil)
            let first = try await provider.submit(submission)
            let again = try await provider.submit(submission)
            #expect(again.providerBatchID == first.providerBatchID)
            #expect(simulator.jobIDs() == [first.providerBatchID])
        }
    }

    @Test func resultsOfARunningJobReturnAfterTheCatchup() async throws {
        var setup = Setup()
        setup.scenario.documentInterval = .milliseconds(200)
        try await withAdapter(setup) { provider, simulator in
            let batch = try await provider.submit(Submission(jobID: "bat_test_2", input: Self.input(50), webhookURL: nil)).providerBatchID
            try await waitUntil("two documents tagged") { (simulator.jobStatus(batch)?.processed ?? 0) >= 2 }
            let results = try await provider.results(providerBatchID: batch, input: Self.input(50))
            #expect((simulator.jobStatus(batch)?.processed ?? 50) < 50, "did not wait for the job to finish")
            #expect(results.count >= 1 && results.count < 50)
            try await provider.cancel(providerBatchID: batch)
        }
    }

    @Test func findSubmittedTellsWhetherAStartCreatedTheJob() async throws {
        try await withAdapter { provider, _ in
            let submission = Submission(jobID: "bat_test_3", input: Self.input(2), webhookURL: nil)
            #expect(try await provider.findSubmitted(submission, since: .now()) == .notFound)
            _ = try await provider.submit(submission)
            #expect(try await provider.findSubmitted(submission, since: .now()) == .found("bat_test_3"))
        }
    }

    @Test func pauseResumeAndCancel() async throws {
        var setup = Setup()
        setup.scenario.documentInterval = .milliseconds(50)
        try await withAdapter(setup) { provider, simulator in
            let batch = try await provider.submit(Submission(jobID: "bat_test_4", input: Self.input(40), webhookURL: nil)).providerBatchID
            try await provider.pause(providerBatchID: batch)
            try await waitUntil("paused") { simulator.jobStatus(batch)?.status == "paused" }
            #expect(try await provider.poll(providerBatchID: batch).providerStatus == "paused")
            try await provider.resume(providerBatchID: batch)
            try await waitUntil("processing again") { simulator.jobStatus(batch)?.status == "processing" }
            try await provider.cancel(providerBatchID: batch)
            let end = try await provider.observe(providerBatchID: batch) { _ in }
            #expect(end == .terminal)
            #expect(try await provider.poll(providerBatchID: batch).lifecycle == .cancelled)
        }
    }

    @Test(arguments: ["query", "header"])
    func aRefusedTokenIsRejectedWithTheVendorsNotice(_ placement: String) async throws {
        var setup = Setup()
        setup.faults.rejectToken = true
        setup.options["token_in"] = .string(placement)
        try await withAdapter(setup) { provider, _ in
            let batch = try await provider.submit(Submission(jobID: "bat_test_5", input: Self.input(2), webhookURL: nil)).providerBatchID
            await #expect {
                _ = try await provider.observe(providerBatchID: batch) { _ in }
            } throws: { error in
                guard let error = error as? ProviderError else { return false }
                return error.code == .rejected && error.message.contains("Authentication required") && error.providerCode == "ws_close_1008"
            }
        }
    }

    @Test func aWrongTokenNeverAppearsInTheError() async throws {
        var setup = Setup()
        setup.token = "wrong-token-value"
        try await withAdapter(setup) { provider, _ in
            await #expect {
                _ = try await provider.submit(Submission(jobID: "bat_test_6", input: Self.input(1), webhookURL: nil))
            } throws: { error in
                guard let error = error as? ProviderError else { return false }
                return error.code == .rejected && error.httpStatus == 401 && !"\(error)".contains("wrong-token-value")
            }
        }
    }

    @Test func aDroppedSocketEndsAsADisconnect() async throws {
        var setup = Setup()
        setup.faults = TaggerFaults(dropSockets: 1, dropAfterMessages: 4)
        setup.scenario.documentInterval = .milliseconds(30)
        try await withAdapter(setup) { provider, _ in
            let batch = try await provider.submit(Submission(jobID: "bat_test_7", input: Self.input(20), webhookURL: nil)).providerBatchID
            let count = Mutex(0)
            let end = try await provider.observe(providerBatchID: batch) { _ in count.withLock { $0 += 1 } }
            guard case .disconnected = end else {
                Issue.record("expected a disconnect, got \(end)")
                return
            }
            #expect(count.withLock { $0 } >= 4)
        }
    }

    @Test func unavailableAndRateLimitedStartsAreRetryable() async throws {
        var setup = Setup()
        setup.faults = TaggerFaults(unavailableResponses: 1, rateLimitedResponses: 1, retryAfter: .seconds(2))
        try await withAdapter(setup) { provider, _ in
            let submission = Submission(jobID: "bat_test_8", input: Self.input(1), webhookURL: nil)
            await #expect { _ = try await provider.submit(submission) } throws: { ($0 as? ProviderError)?.code == .unavailable }
            await #expect { _ = try await provider.submit(submission) } throws: { error in
                (error as? ProviderError)?.code == .rateLimited && (error as? ProviderError)?.retryAfter == .seconds(2)
            }
            let third = try await provider.submit(submission)
            #expect(third.providerBatchID == "bat_test_8")
        }
    }
}
