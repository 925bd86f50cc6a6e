import BatchGateCore
import Synchronization
import Testing

@testable import BatchGateProviders

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Input validation, configuration, and the adapter's requests and error mapping against scripted transports.
@Suite struct AitronosValidateTests {
    let provider = AitronosFixtures.provider(RoutedTransport(body: []))

    struct Row: Sendable, CustomTestStringConvertible {
        var name: String
        var input: JobInput
        var field: String
        var testDescription: String { name }
    }

    static func urls(_ urls: [String], ids: [String]? = nil, schema: JSONValue? = AitronosFixtures.schema, options: JSONValue? = nil) -> JobInput {
        AitronosFixtures.input(urls, customIDs: ids, schema: schema, options: options)
    }

    static func options(_ options: JSONValue) -> JobInput { urls(["https://a.example"], options: options) }

    @Test(arguments: [
        Row(name: "no URLs", input: urls([]), field: "input.urls"),
        Row(name: "relative URL", input: urls(["https://a.example/", "/path"]), field: "input.urls[1]"),
        Row(name: "ftp URL", input: urls(["ftp://a.example/file"]), field: "input.urls[0]"),
        Row(name: "no host", input: urls(["https://a.example", "https:///nohost"]), field: "input.urls[1]"),
        Row(name: "space in URL", input: urls(["https://a.example/a b"]), field: "input.urls[0]"),
        Row(name: "fewer custom ids", input: urls(["https://a.example", "https://b.example"], ids: ["x"]), field: "input.custom_ids"),
        Row(name: "empty custom id", input: urls(["https://a.example", "https://b.example"], ids: ["x", ""]), field: "input.custom_ids[1]"),
        Row(name: "schema missing", input: urls(["https://a.example"], schema: nil), field: "input.schema"),
        Row(name: "schema null", input: urls(["https://a.example"], schema: .null), field: "input.schema"),
        Row(name: "schema a string", input: urls(["https://a.example"], schema: "title"), field: "input.schema"),
        Row(name: "schema an array", input: urls(["https://a.example"], schema: ["title"]), field: "input.schema"),
        Row(name: "options an array", input: options([1]), field: "input.options"),
        Row(name: "max_items_per_url 0", input: options(["max_items_per_url": 0]), field: "input.options.max_items_per_url"),
        Row(name: "max_items_per_url 501", input: options(["max_items_per_url": 501]), field: "input.options.max_items_per_url"),
        Row(name: "max_total_items 0", input: options(["max_total_items": 0]), field: "input.options.max_total_items"),
        Row(name: "max_total_items 5001", input: options(["max_total_items": 5001]), field: "input.options.max_total_items"),
        Row(name: "parallel_jobs 0", input: options(["parallel_jobs": 0]), field: "input.options.parallel_jobs"),
        Row(name: "parallel_jobs 11", input: options(["parallel_jobs": 11]), field: "input.options.parallel_jobs"),
        Row(name: "timeout_per_url 0", input: options(["timeout_per_url": 0]), field: "input.options.timeout_per_url"),
        Row(name: "timeout_per_url 301", input: options(["timeout_per_url": 301]), field: "input.options.timeout_per_url"),
        Row(name: "parallel_jobs 2.5", input: options(["parallel_jobs": .number(2.5)]), field: "input.options.parallel_jobs"),
        Row(name: "parallel_jobs a string", input: options(["parallel_jobs": "3"]), field: "input.options.parallel_jobs"),
        Row(name: "max_total_items null", input: options(["max_total_items": nil]), field: "input.options.max_total_items"),
        Row(name: "date_filter a string", input: options(["date_filter": "2024"]), field: "input.options.date_filter"),
        Row(name: "llm_mode a number", input: options(["llm_mode": 1]), field: "input.options.llm_mode"),
        Row(name: "llm_mode empty", input: options(["llm_mode": ""]), field: "input.options.llm_mode"),
        Row(name: "unknown option", input: options(["parallel_jobs": 3, "max_pages": 2]), field: "input.options.max_pages"),
        Row(
            name: "document tagging",
            input: .documentTagging(DocumentTaggingInput(documents: [TaggingDocument(title: "t", filePath: "p", fileSourceType: "url")])),
            field: "input"
        ),
    ])
    func rejects(_ row: Row) {
        do {
            try provider.validate(row.input)
            Issue.record("accepted \(row.name)")
        } catch {
            #expect(error.field == row.field)
            #expect(error.status == 400)
            #expect(error.code == "invalid_request")
            #expect(!error.message.isEmpty)
        }
    }

