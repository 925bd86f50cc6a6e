import BatchGateCore
import BatchGateProviders
import BatchGateSimulators
import BatchGateTransport
import Testing

/// The adapter against the Aitronos simulator over loopback, through the gateway's libcurl client.
@Suite(.timeLimit(.minutes(1))) struct AitronosAdapterTests {
    static let apiKey = "ait_test_secret_key"

    static let urls = [
        "https://shop.example/products/kettle", "https://news.example/blog/launch", "https://broken.example/fail/page",
        "https://docs.example/docs/setup", "https://www.example.com/",
    ]

    struct Setup: Sendable {
        var authStyle: AitronosSimulator.AuthStyle = .bearer
        var simulatorPrefix = ""
        var perURLDuration: Duration = .milliseconds(60)
        var parallelJobs = 2
        var faults = AitronosFaults()
        /// Adapter options beyond `api_key`.
        var options: [String: ConfigValue] = [:]
        var apiKey = AitronosAdapterTests.apiKey
        var timeout: Duration = .seconds(5)
    }

    /// Runs `body` with a libcurl client, a simulator and an adapter pointed at it.
    func withAdapter(_ setup: Setup = Setup(), _ body: (AitronosProvider, AitronosSimulator) async throws -> Void) async throws {
        let client = try CurlHTTPClient()
        defer { client.shutdown() }
        let configuration = AitronosSimulator.Configuration(
            apiKey: Self.apiKey,
            authStyle: setup.authStyle,
            pathPrefix: setup.simulatorPrefix,
            perURLDuration: setup.perURLDuration,
            parallelJobs: setup.parallelJobs,
            faults: setup.faults
        )
        try await withAitronosSimulator(configuration) { baseURL, simulator in
            let settings = AitronosFixtures.settings(baseURL: baseURL + "/", apiKey: setup.apiKey, timeout: setup.timeout, options: setup.options)
            try await body(AitronosFixtures.provider(client, settings: settings), simulator)
        }
    }

    /// Polls until the job is terminal, folding every observation; returns the final state, the percents
    /// and the lifecycles seen.
    func pollToTerminal(_ provider: AitronosProvider, _ batchID: String) async throws -> (JobState, [Int], [LifecycleStatus]) {
        var state = JobState()
        var percents: [Int] = []
        var seen: [LifecycleStatus] = []
        try await waitUntil("batch \(batchID) to finish") {
            let observation = try await provider.poll(providerBatchID: batchID)
            seen.append(observation.lifecycle)
            state = JobStateMachine.apply(observation, to: state, at: .now())
            percents.append(state.progress.percent)
            return state.lifecycle.isTerminal
        }
        return (state, percents, seen)
    }

    func submit(
        _ provider: AitronosProvider,
        urls: [String] = urls,
        customIDs: [String]? = nil,
        options: JSONValue? = nil
    ) async throws -> SubmitOutcome {
        let input = AitronosFixtures.input(urls, customIDs: customIDs, options: options)
        try provider.validate(input)
        return try await provider.submit(Submission(jobID: "job_test", input: input, webhookURL: nil))
    }

    @Test func submitPollAndResultsThroughCompletion() async throws {
        var setup = Setup()
        // Slow enough (about 4 s in all) that polls see the batch running even on a loaded machine.
        setup.perURLDuration = .seconds(2)
        try await withAdapter(setup) { provider, simulator in
            let ids = ["kettle", "launch", "broken", "setup", "home"]
            let outcome = try await submit(provider, customIDs: ids, options: ["max_items_per_url": 2])
            #expect(outcome.providerBatchID.hasPrefix("batch_"))
            #expect(outcome.observation == ProviderObservation(lifecycle: .pending, providerStatus: "pending", total: 5))
            let created = try #require(simulator.createdBatches().first)
            #expect(created.id == outcome.providerBatchID)
            #expect(created.urls == Self.urls)

            let (state, percents, seen) = try await pollToTerminal(provider, outcome.providerBatchID)
            #expect(state.lifecycle == .completed)
            #expect(state.providerStatus == "completed")
            #expect(seen.contains(.running))
            #expect(seen.map(\.rank) == seen.map(\.rank).sorted())
            #expect(percents == percents.sorted())
            #expect(state.progress == BatchProgress(total: 5, succeeded: 4, failed: 1, pending: 0, percent: 100))
            #expect(state.error == nil)

            let input = AitronosFixtures.input(Self.urls, customIDs: ids)
            let results = try await provider.results(providerBatchID: outcome.providerBatchID, input: input)
            #expect(results.map(\.index) == Array(0..<5))
            #expect(results.map(\.key) == ids)
            #expect(results.map(\.status) == [.succeeded, .succeeded, .failed, .succeeded, .succeeded])
            #expect(results[2].error?.code == "SCRAPE_FAILED")
            #expect(results[2].error?.message.contains("broken.example/fail/page") == true)
            for result in results where result.status == .succeeded {
                guard case .array(let items)? = result.data?["extracted_data"] else {
                    Issue.record("no extracted_data for \(result.key)")
                    continue
                }
                #expect((1...2).contains(items.count))
                #expect(items.allSatisfy { $0["title"]?.stringValue != nil && $0["content"]?.stringValue != nil })
                let metadata = result.data?["metadata"]
                for field in ["processing_time", "engine_used", "llm_calls", "cache_hit"] { #expect(metadata?[field] != nil, "\(field)") }
            }
            #expect(simulator.requestCount(AitronosSimulator.Route.create) == 1)
            #expect(simulator.requestCount(AitronosSimulator.Route.job) == 5)

            // Same URLs, same content: the simulator derives it from the URL.
            let again = try await provider.results(providerBatchID: outcome.providerBatchID, input: input)
            #expect(again == results)
        }
    }

    @Test func resultsBeforeTheEndArePendingAndDuplicatesMatchInOrder() async throws {
        var setup = Setup()
        // Long enough that the first job cannot finish before the early read, even on a loaded machine.
        setup.perURLDuration = .seconds(2)
        setup.parallelJobs = 3
        try await withAdapter(setup) { provider, simulator in
            let urls = ["https://a.example/one", "https://b.example/two", "https://a.example/one"]
            let outcome = try await submit(provider, urls: urls)
            let early = try await provider.results(providerBatchID: outcome.providerBatchID, input: AitronosFixtures.input(urls))
            #expect(early.map(\.status) == [.pending, .pending, .pending])
            #expect(simulator.requestCount(AitronosSimulator.Route.job) == 0)

            _ = try await pollToTerminal(provider, outcome.providerBatchID)
            let results = try await provider.results(providerBatchID: outcome.providerBatchID, input: AitronosFixtures.input(urls))
            #expect(results.map(\.status) == [.succeeded, .succeeded, .succeeded])
            #expect(results.map(\.key) == urls)
            #expect(results[0].data == results[2].data)
            #expect(results[0].data != results[1].data)
            #expect(simulator.requestCount(AitronosSimulator.Route.job) == 3)
        }
    }

    @Test func everyURLFailingFailsTheBatch() async throws {
        try await withAdapter { provider, _ in
            let urls = ["https://a.example/fail/1", "https://b.example/fail/2"]
            let outcome = try await submit(provider, urls: urls)
            let (state, _, _) = try await pollToTerminal(provider, outcome.providerBatchID)
            #expect(state.lifecycle == .failed)
            #expect(state.providerStatus == "failed")
            #expect(state.error?.code == "provider_failed")
            #expect(state.progress == BatchProgress(total: 2, succeeded: 0, failed: 2, pending: 0, percent: 100))
        }
    }

    @Test(arguments: AitronosSimulator.AuthStyle.allCases)
    func bothAuthStyles(_ style: AitronosSimulator.AuthStyle) async throws {
        var setup = Setup()
        setup.authStyle = style
        setup.options = ["auth": .string(style.rawValue)]
        try await withAdapter(setup) { provider, simulator in
            let outcome = try await submit(provider, urls: ["https://a.example/x"])
            let (state, _, _) = try await pollToTerminal(provider, outcome.providerBatchID)
            #expect(state.lifecycle == .completed)
            #expect(simulator.createdBatches().count == 1)
        }
        // The other style is refused by the vendor.
        setup.options = ["auth": .string(style == .bearer ? "x-api-key" : "bearer")]
        try await withAdapter(setup) { provider, simulator in
            do {
                _ = try await submit(provider, urls: ["https://a.example/x"])
                Issue.record("the wrong auth style was accepted")
            } catch let error as ProviderError {
                #expect(error.code == .rejected)
                #expect(error.httpStatus == 401)
            }
            #expect(simulator.createdBatches().isEmpty)
        }
    }

    @Test func pathPrefix() async throws {
        var setup = Setup()
        setup.simulatorPrefix = "/api"
        setup.options = ["path_prefix": .string("/api")]
        try await withAdapter(setup) { provider, simulator in
            let outcome = try await submit(provider, urls: ["https://a.example/x", "https://b.example/fail"])
            let (state, _, _) = try await pollToTerminal(provider, outcome.providerBatchID)
            #expect(state.lifecycle == .completed)
            let results = try await provider.results(
                providerBatchID: outcome.providerBatchID,
                input: AitronosFixtures.input(["https://a.example/x", "https://b.example/fail"])
            )
            #expect(results.map(\.status) == [.succeeded, .failed])
            #expect(simulator.requestCount(AitronosSimulator.Route.job) == 2)
        }
        // Without the prefix the vendor has no such route.
        setup.options = [:]
        try await withAdapter(setup) { provider, simulator in
            do {
                _ = try await submit(provider, urls: ["https://a.example/x"])
                Issue.record("a create without the prefix succeeded")
            } catch let error as ProviderError {
                #expect(error.code == .notFound)
                #expect(error.httpStatus == 404)
            }
            #expect(simulator.createdBatches().isEmpty)
        }
    }

    @Test func rateLimitedWithRetryAfter() async throws {
        try await withAdapter { provider, simulator in
            let outcome = try await submit(provider, urls: ["https://a.example/x"])
            simulator.setFaults(AitronosFaults(rateLimitedResponses: 1, retryAfter: .milliseconds(1500)))
            do {
                _ = try await provider.poll(providerBatchID: outcome.providerBatchID)
                Issue.record("the 429 was not reported")
            } catch let error as ProviderError {
                #expect(error.code == .rateLimited)
                #expect(error.httpStatus == 429)
                #expect(error.retryAfter == .seconds(2))
                #expect(error.providerCode == "rate_limit_exceeded")
                #expect(error.isRetryable)
            }
            _ = try await provider.poll(providerBatchID: outcome.providerBatchID)
            #expect(simulator.requestCount(AitronosSimulator.Route.progress) == 2)
        }
    }

    @Test func unavailable() async throws {
        var setup = Setup()
        setup.faults = AitronosFaults(unavailableResponses: 2)
        try await withAdapter(setup) { provider, simulator in
            for _ in 0..<2 {
                do {
                    _ = try await submit(provider, urls: ["https://a.example/x"])
                    Issue.record("the 503 was not reported")
                } catch let error as ProviderError {
                    #expect(error.code == .unavailable)
                    #expect(error.httpStatus == 503)
                    #expect(error.isRetryable)
                }
            }
            #expect(simulator.createdBatches().isEmpty)
            _ = try await submit(provider, urls: ["https://a.example/x"])
            #expect(simulator.createdBatches().count == 1)
            #expect(simulator.requestCount(AitronosSimulator.Route.create) == 3)
        }
    }

    @Test func wrongKeyIsRejectedWithoutEchoingIt() async throws {
        var setup = Setup()
        setup.apiKey = "ait_wrong_key_123"
        try await withAdapter(setup) { provider, simulator in
            do {
                _ = try await submit(provider, urls: ["https://a.example/x"])
                Issue.record("a wrong key was accepted")
            } catch let error as ProviderError {
                #expect(error.code == .rejected)
                #expect(error.httpStatus == 401)
                #expect(error.providerCode == "unauthorized")
                #expect(!error.description.contains("ait_wrong_key_123"))
                #expect(!error.isRetryable)
            }
            #expect(simulator.createdBatches().isEmpty)
        }
    }

    @Test func unknownBatchIsNotFound() async throws {
        try await withAdapter { provider, _ in
            do {
                _ = try await provider.poll(providerBatchID: "batch_does_not_exist")
                Issue.record("an unknown batch was found")
            } catch let error as ProviderError {
                #expect(error.code == .notFound)
                #expect(error.httpStatus == 404)
            }
            do {
                _ = try await provider.results(providerBatchID: "batch_does_not_exist", input: AitronosFixtures.input(["https://a.example"]))
                Issue.record("results of an unknown batch")
            } catch let error as ProviderError {
                #expect(error.code == .notFound)
            }
        }
    }

    /// The batch exists although the client saw a timeout: the engine must not assume nothing was created.
    @Test func slowCreateTimesOutAfterTheBatchWasCreated() async throws {
        var setup = Setup()
        setup.faults = AitronosFaults(slowCreates: 1, slowCreateDelay: .seconds(120))
        // Short enough to time out on the held answer (120 s), long enough for a prompt one on a loaded machine.
        setup.timeout = .seconds(10)
        let started = ContinuousClock.now
        try await withAdapter(setup) { provider, simulator in
            do {
                _ = try await submit(provider, urls: ["https://a.example/slow", "https://b.example/slow"])
                Issue.record("the slow create answered in time")
            } catch let error as ProviderError {
                #expect(error.code == .timeout)
                #expect(error.isRetryable)
            }
            let created = simulator.createdBatches()
            #expect(created.count == 1)
            #expect(created.first?.urls == ["https://a.example/slow", "https://b.example/slow"])
            #expect(simulator.faults().slowCreates == 0)

            // The next create answers at once.
            let outcome = try await submit(provider, urls: ["https://c.example/fast"])
            #expect(simulator.createdBatches().map(\.id).last == outcome.providerBatchID)
        }
        // Stopping the simulator cut the held answer short: far sooner than the 120 s it holds it for.
        #expect(ContinuousClock.now - started < .seconds(60))
    }

    @Test func unreachableVendorIsUnavailable() async throws {
        let client = try CurlHTTPClient()
        defer { client.shutdown() }
        // Port 9 (discard) is not listening on loopback here: the connection is refused.
        let provider = AitronosFixtures.provider(client, settings: AitronosFixtures.settings(baseURL: "http://127.0.0.1:9", timeout: .seconds(2)))
        do {
            _ = try await provider.poll(providerBatchID: "batch_1")
            Issue.record("an unreachable vendor answered")
        } catch {
            #expect(error.code == .unavailable)
        }
    }
}
