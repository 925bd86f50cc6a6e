import BatchGateCore
import BatchGateProviders
import BatchGateSimulators
import BatchGateTransport
import Synchronization
import Testing

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// The adapter against the AirOps simulator over loopback, through the gateway's libcurl client.
@Suite(.timeLimit(.minutes(1))) struct AirOpsAdapterTests {
    static let token = "sk_test_airops_secret"

    static let fast = AirOpsSimulator.Scenario(
        scrapingDuration: .milliseconds(150),
        analyzingDuration: .milliseconds(40),
        enrichingSubmitDelay: .milliseconds(20),
        enrichingDuration: .milliseconds(150)
    )

    /// Slow enough that polls see every intermediate state even on a loaded machine.
    static let observable = AirOpsSimulator.Scenario(
        scrapingDuration: .milliseconds(900),
        analyzingDuration: .milliseconds(200),
        enrichingSubmitDelay: .milliseconds(50),
        enrichingDuration: .milliseconds(900)
    )

    static let urls = [
        "https://shop.example/products/kettle", "https://news.example/blog/launch", "https://broken.example/fail/page",
        "https://docs.example/docs/setup", "https://www.example.com/",
    ]

    static let documentedOrder = [
        "scraping_started", "scraping_completed", "analyzing_completed", "enriching_started", "enriching_completed", "completed",
    ].map { "event.batch.airops." + $0 }

    /// Runs `body` with a libcurl client, a simulator and an adapter pointed at it.
    func withAdapter(
        scenario: AirOpsSimulator.Scenario = fast,
        faults: AirOpsFaults = AirOpsFaults(),
        token: String = token,
        timeout: Duration = .seconds(5),
        _ body: (AirOpsProvider, AirOpsSimulator, CurlHTTPClient) async throws -> Void
    ) async throws {
        let client = try CurlHTTPClient()
        defer { client.shutdown() }
        let configuration = AirOpsSimulator.Configuration(
            token: Self.token,
            scenario: scenario,
            faults: faults,
            webhookRetry: .init(maxAttempts: 4, initialBackoff: .milliseconds(10), timeout: .seconds(30))
        )
        try await withAirOpsSimulator(configuration, transport: client) { baseURL, simulator in
            let settings = ProviderSettings(
                name: "airops",
                kind: "olostep-airops",
                baseURL: baseURL + "/",
                pollInterval: .milliseconds(20),
                timeout: timeout,
                options: ["token": .string(token)]
            )
            let provider = AirOpsProvider(settings: settings, context: ProviderContext(transport: client, logger: quietLogger))
            try await body(provider, simulator, client)
        }
    }

    /// Polls until the job is terminal, folding every observation; returns the final state and the percents seen.
    func pollToTerminal(
        _ provider: AirOpsProvider,
        _ batchID: String,
        from initial: JobState = JobState()
    ) async throws -> (JobState, [Int], Set<LifecycleStatus>) {
        var state = initial
        var percents: [Int] = []
        var seen: Set<LifecycleStatus> = []
        try await waitUntil("batch \(batchID) to finish") {
            let observation = try await provider.poll(providerBatchID: batchID)
            seen.insert(observation.lifecycle)
            state = JobStateMachine.apply(observation, to: state, at: .now())
            percents.append(state.progress.percent)
            return state.lifecycle.isTerminal
        }
        return (state, percents, seen)
    }

    func submit(_ provider: AirOpsProvider, urls: [String] = urls, customIDs: [String]? = nil, webhook: String? = nil) async throws -> SubmitOutcome {
        let input = JobInput.urlBatch(URLBatchInput(urls: urls, customIDs: customIDs, brands: ["Acme", "Globex"], country: "US"))
        try provider.validate(input)
        return try await provider.submit(Submission(jobID: "job_test", input: input, webhookURL: webhook))
    }

    @Test func submitPollAndResultsThroughCompletion() async throws {
        try await withAdapter(scenario: Self.observable) { provider, simulator, _ in
            let outcome = try await submit(provider)
            #expect(outcome.providerBatchID.hasPrefix("batch_"))
            let created = try #require(outcome.observation)
            #expect(created.lifecycle == .running)
            #expect(created.total == 5)
            #expect(created.phases.map(\.name) == ["scraping", "analyzing", "enriching"])

            let (state, percents, seen) = try await pollToTerminal(provider, outcome.providerBatchID)
            #expect(state.lifecycle == .completed)
            #expect(state.providerStatus == "completed")
            #expect(seen.contains(.running))
            #expect(percents == percents.sorted())
            #expect(percents.contains { $0 > 0 && $0 < 100 })
            #expect(state.progress.total == 5)
            #expect(state.progress.failed == 1)
            #expect(state.progress.succeeded == 4)
            #expect(state.progress.percent == 100)
            #expect(state.phases.map(\.name) == ["scraping", "analyzing", "enriching"])
            #expect(state.phases[0].counts["failed"] == 1)
            #expect(state.phases[0].startedAt != nil && state.phases[0].completedAt != nil)

            let input = JobInput.urlBatch(URLBatchInput(urls: Self.urls))
            let results = try await provider.results(providerBatchID: outcome.providerBatchID, input: input)
            try #require(results.map(\.index) == Array(0..<5))
            #expect(results.map(\.key) == Self.urls)
            #expect(results.map(\.status) == [.succeeded, .succeeded, .failed, .succeeded, .succeeded])
            #expect(results[2].error?.code == "SCRAPE_FAILED")
            #expect(results[2].data?["failed_stage"] == .string("scraping"))
            #expect(results[0].data?["page_type"] == .string("product"))
            #expect(results[1].data?["page_type"] == .string("article"))
            #expect(results[4].data?["page_type"] == .string("homepage"))
            #expect(results[1].data?["url"] == .string(Self.urls[1]))
            #expect(results[1].data?["date_published"]?.stringValue?.count == 10)
            #expect(simulator.requestCount(AirOpsSimulator.Route.create) == 1)
            #expect(simulator.requestCount(AirOpsSimulator.Route.items) == 1)
        }
    }

    @Test func resultsUseClientCustomIDs() async throws {
        // Queued for 5 s first, so the early read is before any item finished even on a loaded machine.
        var scenario = Self.observable
        scenario.queueDelay = .seconds(5)
        try await withAdapter(scenario: scenario) { provider, _, _ in
            let urls = Array(Self.urls.prefix(3))
            let ids = ["kettle", "launch", "broken"]
            let outcome = try await submit(provider, urls: urls, customIDs: ids)
            let input = JobInput.urlBatch(URLBatchInput(urls: urls, customIDs: ids))
            let early = try await provider.results(providerBatchID: outcome.providerBatchID, input: input)
            #expect(early.map(\.status) == [.pending, .pending, .pending])
            _ = try await pollToTerminal(provider, outcome.providerBatchID)
            let results = try await provider.results(providerBatchID: outcome.providerBatchID, input: input)
            #expect(results.map(\.key) == ids)
            #expect(results.map(\.status) == [.succeeded, .succeeded, .failed])
        }
    }

    struct OutcomeRow: Sendable, CustomTestStringConvertible {
        var outcome: AirOpsSimulator.Scenario.Outcome
        var lifecycle: LifecycleStatus
        var errorCode: String?
        var providerCode: String?
        var enrichingState: String?
        var events: [String]
        var testDescription: String { outcome.rawValue }
    }

    @Test(arguments: [
        OutcomeRow(
            outcome: .scrapingFailure,
            lifecycle: .failed,
            errorCode: "provider_failed",
            providerCode: "SCRAPING_ERROR",
            enrichingState: "pending",
            events: ["scraping_started", "scraping_failed", "failed"]
        ),
        OutcomeRow(
            outcome: .enrichmentFailed,
            lifecycle: .failed,
            errorCode: "provider_failed",
            providerCode: "LLM_BATCH_FAILED",
            enrichingState: "failed",
            events: ["scraping_started", "scraping_completed", "analyzing_completed", "enriching_started", "enriching_failed", "failed"]
        ),
        OutcomeRow(
            outcome: .enrichmentExpired,
            lifecycle: .expired,
            errorCode: "provider_expired",
            providerCode: "LLM_BATCH_EXPIRED",
            enrichingState: "failed",
            events: ["scraping_started", "scraping_completed", "analyzing_completed", "enriching_started", "enriching_failed", "failed"]
        ),
        OutcomeRow(
            outcome: .enrichingSkipped,
            lifecycle: .completed,
            errorCode: nil,
            providerCode: nil,
            enrichingState: "skipped",
            events: ["scraping_started", "scraping_completed", "analyzing_completed", "completed"]
        ),
    ])
    func scenarioOutcome(_ row: OutcomeRow) async throws {
        var scenario = Self.fast
        scenario.outcome = row.outcome
        try await withWebhookRecorder { hooksURL, recorder in
            try await withAdapter(scenario: scenario) { provider, _, _ in
                let outcome = try await submit(provider, webhook: hooksURL + "/airops")
                let (state, _, _) = try await pollToTerminal(provider, outcome.providerBatchID)
                #expect(state.lifecycle == row.lifecycle)
                #expect(state.error?.code == row.errorCode)
                #expect(state.error?.providerCode == row.providerCode)
                #expect(state.phases.last?.state == row.enrichingState)
                try await waitUntil("\(row.events.count) webhooks") { recorder.received().count >= row.events.count }
                let events = try recorder.received().map { try provider.decodeWebhook($0.body) }
                #expect(events.map(\.eventType) == row.events.map { "event.batch.airops." + $0 })
                #expect(events.allSatisfy { $0.providerBatchID == outcome.providerBatchID })
                #expect(events.last?.observation.lifecycle == row.lifecycle)
            }
        }
    }

    @Test func webhooksArriveInDocumentedOrder() async throws {
        try await withWebhookRecorder { hooksURL, recorder in
            try await withAdapter { provider, simulator, _ in
                let outcome = try await submit(provider, webhook: hooksURL + "/hooks/airops/tok_1")
                try await waitUntil("six webhooks received and recorded") {
                    recorder.received().count >= 6 && simulator.sentWebhooks().count >= 6
                }
                let received = recorder.received()
                #expect(received.allSatisfy { $0.path == "/hooks/airops/tok_1" })
                #expect(received.allSatisfy { $0.headers["content-type"] == "application/json" })
                var state = JobState()
                var events: [InboundEvent] = []
                for request in received {
                    let event = try provider.decodeWebhook(request.body)
                    events.append(event)
                    state = JobStateMachine.apply(event.observation, to: state, at: .now())
                }
                #expect(events.map(\.eventType) == Self.documentedOrder)
                #expect(events.allSatisfy { $0.providerBatchID == outcome.providerBatchID && $0.sentAt != nil })
                // Per the vendor's overall rule, enriching completed already means overall completed.
                #expect(events.map(\.observation.lifecycle) == [.running, .running, .running, .running, .completed, .completed])
                #expect(events[3].observation.correlation["llm_batch_id"] != nil)
                #expect(state.lifecycle == .completed)
                #expect(state.progress.succeeded + state.progress.failed == 5)
                let sent = simulator.sentWebhooks()
                #expect(sent.count == 6)
                #expect(sent.allSatisfy { $0.outcome == .delivered && $0.attempts == 1 && $0.lastStatus == 200 })
            }
        }
    }

    @Test func duplicateAndOutOfOrderWebhooksNeverMoveBackwards() async throws {
        let faults = AirOpsFaults(duplicateWebhooks: true, outOfOrderWebhooks: true)
        try await withWebhookRecorder { hooksURL, recorder in
            try await withAdapter(faults: faults) { provider, _, _ in
                _ = try await submit(provider, webhook: hooksURL + "/airops")
                try await waitUntil("twelve webhooks") { recorder.received().count >= 12 }
                let events = try recorder.received().map { try provider.decodeWebhook($0.body) }
                try #require(events.count == 12)
                // Every event twice in a row, with the same dedupe key.
                for pair in stride(from: 0, to: events.count, by: 2) {
                    #expect(events[pair].dedupeKey == events[pair + 1].dedupeKey)
                }
                let order = stride(from: 0, to: events.count, by: 2).map { events[$0].eventType }
                #expect(Set(order) == Set(Self.documentedOrder))
                #expect(order != Self.documentedOrder)
                let positions = order.map { Self.documentedOrder.firstIndex(of: $0)! }
                #expect(zip(positions, positions.dropFirst()).contains { $0 > $1 }, "a later event came first: \(order)")

                var state = JobState()
                var lifecycles: [LifecycleStatus] = []
                var percents: [Int] = []
                for event in events {
                    state = JobStateMachine.apply(event.observation, to: state, at: .now())
                    lifecycles.append(state.lifecycle)
                    percents.append(state.progress.percent)
                }
                #expect(lifecycles.map(\.rank) == lifecycles.map(\.rank).sorted())
                #expect(percents == percents.sorted())
                #expect(state.lifecycle == .completed)
            }
        }
    }

    @Test func droppedAndRetriedWebhooks() async throws {
        let faults = AirOpsFaults(droppedEvents: ["event.batch.airops.scraping_completed"])
        let recorder = WebhookRecorder()
        recorder.failNext(2, status: 503)
        try await withWebhookRecorder(recorder) { hooksURL, recorder in
            try await withAdapter(faults: faults) { provider, simulator, _ in
                _ = try await submit(provider, webhook: hooksURL + "/airops")
                try await waitUntil("the completed webhook") {
                    simulator.sentWebhooks().contains { $0.eventType == "event.batch.airops.completed" }
                }
                let sent = simulator.sentWebhooks()
                let dropped = sent.filter { $0.outcome == .dropped }
                #expect(dropped.map(\.eventType) == ["event.batch.airops.scraping_completed"])
                let first = try #require(sent.first { $0.eventType == "event.batch.airops.scraping_started" })
                #expect(first.outcome == .delivered)
                #expect(first.attempts == 3)
                let delivered = try recorder.received().map { try provider.decodeWebhook($0.body).eventType }
                #expect(!delivered.contains("event.batch.airops.scraping_completed"))
                #expect(delivered.filter { $0 == "event.batch.airops.scraping_started" }.count == 3)
            }
        }
    }

    @Test func pausedWebhooksAreHeldUntilResumed() async throws {
        try await withWebhookRecorder { hooksURL, recorder in
            try await withAdapter(faults: AirOpsFaults(webhooksPaused: true)) { provider, simulator, _ in
                let outcome = try await submit(provider, webhook: hooksURL + "/airops")
                let (state, _, _) = try await pollToTerminal(provider, outcome.providerBatchID)
                #expect(state.lifecycle == .completed)
                #expect(recorder.received().isEmpty)
                #expect(simulator.sentWebhooks().isEmpty)
                simulator.setFaults(AirOpsFaults())
                try await waitUntil("held webhooks") { recorder.received().count >= 6 }
                let events = try recorder.received().map { try provider.decodeWebhook($0.body).eventType }
                #expect(events == Self.documentedOrder)
            }
        }
    }

    // MARK: Errors

    @Test func rateLimitSurfacesRetryAfter() async throws {
        try await withAdapter(faults: AirOpsFaults(rateLimitedResponses: 1, retryAfter: .seconds(2))) { provider, simulator, _ in
            do {
                _ = try await provider.poll(providerBatchID: "batch_whatever")
                Issue.record("the 429 was not reported")
            } catch let error as ProviderError {
                #expect(error.code == .rateLimited)
                #expect(error.httpStatus == 429)
                #expect(error.retryAfter == .seconds(2))
                #expect(error.isRetryable)
            }
            #expect(simulator.faults().rateLimitedResponses == 0)
            await #expect(throws: ProviderError.self) { try await provider.poll(providerBatchID: "batch_whatever") }
        }
    }

    @Test func serviceUnavailableIsRetryable() async throws {
        try await withAdapter(faults: AirOpsFaults(unavailableResponses: 2)) { provider, simulator, _ in
            for _ in 0..<2 {
                do {
                    _ = try await submit(provider)
                    Issue.record("the 503 was not reported")
                } catch let error as ProviderError {
                    #expect(error.code == .unavailable)
                    #expect(error.httpStatus == 503)
                    #expect(error.message.contains("temporarily unavailable"))
                }
            }
            let outcome = try await submit(provider)
            #expect(outcome.providerBatchID.hasPrefix("batch_"))
            #expect(simulator.requestCount(AirOpsSimulator.Route.create) == 3)
        }
    }

    @Test func wrongTokenIsRejectedWithoutLeakingIt() async throws {
        let wrong = "sk_wrong_token_value"
        try await withAdapter(token: wrong) { provider, _, _ in
            do {
                _ = try await submit(provider)
                Issue.record("a wrong token was accepted")
            } catch let error as ProviderError {
                #expect(error.code == .rejected)
                #expect(error.httpStatus == 401)
                #expect(error.message.contains("Invalid or missing API key"))
                #expect(!error.message.contains(wrong))
                #expect(!error.description.contains(wrong))
                #expect(!error.isRetryable)
            }
        }
    }

    @Test func unknownBatchIsNotFound() async throws {
        try await withAdapter { provider, _, _ in
            await #expect(throws: ProviderError.self) { try await provider.poll(providerBatchID: "batch_missing") }
            do {
                _ = try await provider.poll(providerBatchID: "batch missing/../x")
                Issue.record("an unknown batch was found")
            } catch let error as ProviderError {
                #expect(error.code == .notFound)
                #expect(error.httpStatus == 404)
            }
            do {
                _ = try await provider.results(providerBatchID: "batch_missing", input: .urlBatch(URLBatchInput(urls: ["https://a.example"])))
                Issue.record("an unknown batch had results")
            } catch let error as ProviderError {
                #expect(error.code == .notFound)
            }
        }
    }

    @Test func slowVendorTimesOut() async throws {
        try await withAdapter(faults: AirOpsFaults(latency: .milliseconds(600)), timeout: .milliseconds(150)) { provider, _, _ in
            do {
                _ = try await provider.poll(providerBatchID: "batch_whatever")
                Issue.record("no timeout")
            } catch let error as ProviderError {
                #expect(error.code == .timeout, "\(error)")
            }
        }
    }

    @Test func unreachableVendorIsUnavailable() async throws {
        let client = try CurlHTTPClient()
        defer { client.shutdown() }
        // Port 9 (discard) is not served on loopback here: the connection is refused.
        let settings = ProviderSettings(
            name: "airops",
            kind: "olostep-airops",
            baseURL: "http://127.0.0.1:9",
            timeout: .seconds(2),
            options: ["token": .string("t")]
        )
        let provider = AirOpsProvider(settings: settings, context: ProviderContext(transport: client, logger: quietLogger))
        do {
            _ = try await provider.poll(providerBatchID: "batch_1")
            Issue.record("an unreachable vendor answered")
        } catch {
            #expect(error.code == .unavailable)
        }
    }

    @Test func nonJSONBodyIsBadResponse() async throws {
        let transport = CannedTransport(response: HTTPResponse(status: 200, body: Array("<html>oops</html>".utf8)))
        let settings = ProviderSettings(name: "airops", kind: "olostep-airops", baseURL: "http://127.0.0.1:1", options: ["token": .string("t")])
        let provider = AirOpsProvider(settings: settings, context: ProviderContext(transport: transport, logger: quietLogger))
        do {
            _ = try await provider.poll(providerBatchID: "batch_1")
            Issue.record("HTML was accepted")
        } catch {
            #expect(error.code == .badResponse)
        }
        do {
            _ = try await submit(provider)
            Issue.record("HTML was accepted")
        } catch let error as ProviderError {
            #expect(error.code == .badResponse)
        }
    }

    @Test(arguments: [
        (400, ProviderError.Code.rejected), (401, .rejected), (403, .rejected), (404, .notFound), (409, .rejected),
        (422, .rejected), (429, .rateLimited), (500, .unavailable), (502, .unavailable), (503, .unavailable), (302, .badResponse),
    ])
    func httpStatusMapping(_ status: Int, _ code: ProviderError.Code) async {
        let body = #"{"error":{"code":"E","message":"vendor says no to Bearer t0ken"}}"#
        let transport = CannedTransport(
            response: HTTPResponse(status: status, headers: [("Retry-After", "Wed, 21 Oct 2099 07:28:00 GMT")], body: Array(body.utf8))
        )
        let settings = ProviderSettings(name: "airops", kind: "olostep-airops", baseURL: "http://127.0.0.1:1", options: ["token": .string("t0ken")])
        let provider = AirOpsProvider(settings: settings, context: ProviderContext(transport: transport, logger: quietLogger))
        do {
            _ = try await provider.poll(providerBatchID: "batch_1")
            Issue.record("HTTP \(status) was accepted")
        } catch {
            #expect(error.code == code)
            #expect(error.httpStatus == status)
            #expect(!error.message.contains("t0ken"))
            if code != .badResponse {
                #expect(error.message.contains("vendor says no"))
                #expect(error.providerCode == "E")
            }
            if code == .rateLimited { #expect((error.retryAfter ?? .zero) > .seconds(86_400)) }
        }
    }

    @Test(arguments: [
        (TransportError.Code.timeout, ProviderError.Code.timeout), (.connection, .unavailable), (.cancelled, .unavailable),
        (.invalidRequest, .rejected),
    ])
    func transportErrorMapping(_ transportCode: TransportError.Code, _ code: ProviderError.Code) async {
        let settings = ProviderSettings(name: "airops", kind: "olostep-airops", baseURL: "http://127.0.0.1:1", options: ["token": .string("t")])
        let provider = AirOpsProvider(
            settings: settings,
            context: ProviderContext(transport: FailingTransport(code: transportCode), logger: quietLogger)
        )
        do {
            _ = try await provider.poll(providerBatchID: "batch_1")
            Issue.record("no error")
        } catch {
            #expect(error.code == code)
        }
    }

    @Test func submitSendsTheDocumentedRequest() async throws {
        let created = try fixture("airops/create-response.json")
        let transport = CannedTransport(response: HTTPResponse(status: 200, body: created))
        let settings = ProviderSettings(
            name: "airops",
            kind: "olostep-airops",
            baseURL: "https://api.olostep.example//",
            timeout: .seconds(7),
            options: ["token": .string("sk_live")]
        )
        let provider = AirOpsProvider(settings: settings, context: ProviderContext(transport: transport, logger: quietLogger))
        let input = JobInput.urlBatch(URLBatchInput(urls: ["https://a.example", "https://b.example"], brands: ["Acme"], country: "US"))
        let outcome = try await provider.submit(Submission(jobID: "job_1", input: input, webhookURL: "https://gw.example/hook"))
        #expect(outcome.providerBatchID == "batch_abc123xyz")
        #expect(outcome.observation?.lifecycle == .running)
        let request = try #require(transport.requests().first)
        #expect(request.method == "POST")
        #expect(request.url == "https://api.olostep.example/v1/batches-airops")
        #expect(request.timeout == .seconds(7))
        #expect(request.headers.contains { $0.name == "Authorization" && $0.value == "Bearer sk_live" })
        let sent = try JSONDecoder().decode(JSONValue.self, from: Data(try #require(request.body)))
        #expect(
            sent
                == .object([
                    "items": .array([
                        .object(["url": .string("https://a.example"), "custom_id": .string("item-0")]),
                        .object(["url": .string("https://b.example"), "custom_id": .string("item-1")]),
                    ]),
                    "brands": .array([.string("Acme")]), "country": .string("US"), "webhook": .string("https://gw.example/hook"),
                ])
        )

        _ = try? await provider.poll(providerBatchID: "batch/1 2")
        #expect(transport.requests().last?.url == "https://api.olostep.example/v1/batches-airops/batch%2F1%202")
    }
}

/// Answers every request with one canned response and remembers the requests.
final class CannedTransport: HTTPTransport {
    let response: HTTPResponse
    private let sent = LockedRequests()

    init(response: HTTPResponse) { self.response = response }

    func send(_ request: HTTPRequest) async throws(TransportError) -> HTTPResponse {
        sent.append(request)
        return response
    }

    func requests() -> [HTTPRequest] { sent.all() }
}

/// Fails every request with one transport error.
struct FailingTransport: HTTPTransport {
    var code: TransportError.Code
    func send(_ request: HTTPRequest) async throws(TransportError) -> HTTPResponse {
        throw TransportError(code, "simulated \(code.rawValue)")
    }
}

final class LockedRequests: Sendable {
    private let requests = Mutex<[HTTPRequest]>([])
    func append(_ request: HTTPRequest) { requests.withLock { $0.append(request) } }
    func all() -> [HTTPRequest] { requests.withLock { $0 } }
}