    @Test func unknownOptionIsNamed() {
        #expect(throws: GatewayError.self) { try provider.validate(Self.options(["max_pages": 2])) }
        do {
            try provider.validate(Self.options(["max_pages": 2]))
        } catch {
            #expect(error.message.contains("`max_pages`"))
        }
    }

    static let manyURLs = (0..<120).map { "https://site.example/page/\($0)" }

    @Test(arguments: [
        urls(["https://a.example/blog/post?x=1#frag"]),
        urls(["HTTP://A.EXAMPLE:8080/x", "https://a.example"], ids: ["a", "b"]),
        urls(["https://a.example", "https://a.example"]),
        urls(Array(manyURLs.prefix(51))),
        urls(manyURLs, ids: manyURLs.indices.map { "id-\($0)" }),
        urls(["https://a.example"], schema: [:]),
        urls(["https://a.example"], options: nil),
        urls(["https://a.example"], options: .null),
        options([:]),
        options([
            "max_items_per_url": 500, "max_total_items": 5000, "parallel_jobs": 10, "timeout_per_url": 300, "date_filter": nil,
            "llm_mode": "structured",
        ]),
        options(["max_items_per_url": 1, "max_total_items": 1, "parallel_jobs": 1, "timeout_per_url": 1, "date_filter": ["after": "2024-01-01"]]),
        options(["parallel_jobs": .number(3.0)]),
    ])
    func accepts(_ input: JobInput) throws {
        try provider.validate(input)
    }

