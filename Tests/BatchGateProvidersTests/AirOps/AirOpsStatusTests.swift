import BatchGateCore
import Testing

@testable import BatchGateProviders

/// The mapping table of `AirOps+Status.swift`, row by row, and every documented vendor example.
@Suite struct AirOpsStatusTests {
    // MARK: Lifecycle rows

    struct LifecycleRow: Sendable, CustomTestStringConvertible {
        var overall: String
        var errorCode: String?
        var expected: LifecycleStatus?
        var testDescription: String { "\(overall) + \(errorCode ?? "no code") → \(expected?.rawValue ?? "nil")" }
    }

    @Test(arguments: [
        LifecycleRow(overall: "pending", errorCode: nil, expected: .pending),
        LifecycleRow(overall: "in_progress", errorCode: nil, expected: .running),
        LifecycleRow(overall: "completed", errorCode: nil, expected: .completed),
        LifecycleRow(overall: "failed", errorCode: nil, expected: .failed),
        LifecycleRow(overall: "failed", errorCode: "LLM_BATCH_FAILED", expected: .failed),
        LifecycleRow(overall: "failed", errorCode: "SCRAPING_ERROR", expected: .failed),
        LifecycleRow(overall: "failed", errorCode: "ENRICHING_ERROR", expected: .failed),
        LifecycleRow(overall: "failed", errorCode: "LLM_BATCH_EXPIRED", expected: .expired),
        LifecycleRow(overall: "cancelled", errorCode: nil, expected: nil),
        LifecycleRow(overall: "", errorCode: nil, expected: nil),
    ])
    func lifecycleRow(_ row: LifecycleRow) {
        #expect(AirOpsProvider.lifecycle(overall: row.overall, failingErrorCode: row.errorCode) == row.expected)
    }

    // MARK: Derived overall rows

    struct DerivedRow: Sendable, CustomTestStringConvertible {
        var scraping: String?
        var analyzing: String?
        var enriching: String?
        var expected: String
        var testDescription: String { "\(scraping ?? "-")/\(analyzing ?? "-")/\(enriching ?? "-") → \(expected)" }
    }

    @Test(arguments: [
        DerivedRow(scraping: "pending", analyzing: "pending", enriching: "pending", expected: "pending"),
        DerivedRow(scraping: nil, analyzing: nil, enriching: nil, expected: "pending"),
        DerivedRow(scraping: "started", analyzing: "pending", enriching: "pending", expected: "in_progress"),
        DerivedRow(scraping: "completed", analyzing: "started", enriching: "pending", expected: "in_progress"),
        DerivedRow(scraping: "completed", analyzing: "completed", enriching: "pending", expected: "in_progress"),
        DerivedRow(scraping: "completed", analyzing: "completed", enriching: "started", expected: "in_progress"),
        DerivedRow(scraping: "completed", analyzing: "completed", enriching: "completed", expected: "completed"),
        DerivedRow(scraping: "completed", analyzing: "completed", enriching: "skipped", expected: "completed"),
        DerivedRow(scraping: "failed", analyzing: "pending", enriching: "pending", expected: "failed"),
        DerivedRow(scraping: "completed", analyzing: "failed", enriching: "pending", expected: "failed"),
        DerivedRow(scraping: "completed", analyzing: "completed", enriching: "failed", expected: "failed"),
    ])
    func derivedOverallRow(_ row: DerivedRow) {
        #expect(AirOpsProvider.derivedOverall(scraping: row.scraping, analyzing: row.analyzing, enriching: row.enriching) == row.expected)
    }

    // MARK: Percent rows

    struct PercentRow: Sendable, CustomTestStringConvertible {
        var name: String
        var scraping: String?
        var scrapingProcessed = 0
        var valid: Int?
        var analyzing: String?
        var enriching: String?
        var enrichingProcessed = 0
        var toEnrich: Int?
        var expected: Int
        var testDescription: String { name }
    }

    @Test(arguments: [
        PercentRow(name: "nothing started", scraping: "pending", valid: 10, analyzing: "pending", enriching: "pending", expected: 0),
        PercentRow(name: "scraping 0/10", scraping: "started", valid: 10, analyzing: "pending", enriching: "pending", expected: 0),
        PercentRow(
            name: "scraping 5/10",
            scraping: "started",
            scrapingProcessed: 5,
            valid: 10,
            analyzing: "pending",
            enriching: "pending",
            expected: 20
        ),
        PercentRow(
            name: "scraping 10/10 still started",
            scraping: "started",
            scrapingProcessed: 10,
            valid: 10,
            analyzing: "pending",
            enriching: "pending",
            expected: 40
        ),
        PercentRow(
            name: "scraping, valid unknown",
            scraping: "started",
            scrapingProcessed: 5,
            valid: nil,
            analyzing: nil,
            enriching: nil,
            expected: 0
        ),
        PercentRow(name: "scraping completed", scraping: "completed", valid: 10, analyzing: "started", enriching: "pending", expected: 40),
        PercentRow(name: "analyzing completed", scraping: "completed", valid: 10, analyzing: "completed", enriching: "pending", expected: 50),
        PercentRow(
            name: "enriching 0/45",
            scraping: "completed",
            valid: 10,
            analyzing: "completed",
            enriching: "started",
            toEnrich: 45,
            expected: 50
        ),
        PercentRow(
            name: "enriching 20/40",
            scraping: "completed",
            valid: 10,
            analyzing: "completed",
            enriching: "started",
            enrichingProcessed: 20,
            toEnrich: 40,
            expected: 74
        ),
        PercentRow(
            name: "enriching completed 45/45",
            scraping: "completed",
            valid: 10,
            analyzing: "completed",
            enriching: "completed",
            enrichingProcessed: 45,
            toEnrich: 45,
            expected: 99
        ),
        PercentRow(
            name: "enriching nothing to enrich",
            scraping: "completed",
            valid: 10,
            analyzing: "completed",
            enriching: "started",
            toEnrich: 0,
            expected: 50
        ),
        PercentRow(name: "enriching skipped", scraping: "completed", valid: 10, analyzing: "completed", enriching: "skipped", expected: 99),
    ])
    func percentRow(_ row: PercentRow) {
        let percent = AirOpsProvider.percentHint(
            scrapingState: row.scraping,
            scrapingProcessed: row.scrapingProcessed,
            scrapingValid: row.valid,
            analyzingState: row.analyzing,
            enrichingState: row.enriching,
            enrichingProcessed: row.enrichingProcessed,
            itemsToEnrich: row.toEnrich
        )
        #expect(percent == row.expected)
    }

    // MARK: Whole payloads: every documented example, plus the tolerated variations

    struct Expected: Sendable, CustomTestStringConvertible {
        var source: Source
        var lifecycle: LifecycleStatus
        var providerStatus: String
        var total: Int?
        var succeeded: Int
        var failed: Int
        var percent: Int
        /// Phase states in order scraping, analyzing, enriching.
        var phaseStates: [String]
        /// A few counts to check, as "phase.count".
        var counts: [String: Int] = [:]
        var error: BatchError? = nil
        var llmBatchID: String? = nil
        var scrapingStartedAt: Int64? = nil

        enum Source: Sendable {
            case fixture(String)
            case json(String, String)
        }

        var testDescription: String {
            switch source {
            case .fixture(let name): name
            case .json(let name, _): name
            }
        }

        func body() throws -> [UInt8] {
            switch source {
            case .fixture(let name): try fixture("airops/\(name)")
            case .json(_, let text): Array(text.utf8)
            }
        }
    }