    @Test func capabilitiesAndSpec() {
        #expect(AitronosProvider.kindSpec.kind == "aitronos-scrape")
        #expect(AitronosProvider.kindSpec.jobKinds == [.urlBatch])
        #expect(
            AitronosProvider.kindSpec.options == [
                ProviderOptionSpec("api_key", .string, required: true),
                ProviderOptionSpec("auth", .string, allowedValues: ["bearer", "x-api-key"]),
                ProviderOptionSpec("path_prefix", .string),
                ProviderOptionSpec("default_schema", .jsonObject),
            ]
        )
        #expect(provider.capabilities == ProviderCapabilities(jobKinds: [.urlBatch], canCancel: false, maxItemsPerBatch: 50, receivesWebhooks: false))
        #expect(provider.name == "aitronos")
        #expect(provider.kind == "aitronos-scrape")
        #expect(provider.pollInterval == .milliseconds(20))
        #expect(ProviderRegistry.standard.entries["aitronos-scrape"]?.spec == AitronosProvider.kindSpec)
        let built = ProviderRegistry.standard.makeProvider(
            AitronosFixtures.settings(),
            context: ProviderContext(transport: RoutedTransport(body: []), logger: quietLogger)
        )
        #expect(built is AitronosProvider)
    }

    @Test func cancelAndWebhooksAreNotSupported() async {
        await #expect(throws: ProviderError(.notSupported, "Aitronos batches cannot be cancelled.")) {
            try await provider.cancel(providerBatchID: "batch_1")
        }
        #expect(throws: ProviderError(.notSupported, "Aitronos sends no webhooks.")) {
            try provider.decodeWebhook(Array("{}".utf8))
        }
    }

    // MARK: Requests

    struct AuthRow: Sendable, CustomTestStringConvertible {
        var auth: String?
        var header: String
        var value: String
        var testDescription: String { auth ?? "default" }
    }

    @Test(arguments: [
        AuthRow(auth: nil, header: "Authorization", value: "Bearer sk_live"),
        AuthRow(auth: "bearer", header: "Authorization", value: "Bearer sk_live"),
        AuthRow(auth: "x-api-key", header: "X-API-Key", value: "sk_live"),
    ])
    func submitSendsTheDocumentedRequest(_ row: AuthRow) async throws {
        let transport = RoutedTransport(body: try fixture("aitronos/create-response.json"))
        var options: [String: ConfigValue] = ["path_prefix": .string("/api/")]
        if let auth = row.auth { options["auth"] = .string(auth) }
        let provider = AitronosFixtures.provider(
            transport,
            settings: AitronosFixtures.settings(baseURL: "https://api.aitronos.example//", apiKey: "sk_live", timeout: .seconds(7), options: options)
        )
        let input = AitronosFixtures.input(
            ["https://example.com/page1", "https://example.com/page2", "https://example.com/page3"],
            customIDs: ["a", "b", "c"],
            options: ["max_items_per_url": 50, "parallel_jobs": 3]
        )
        try provider.validate(input)
        let outcome = try await provider.submit(Submission(jobID: "job_1", input: input, webhookURL: "https://gw.example/ignored"))
        #expect(outcome.providerBatchID == "batch_xyz789")
        #expect(outcome.observation == ProviderObservation(lifecycle: .pending, providerStatus: "pending", total: 3))

        let request = try #require(transport.requests().first)
        #expect(request.method == "POST")
        #expect(request.url == "https://api.aitronos.example/api/v1/scrape/batch")
        #expect(request.timeout == .seconds(7))
        #expect(request.headers.contains { $0.name == row.header && $0.value == row.value })
        #expect(request.headers.filter { $0.value.contains("sk_live") }.count == 1)
        #expect(request.headers.contains { $0.name == "Content-Type" && $0.value == "application/json" })
        let sent = try JSONDecoder().decode(JSONValue.self, from: Data(try #require(request.body)))
        #expect(
            sent == [
                "urls": ["https://example.com/page1", "https://example.com/page2", "https://example.com/page3"],
                "schema": AitronosFixtures.schema, "options": ["max_items_per_url": 50, "parallel_jobs": 3],
            ]
        )

        _ = try? await provider.poll(providerBatchID: "batch/1 2")
        #expect(transport.requests().last?.url == "https://api.aitronos.example/api/v1/scrape/batch/batch%2F1%202/progress")
        #expect(transport.requests().last?.method == "GET")
        #expect(transport.requests().last?.body == nil)
    }

    @Test func submitOmitsAbsentOptions() async throws {
        let transport = RoutedTransport(body: try fixture("aitronos/create-response.json"))
        let provider = AitronosFixtures.provider(transport)
        _ = try await provider.submit(Submission(jobID: "j", input: AitronosFixtures.input(["https://a.example"], options: .null), webhookURL: nil))
        let sent = try JSONDecoder().decode(JSONValue.self, from: Data(try #require(transport.requests().first?.body)))
        #expect(sent == ["urls": ["https://a.example"], "schema": AitronosFixtures.schema])
    }

    @Test func aDefaultSchemaServesInputsWithoutOne() async throws {
        let fallback: JSONValue = ["type": "object", "properties": ["page_type": ["type": "string"]]]
        let transport = RoutedTransport(body: try fixture("aitronos/create-response.json"))
        let provider = AitronosFixtures.provider(
            transport,
            settings: AitronosFixtures.settings(options: ["default_schema": .json(fallback)])
        )
        let bare = AitronosFixtures.input(["https://a.example"], schema: nil)
        try provider.validate(bare)
        _ = try await provider.submit(Submission(jobID: "j", input: bare, webhookURL: nil))
        let sent = try JSONDecoder().decode(JSONValue.self, from: Data(try #require(transport.requests().first?.body)))
        #expect(sent == ["urls": ["https://a.example"], "schema": fallback])
        // A schema the input brings wins over the default.
        _ = try await provider.submit(Submission(jobID: "k", input: AitronosFixtures.input(["https://b.example"]), webhookURL: nil))
        let second = try JSONDecoder().decode(JSONValue.self, from: Data(try #require(transport.requests().last?.body)))
        #expect(second["schema"] == AitronosFixtures.schema)
        // Without a default, an input with no schema is refused, naming the option that would help.
        #expect(throws: GatewayError.self) { try self.provider.validate(bare) }
        do {
            try self.provider.validate(bare)
        } catch {
            #expect(error.field == "input.schema")
            #expect(error.message.contains("default_schema"))
        }
    }

    @Test(arguments: [0, 51, 120])
    func submitRefusesChunksOutsideOneToFifty(_ count: Int) async {
        let transport = RoutedTransport(body: [])
        let provider = AitronosFixtures.provider(transport)
        let input = AitronosFixtures.input(Array(Self.manyURLs.prefix(count)))
        do {
            _ = try await provider.submit(Submission(jobID: "j", input: input, webhookURL: nil))
            Issue.record("submitted \(count) URLs")
        } catch {
            #expect(error.code == .rejected)
            #expect(error.message.contains("\(count)"))
        }
        #expect(transport.requests().isEmpty)
    }

    @Test func submitWithoutBatchIDIsBadResponse() async {
        let provider = AitronosFixtures.provider(RoutedTransport(body: Array(#"{"total_urls":1,"jobs":[]}"#.utf8)))
        do {
            _ = try await provider.submit(Submission(jobID: "j", input: AitronosFixtures.input(["https://a.example"]), webhookURL: nil))
            Issue.record("accepted a create response without batch_id")
        } catch {
            #expect(error.code == .badResponse)
            #expect(error.message.contains("batch_id"))
        }
    }

    @Test(arguments: [("api", "must be empty or start with"), ("/a b", "plain path"), ("/api?x", "plain path")])
    func badPathPrefixRefusesEveryCallWithoutSending(_ prefix: String, _ mentions: String) async {
        let transport = RoutedTransport(body: [])
        let provider = AitronosFixtures.provider(transport, settings: AitronosFixtures.settings(options: ["path_prefix": .string(prefix)]))
        do {
            _ = try await provider.poll(providerBatchID: "b")
            Issue.record("polled with path_prefix \(prefix)")
        } catch {
            #expect(error.code == .rejected)
            #expect(error.message.contains("providers.aitronos.path_prefix"))
            #expect(error.message.contains(mentions))
        }
        #expect(transport.requests().isEmpty)
        #expect(AitronosProvider.pathPrefixProblem(prefix) != nil)
    }

    @Test(arguments: ["", "/api", "/api/v2/"])
    func goodPathPrefixes(_ prefix: String) {
        #expect(AitronosProvider.pathPrefixProblem(prefix) == nil)
    }

    @Test func unknownAuthStyleRefusesEveryCall() async {
        let transport = RoutedTransport(body: [])
        let provider = AitronosFixtures.provider(transport, settings: AitronosFixtures.settings(options: ["auth": .string("basic")]))
        await #expect(throws: ProviderError.self) { try await provider.poll(providerBatchID: "b") }
        #expect(transport.requests().isEmpty)
    }

    // MARK: Error mapping

    @Test(arguments: [
        (400, ProviderError.Code.rejected), (401, .rejected), (403, .rejected), (404, .notFound), (409, .rejected),
        (422, .rejected), (429, .rateLimited), (500, .unavailable), (502, .unavailable), (503, .unavailable), (302, .badResponse),
    ])
    func httpStatusMapping(_ status: Int, _ code: ProviderError.Code) async {
        let body = #"{"success":false,"error":{"code":"E","message":"vendor says no to key sk_secret_1"}}"#
        let transport = RoutedTransport(status: status, headers: [("Retry-After", "Wed, 21 Oct 2099 07:28:00 GMT")], body: Array(body.utf8))
        let provider = AitronosFixtures.provider(transport, settings: AitronosFixtures.settings(apiKey: "sk_secret_1"))
        do {
            _ = try await provider.poll(providerBatchID: "batch_1")
            Issue.record("HTTP \(status) was accepted")
        } catch {
            #expect(error.code == code)
            #expect(error.httpStatus == status)
            #expect(!error.message.contains("sk_secret_1"))
            if code != .badResponse {
                #expect(error.message.contains("vendor says no to key [redacted]"))
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
        let transport = RoutedTransport { _ throws(TransportError) in throw TransportError(transportCode, "simulated") }
        let provider = AitronosFixtures.provider(transport)
        do {
            _ = try await provider.poll(providerBatchID: "batch_1")
            Issue.record("no error")
        } catch {
            #expect(error.code == code)
        }
    }

    @Test func nonJSONBodyIsBadResponse() async {
        let provider = AitronosFixtures.provider(RoutedTransport(body: Array("<html>oops</html>".utf8)))
        await #expect(throws: ProviderError.self) { try await provider.poll(providerBatchID: "b") }
        do {
            _ = try await provider.submit(Submission(jobID: "j", input: AitronosFixtures.input(["https://a.example"]), webhookURL: nil))
            Issue.record("HTML was accepted")
        } catch {
            #expect(error.code == .badResponse)
        }
    }

    // MARK: Results against a scripted vendor

    /// A vendor whose progress lists `urls` as jobs `job_<i>` with `status(i)`; job details answer after `delay`.
    static func scriptedVendor(
        urls: [String],
        status: @escaping @Sendable (Int) -> String,
        delay: Duration = .zero,
        inFlight: InFlightCounter? = nil,
        missingJob: Int? = nil
    ) -> RoutedTransport {
        RoutedTransport { request throws(TransportError) in
            if request.url.hasSuffix("/progress") {
                let jobs = urls.indices.map { #"{"job_id":"job_\#($0)","url":"\#(urls[$0])","status":"\#(status($0))"}"# }
                let body = #"{"success":true,"data":{"batch_id":"b","total_urls":\#(urls.count),"jobs":[\#(jobs.joined(separator: ","))]}}"#
                return HTTPResponse(status: 200, body: Array(body.utf8))
            }
            guard let index = request.url.split(separator: "job_").last.flatMap({ Int($0) }) else {
                return HTTPResponse(status: 400, body: [])
            }
            inFlight?.enter()
            defer { inFlight?.leave() }
            if delay > .zero {
                do { try await Task.sleep(for: delay) } catch { throw TransportError(.cancelled, "cancelled") }
            }
            if index == missingJob { return HTTPResponse(status: 404, body: Array(#"{"detail":"Job not found"}"#.utf8)) }
            let body = #"{"job_id":"job_\#(index)","status":"\#(status(index))","extracted_data":[{"n":\#(index)}],"metadata":{"llm_calls":1}}"#
            return HTTPResponse(status: 200, body: Array(body.utf8))
        }
    }

    @Test func resultsFetchFinishedJobsWithBoundedConcurrency() async throws {
        let urls = (0..<50).map { "https://site.example/p\($0)" }
        let inFlight = InFlightCounter()
        let transport = Self.scriptedVendor(
            urls: urls,
            status: { $0 % 10 == 9 ? "processing" : ($0 % 10 == 3 ? "failed" : "completed") },
            delay: .milliseconds(15),
            inFlight: inFlight
        )
        let provider = AitronosFixtures.provider(transport)
        let results = try await provider.results(providerBatchID: "b", input: AitronosFixtures.input(urls))
        #expect(results.map(\.index) == Array(0..<50))
        #expect(results.map(\.key) == urls)
        for result in results {
            switch result.index % 10 {
            case 9: #expect(result.status == .pending)
            case 3: #expect(result.status == .failed && result.error?.code == "SCRAPE_FAILED")
            default: #expect(result.data == ["extracted_data": [["n": .number(Double(result.index))]], "metadata": ["llm_calls": 1]])
            }
        }
        // One progress request, then details only for the 45 finished jobs, never more than 8 at once.
        #expect(transport.requests().count == 1 + 45)
        let peak = inFlight.peak()
        #expect(peak <= AitronosProvider.detailConcurrency)
        #expect(peak > 1)
    }

    @Test func jobMissingFromTheVendorIsRetryable() async {
        let urls = ["https://a.example", "https://b.example"]
        let provider = AitronosFixtures.provider(Self.scriptedVendor(urls: urls, status: { _ in "completed" }, missingJob: 1))
        do {
            _ = try await provider.results(providerBatchID: "b", input: AitronosFixtures.input(urls))
            Issue.record("results ignored a missing job")
        } catch {
            #expect(error.code == .unavailable)
            #expect(error.message.contains("job_1"))
        }
    }
}

/// Counts requests in flight and remembers the most seen at once.
final class InFlightCounter: Sendable {
    private let state = Mutex<(now: Int, max: Int)>((0, 0))

    func enter() {
        state.withLock {
            $0.now += 1
            $0.max = max($0.max, $0.now)
        }
    }
    func leave() { state.withLock { $0.now -= 1 } }
    func peak() -> Int { state.withLock { $0.max } }
}