    static let payloads: [Expected] = [
        Expected(
            source: .fixture("get-batch-completed.json"),
            lifecycle: .completed,
            providerStatus: "completed",
            total: 50,
            succeeded: 48,
            failed: 2,
            percent: 99,
            phaseStates: ["completed", "completed", "completed"],
            counts: ["scraping.submitted": 50, "scraping.failed": 2, "analyzing.items_complete": 18, "enriching.items_enriched": 30],
            llmBatchID: "batch_xyz789",
            scrapingStartedAt: 1_705_315_200_000
        ),
        Expected(
            source: .fixture("get-batch-example-response.json"),
            lifecycle: .completed,
            providerStatus: "completed",
            total: 100,
            succeeded: 97,
            failed: 3,
            percent: 99,
            phaseStates: ["completed", "completed", "completed"],
            counts: [
                "analyzing.fields_to_enrich.author": 12, "analyzing.fields_to_enrich.page_type": 98,
                "enriching.items_failed": 1, "enriching.items_to_enrich": 45,
            ],
            llmBatchID: "batch_xyz789def",
            scrapingStartedAt: 1_705_315_200_000
        ),
        Expected(
            source: .fixture("webhook-scraping_started.json"),
            lifecycle: .running,
            providerStatus: "in_progress",
            total: 100,
            succeeded: 0,
            failed: 0,
            percent: 0,
            phaseStates: ["started", "pending", "pending"],
            counts: ["scraping.valid": 100, "analyzing.items_analyzed": 0],
            scrapingStartedAt: 1_705_315_200_000
        ),
        Expected(
            source: .fixture("webhook-scraping_completed.json"),
            lifecycle: .running,
            providerStatus: "in_progress",
            total: 100,
            succeeded: 0,
            failed: 2,
            percent: 40,
            phaseStates: ["completed", "started", "pending"],
            counts: ["scraping.succeeded": 98]
        ),
        Expected(
            source: .fixture("webhook-analyzing_completed.json"),
            lifecycle: .running,
            providerStatus: "in_progress",
            total: 100,
            succeeded: 53,
            failed: 2,
            percent: 50,
            phaseStates: ["completed", "completed", "pending"],
            counts: ["analyzing.items_needing_enrichment": 45, "enriching.items_to_enrich": 45]
        ),
        Expected(
            source: .fixture("webhook-enriching_started.json"),
            lifecycle: .running,
            providerStatus: "in_progress",
            total: 100,
            succeeded: 53,
            failed: 2,
            percent: 50,
            phaseStates: ["completed", "completed", "started"],
            llmBatchID: "batch_xyz789def"
        ),
        Expected(
            source: .fixture("webhook-completed.json"),
            lifecycle: .completed,
            providerStatus: "completed",
            total: 100,
            succeeded: 97,
            failed: 3,
            percent: 99,
            phaseStates: ["completed", "completed", "completed"],
            llmBatchID: "batch_xyz789def"
        ),
        Expected(
            source: .fixture("webhook-failed.json"),
            lifecycle: .failed,
            providerStatus: "failed",
            total: 100,
            succeeded: 53,
            failed: 2,
            percent: 50,
            phaseStates: ["completed", "completed", "failed"],
            error: BatchError(
                code: "provider_failed",
                message: "LLM batch processing failed with status: expired",
                providerCode: "LLM_BATCH_FAILED"
            ),
            llmBatchID: "batch_xyz789def"
        ),
        Expected(
            source: .fixture("create-response.json"),
            lifecycle: .running,
            providerStatus: "in_progress",
            total: 3,
            succeeded: 0,
            failed: 0,
            percent: 0,
            phaseStates: ["started", "pending", "pending"]
        ),
        Expected(
            source: .json(
                "expired enrichment",
                #"{"id":"b","status":{"overall":"failed","scraping":{"state":"completed","submitted":4,"valid":4,"succeeded":4,"failed":0},"analyzing":{"state":"completed","items_complete":1},"enriching":{"state":"failed","items_to_enrich":3,"error":{"code":"LLM_BATCH_EXPIRED","message":"LLM batch timed out"}}}}"#
            ),
            lifecycle: .expired,
            providerStatus: "failed",
            total: 4,
            succeeded: 1,
            failed: 0,
            percent: 50,
            phaseStates: ["completed", "completed", "failed"],
            error: BatchError(code: "provider_expired", message: "LLM batch timed out", providerCode: "LLM_BATCH_EXPIRED")
        ),
        Expected(
            source: .json(
                "scraping failure",
                #"{"id":"b","total_urls":2,"status":"failed","scraping":{"state":"failed","submitted":2,"valid":2,"succeeded":0,"failed":2,"error":{"code":"SCRAPING_ERROR","message":"All URLs failed to scrape"}},"analyzing":{"state":"pending"},"enriching":{"state":"pending"}}"#
            ),
            lifecycle: .failed,
            providerStatus: "failed",
            total: 2,
            succeeded: 0,
            failed: 2,
            percent: 40,
            phaseStates: ["failed", "pending", "pending"],
            error: BatchError(code: "provider_failed", message: "All URLs failed to scrape", providerCode: "SCRAPING_ERROR")
        ),
        Expected(
            source: .json(
                "failed without an error object",
                #"{"id":"b","status":"failed","analyzing":{"state":"failed"}}"#
            ),
            lifecycle: .failed,
            providerStatus: "failed",
            total: nil,
            succeeded: 0,
            failed: 0,
            percent: 50,
            phaseStates: ["failed"],
            error: BatchError(code: "provider_failed", message: "AirOps reported the batch as failed in the analyzing phase.")
        ),
        Expected(
            source: .json(
                "overall missing: derived from phases",
                #"{"id":"b","status":{"scraping":{"state":"completed","submitted":3,"valid":2,"succeeded":2,"failed":0},"analyzing":{"state":"completed","items_complete":2},"enriching":{"state":"skipped"}}}"#
            ),
            lifecycle: .completed,
            providerStatus: "completed",
            total: 3,
            succeeded: 2,
            failed: 1,
            percent: 99,
            phaseStates: ["completed", "completed", "skipped"]
        ),
        Expected(
            source: .json("no status, no phases", #"{"id":"b","total_urls":7}"#),
            lifecycle: .pending,
            providerStatus: "pending",
            total: 7,
            succeeded: 0,
            failed: 0,
            percent: 0,
            phaseStates: []
        ),
        Expected(
            source: .json(
                "unknown overall: lifecycle derived, status verbatim",
                #"{"id":"b","status":"paused","scraping":{"state":"started","submitted":10,"valid":10,"succeeded":2,"failed":3}}"#
            ),
            lifecycle: .running,
            providerStatus: "paused",
            total: 10,
            succeeded: 0,
            failed: 3,
            percent: 20,
            phaseStates: ["started"]
        ),
        Expected(
            source: .json(
                "null counts, numeric strings, extra fields",
                #"{"id":"b","status":"in_progress","total_urls":null,"surprise":{"x":1},"scraping":{"state":"started","submitted":"8","valid":null,"succeeded":4,"failed":null,"new_field":true},"analyzing":null,"enriching":{"state":"pending","items_to_enrich":null,"llm_batch_id":""}}"#
            ),
            lifecycle: .running,
            providerStatus: "in_progress",
            total: 8,
            succeeded: 0,
            failed: 0,
            percent: 20,
            phaseStates: ["started", "pending"],
            counts: ["scraping.submitted": 8, "scraping.succeeded": 4]
        ),
        Expected(
            source: .json(
                "phases both nested and top-level: nested wins",
                #"{"id":"b","status":{"overall":"in_progress","scraping":{"state":"completed","submitted":5,"valid":5,"succeeded":5,"failed":0}},"scraping":{"state":"started","submitted":5,"valid":5,"succeeded":1,"failed":0}}"#
            ),
            lifecycle: .running,
            providerStatus: "in_progress",
            total: 5,
            succeeded: 0,
            failed: 0,
            percent: 40,
            phaseStates: ["completed"]
        ),
    ]

    @Test(arguments: payloads)
    func payloadMapsToObservation(_ expected: Expected) throws {
        let observation = try AirOpsProvider.observation(decoding: try expected.body())
        #expect(observation.lifecycle == expected.lifecycle)
        #expect(observation.providerStatus == expected.providerStatus)
        #expect(observation.total == expected.total)
        #expect(observation.succeeded == expected.succeeded)
        #expect(observation.failed == expected.failed)
        #expect(observation.percentHint == expected.percent)
        #expect(observation.phases.map(\.state) == expected.phaseStates)
        let names = ["scraping", "analyzing", "enriching"].prefix(expected.phaseStates.count)
        if expected.phaseStates.count == 3 { #expect(observation.phases.map(\.name) == Array(names)) }
        for (key, value) in expected.counts {
            let parts = key.split(separator: ".", maxSplits: 1).map(String.init)
            let phase = observation.phases.first { $0.name == parts[0] }
            #expect(phase?.counts[parts[1]] == value, "count \(key)")
        }
        #expect(observation.error == expected.error)
        #expect(observation.correlation["llm_batch_id"] == expected.llmBatchID)
        if let startedAt = expected.scrapingStartedAt {
            #expect(observation.phases.first?.startedAt == Timestamp(milliseconds: startedAt))
        }
        if expected.lifecycle == .completed || expected.lifecycle == .running {
            #expect(observation.error == nil)
        }
    }

    static let webhookFixtures: [(file: String, event: String, timestamp: Int64)] = [
        ("webhook-scraping_started.json", "event.batch.airops.scraping_started", 1_705_315_200_500),
        ("webhook-scraping_completed.json", "event.batch.airops.scraping_completed", 1_705_315_500_000),
        ("webhook-analyzing_completed.json", "event.batch.airops.analyzing_completed", 1_705_315_502_000),
        ("webhook-enriching_started.json", "event.batch.airops.enriching_started", 1_705_315_505_000),
        ("webhook-completed.json", "event.batch.airops.completed", 1_705_316_800_000),
        ("webhook-failed.json", "event.batch.airops.failed", 1_705_316_000_000),
    ]

    @Test(arguments: webhookFixtures)
    func webhookFixtureDecodes(_ file: String, _ event: String, _ timestamp: Int64) throws {
        let body = try fixture("airops/\(file)")
        let decoded = try Self.provider.decodeWebhook(body)
        #expect(decoded.providerBatchID == "batch_abc123xyz")
        #expect(decoded.eventType == event)
        #expect(decoded.dedupeKey == event)
        #expect(decoded.sentAt == Timestamp(milliseconds: timestamp))
        #expect(decoded.observation == (try AirOpsProvider.observation(decoding: body)))
    }

    /// Folding the documented webhooks in order walks the lifecycle forward and ends completed at 100 %.
    @Test func documentedWebhooksFoldForward() throws {
        var state = JobState()
        var percents: [Int] = []
        for entry in Self.webhookFixtures where entry.event != "event.batch.airops.failed" {
            let event = try Self.provider.decodeWebhook(try fixture("airops/\(entry.file)"))
            state = JobStateMachine.apply(event.observation, to: state, at: Timestamp(milliseconds: 0))
            percents.append(state.progress.percent)
        }
        #expect(state.lifecycle == .completed)
        #expect(percents == percents.sorted())
        #expect(percents.last == 100)
        #expect(state.progress == BatchProgress(total: 100, succeeded: 97, failed: 3, pending: 0, percent: 100))
        #expect(state.phases.map(\.state) == ["completed", "completed", "completed"])
    }

    @Test func unknownEventWithValidStatusIsAccepted() throws {
        let body =
            #"{"object":"event.batch.airops.something_new","id":"batch_1","created":1,"timestamp":2,"status":{"overall":"in_progress","scraping":{"state":"started"}}}"#
        let event = try Self.provider.decodeWebhook(Array(body.utf8))
        #expect(event.eventType == "event.batch.airops.something_new")
        #expect(event.observation.lifecycle == .running)
    }

    @Test(arguments: [
        ("not json", "not readable"),
        (#"{"object":"event.batch.airops.completed","status":{"overall":"completed"}}"#, "`id`"),
        (#"{"object":"event.batch.airops.completed","id":"batch_1"}"#, "`status`"),
        (#"{"object":"event.batch.airops.completed","id":"batch_1","status":42}"#, "status"),
        (#"{"id":"batch_1","status":{"overall":"in_progress","scraping":{"state":"started","submitted":"many"}}}"#, "status.scraping.submitted"),
        ("[1,2]", "not readable"),
        // Counts no batch can have: refused as unreadable instead of reaching arithmetic.
        (
            #"{"id":"batch_1","status":{"overall":"in_progress","scraping":{"state":"started","failed":9223372036854775807}}}"#,
            "status.scraping.failed"
        ),
        (#"{"id":"batch_1","status":{"overall":"in_progress","scraping":{"state":"started","succeeded":-3}}}"#, "status.scraping.succeeded"),
        (
            #"{"id":"batch_1","status":{"overall":"in_progress","enriching":{"state":"started","items_enriched":1e300}}}"#,
            "status.enriching.items_enriched"
        ),
    ])
    func malformedWebhookIsBadResponse(_ body: String, _ mentions: String) {
        do {
            _ = try Self.provider.decodeWebhook(Array(body.utf8))
            Issue.record("accepted \(body)")
        } catch {
            #expect(error.code == .badResponse)
            #expect(error.message.contains(mentions), "\(error.message)")
        }
    }

    static let provider = AirOpsProvider(
        settings: ProviderSettings(name: "airops", kind: "olostep-airops", baseURL: "http://127.0.0.1:9", options: ["token": .string("t")]),
        context: ProviderContext(transport: RefusingTransport(), logger: quietLogger)
    )
}

/// A transport for tests that must not touch the network.
struct RefusingTransport: HTTPTransport {
    func send(_ request: HTTPRequest) async throws(TransportError) -> HTTPResponse {
        throw TransportError(.connection, "no network in this test")
    }
}
