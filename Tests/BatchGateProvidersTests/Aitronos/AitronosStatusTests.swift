import BatchGateCore
import Testing

@testable import BatchGateProviders

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// The derivation table of `Aitronos+Status.swift`, row by row, and every fixture.
@Suite struct AitronosStatusTests {
    typealias Tally = AitronosProvider.JobTally

    // MARK: Job status classes

    @Test(arguments: [
        ("pending", AitronosProvider.JobClass.pending), ("processing", .processing), ("completed", .completed),
        ("failed", .failed), ("cancelled", .cancelled), ("canceled", .cancelled), (" Completed ", .completed),
        ("FAILED", .failed), ("", .pending), ("queued", .processing), ("retrying", .processing),
    ])
    func jobStatusClass(_ status: String, _ expected: AitronosProvider.JobClass) {
        #expect(AitronosProvider.jobClass(status) == expected)
    }

    @Test func missingJobStatusIsPending() {
        #expect(AitronosProvider.jobClass(nil) == .pending)
    }

    // MARK: Derivation rows

    struct DerivationRow: Sendable, CustomTestStringConvertible {
        var name: String
        var tally: Tally
        var status: String
        var lifecycle: LifecycleStatus
        var testDescription: String { "\(name): \(tally) → \(status)" }
    }

    @Test(arguments: [
        DerivationRow(name: "nothing known", tally: Tally(total: 0), status: "pending", lifecycle: .pending),
        DerivationRow(name: "all pending", tally: Tally(total: 3, pending: 3), status: "pending", lifecycle: .pending),
        DerivationRow(name: "one processing", tally: Tally(total: 3, processing: 1, pending: 2), status: "processing", lifecycle: .running),
        DerivationRow(name: "all processing", tally: Tally(total: 2, processing: 2), status: "processing", lifecycle: .running),
        DerivationRow(
            name: "some completed, rest pending",
            tally: Tally(total: 3, completed: 1, pending: 2),
            status: "processing",
            lifecycle: .running
        ),
        DerivationRow(name: "some failed, rest pending", tally: Tally(total: 3, failed: 1, pending: 2), status: "processing", lifecycle: .running),
        DerivationRow(
            name: "some cancelled, rest pending",
            tally: Tally(total: 3, cancelled: 1, pending: 2),
            status: "processing",
            lifecycle: .running
        ),
        DerivationRow(name: "all completed", tally: Tally(total: 3, completed: 3), status: "completed", lifecycle: .completed),
        DerivationRow(
            name: "one completed, rest failed",
            tally: Tally(total: 3, completed: 1, failed: 2),
            status: "completed",
            lifecycle: .completed
        ),
        DerivationRow(
            name: "one completed, rest cancelled",
            tally: Tally(total: 2, completed: 1, cancelled: 1),
            status: "completed",
            lifecycle: .completed
        ),
        DerivationRow(name: "all failed", tally: Tally(total: 3, failed: 3), status: "failed", lifecycle: .failed),
        DerivationRow(name: "failed and cancelled", tally: Tally(total: 3, failed: 1, cancelled: 2), status: "failed", lifecycle: .failed),
        DerivationRow(name: "all cancelled", tally: Tally(total: 1, cancelled: 1), status: "failed", lifecycle: .failed),
    ])
    func derivationRow(_ row: DerivationRow) {
        let status = AitronosProvider.derivedStatus(row.tally)
        #expect(status == row.status)
        #expect(AitronosProvider.lifecycle(derivedStatus: status) == row.lifecycle)
    }

    @Test(arguments: ["in_progress", "cancelled", "", "Completed"])
    func wordsOutsideTheTableHaveNoLifecycle(_ word: String) {
        #expect(AitronosProvider.lifecycle(derivedStatus: word) == nil)
    }

    // MARK: Tallies

    @Test func tallyFromJobs() {
        let tally = AitronosProvider.tally(
            jobStatuses: ["completed", "failed", "cancelled", "processing", "pending", nil, "queued"],
            totalURLs: 9
        )
        #expect(tally == Tally(total: 9, completed: 1, failed: 1, cancelled: 1, processing: 2, pending: 4))
        // A list longer than total_urls wins.
        #expect(AitronosProvider.tally(jobStatuses: ["completed", "completed"], totalURLs: 1) == Tally(total: 2, completed: 2))
    }

    struct CounterRow: Sendable, CustomTestStringConvertible {
        var totalURLs: Int?
        var completed: Int?
        var failed: Int?
        var pending: Int?
        var expected: Tally
        var testDescription: String {
            "\(totalURLs.map(String.init) ?? "-")/\(completed.map(String.init) ?? "-")/\(failed.map(String.init) ?? "-")/\(pending.map(String.init) ?? "-")"
        }
    }

    @Test(arguments: [
        CounterRow(totalURLs: 3, completed: 0, failed: 0, pending: 3, expected: Tally(total: 3, pending: 3)),
        CounterRow(totalURLs: 5, completed: 1, failed: 1, pending: 1, expected: Tally(total: 5, completed: 1, failed: 1, processing: 2, pending: 1)),
        CounterRow(totalURLs: 4, completed: 4, failed: 0, pending: 0, expected: Tally(total: 4, completed: 4)),
        CounterRow(totalURLs: nil, completed: 2, failed: 1, pending: nil, expected: Tally(total: 3, completed: 2, failed: 1)),
        CounterRow(totalURLs: 2, completed: 3, failed: 0, pending: 0, expected: Tally(total: 3, completed: 3)),
        CounterRow(totalURLs: 2, completed: -1, failed: nil, pending: nil, expected: Tally(total: 2, processing: 2)),
    ])
    func tallyFromCounters(_ row: CounterRow) {
        #expect(AitronosProvider.tally(totalURLs: row.totalURLs, completed: row.completed, failed: row.failed, pending: row.pending) == row.expected)
    }

    // MARK: Whole payloads: every fixture, plus the tolerated variations

    struct Expected: Sendable, CustomTestStringConvertible {
        var name: String
        var body: String?
        var lifecycle: LifecycleStatus
        var providerStatus: String
        var total: Int
        var succeeded: Int
        var failed: Int
        var error: BatchError? = nil
        var testDescription: String { name }

        func bytes() throws -> [UInt8] {
            if let body { return Array(body.utf8) }
            return try fixture("aitronos/\(name)")
        }
    }

    static let payloads: [Expected] = [
        Expected(name: "create-response.json", lifecycle: .pending, providerStatus: "pending", total: 3, succeeded: 0, failed: 0),
        Expected(name: "progress-running.json", lifecycle: .running, providerStatus: "processing", total: 3, succeeded: 1, failed: 0),
        Expected(name: "progress-completed.json", lifecycle: .completed, providerStatus: "completed", total: 3, succeeded: 2, failed: 1),
        Expected(
            name: "progress unwrapped",
            body:
                #"{"batch_id":"b","total_urls":2,"completed":1,"failed":0,"pending":0,"jobs":[{"job_id":"j1","url":"https://a.example","status":"completed"},{"job_id":"j2","url":"https://b.example","status":"processing"}]}"#,
            lifecycle: .running,
            providerStatus: "processing",
            total: 2,
            succeeded: 1,
            failed: 0
        ),
        Expected(
            name: "every job failed",
            body:
                #"{"success":true,"data":{"batch_id":"b","total_urls":2,"completed":0,"failed":2,"pending":0,"jobs":[{"job_id":"j1","url":"https://a.example","status":"failed"},{"job_id":"j2","url":"https://b.example","status":"failed"}]}}"#,
            lifecycle: .failed,
            providerStatus: "failed",
            total: 2,
            succeeded: 0,
            failed: 2,
            error: BatchError(code: "provider_failed", message: "Aitronos scraped none of the batch's 2 URLs (2 failed, 0 cancelled).")
        ),
        Expected(
            name: "cancelled jobs count as failed",
            body:
                #"{"success":true,"data":{"batch_id":"b","total_urls":3,"jobs":[{"job_id":"j1","status":"completed"},{"job_id":"j2","status":"cancelled"},{"job_id":"j3","status":"failed"}]}}"#,
            lifecycle: .completed,
            providerStatus: "completed",
            total: 3,
            succeeded: 1,
            failed: 2
        ),
        Expected(
            name: "counters only: rest processing",
            body: #"{"success":true,"data":{"batch_id":"b","total_urls":4,"completed":"1","failed":null,"pending":1}}"#,
            lifecycle: .running,
            providerStatus: "processing",
            total: 4,
            succeeded: 1,
            failed: 0
        ),
        Expected(
            name: "counters under progress, no jobs",
            body: #"{"batch_id":"b","total_urls":2,"progress":{"completed":2,"failed":0,"pending":0}}"#,
            lifecycle: .completed,
            providerStatus: "completed",
            total: 2,
            succeeded: 2,
            failed: 0
        ),
        Expected(
            name: "job list shorter than total_urls",
            body:
                #"{"success":true,"data":{"batch_id":"b","total_urls":3,"jobs":[{"job_id":"j1","status":"completed"},{"job_id":7,"status":"completed"}]}}"#,
            lifecycle: .running,
            providerStatus: "processing",
            total: 3,
            succeeded: 2,
            failed: 0
        ),
        Expected(
            name: "unknown job status keeps the batch running",
            body:
                #"{"success":true,"data":{"batch_id":"b","total_urls":2,"jobs":[{"job_id":"j1","status":"completed"},{"job_id":"j2","status":"retrying","surprise":1}]}}"#,
            lifecycle: .running,
            providerStatus: "processing",
            total: 2,
            succeeded: 1,
            failed: 0
        ),
    ]

    @Test(arguments: payloads)
    func payloadMapsToObservation(_ expected: Expected) throws {
        let observation = try AitronosProvider.observation(decoding: try expected.bytes())
        #expect(observation.lifecycle == expected.lifecycle)
        #expect(observation.providerStatus == expected.providerStatus)
        #expect(observation.total == expected.total)
        #expect(observation.succeeded == expected.succeeded)
        #expect(observation.failed == expected.failed)
        #expect(observation.error == expected.error)
        #expect(observation.phases.isEmpty)
        #expect(observation.percentHint == nil)
    }

    /// Folding the create response, then the two progress fixtures, walks forward and ends completed.
    @Test func fixturesFoldForward() throws {
        var state = JobState()
        var lifecycles: [LifecycleStatus] = []
        for name in ["create-response.json", "progress-running.json", "progress-completed.json"] {
            state = JobStateMachine.apply(try AitronosProvider.observation(decoding: try fixture("aitronos/\(name)")), to: state, at: .now())
            lifecycles.append(state.lifecycle)
        }
        #expect(lifecycles == [.pending, .running, .completed])
        #expect(state.progress == BatchProgress(total: 3, succeeded: 2, failed: 1, pending: 0, percent: 100))
        #expect(state.providerStatus == "completed")
    }

    @Test(arguments: [
        ("not json", "not readable"),
        ("[1,2]", "not readable"),
        (#"{"success":true,"data":{"batch_id":"b","total_urls":"many"}}"#, "total_urls"),
        (#"{"success":true,"data":{"batch_id":"b","jobs":[{"job_id":{"x":1}}]}}"#, "jobs[0].job_id"),
        (#"{"success":false,"error":{"code":"E","message":"batch is gone"}}"#, "batch is gone"),
        (#"{"success":true,"data":{"batch_id":"b"}}"#, "neither"),
        ("{}", "neither"),
    ])
    func unreadableBodiesAreBadResponses(_ body: String, _ mentions: String) {
        do {
            _ = try AitronosProvider.observation(decoding: Array(body.utf8))
            Issue.record("accepted \(body)")
        } catch {
            #expect(error.code == .badResponse)
            #expect(error.message.contains(mentions), "\(error.message)")
        }
    }

    // MARK: Items

    static let pageURLs = ["https://example.com/page1", "https://example.com/page2", "https://example.com/page3"]

    @Test func jobFixturesBecomeItems() throws {
        let completed = try AitronosProvider.decodeEnveloped(AitronosWire.JobDetail.self, try fixture("aitronos/job-completed.json"), what: "job")
        let failed = try AitronosProvider.decodeEnveloped(AitronosWire.JobDetail.self, try fixture("aitronos/job-failed.json"), what: "job")
        let input = URLBatchInput(urls: Self.pageURLs, customIDs: ["home", "about", "contact"])
        let summary = { (status: String) in Self.summary(#"{"job_id":"j","status":"\#(status)"}"#) }

        let first = AitronosProvider.itemResult(index: 0, input: input, summary: summary("completed"), detail: completed)
        #expect(first.key == "home")
        #expect(first.status == .succeeded)
        #expect(
            first.data?["extracted_data"]
                == .array([
                    ["title": "Welcome to Example", "content": "This domain is for use in illustrative examples."],
                    ["title": "More information", "content": "Further reading about example domains."],
                ])
        )
        #expect(first.data?["metadata"] == ["processing_time": .number(4.82), "engine_used": "playwright", "llm_calls": 2, "cache_hit": false])
        #expect(first.error == nil)

        let second = AitronosProvider.itemResult(index: 1, input: input, summary: summary("failed"), detail: failed)
        #expect(second.key == "about")
        #expect(second.status == .failed)
        #expect(second.error == ItemError(code: "TIMEOUT", message: "Timed out after 30 seconds loading https://example.com/page2"))

        let third = AitronosProvider.itemResult(index: 2, input: input, summary: summary("processing"), detail: nil)
        #expect(third == ItemResult(index: 2, key: "contact", status: .pending))
    }

    struct ItemRow: Sendable, CustomTestStringConvertible {
        var name: String
        var summaryStatus: String?
        var detail: String?
        var status: ItemStatus
        var error: ItemError?
        var testDescription: String { name }
    }

    @Test(arguments: [
        ItemRow(name: "no job listed", summaryStatus: nil, detail: nil, status: .pending),
        ItemRow(name: "pending", summaryStatus: "pending", detail: nil, status: .pending),
        ItemRow(name: "processing", summaryStatus: "processing", detail: nil, status: .pending),
        ItemRow(
            name: "failed without details",
            summaryStatus: "failed",
            detail: #"{"status":"failed"}"#,
            status: .failed,
            error: ItemError(code: "SCRAPE_FAILED", message: "Aitronos could not scrape https://a.example/x.")
        ),
        ItemRow(
            name: "failed, string error",
            summaryStatus: "failed",
            detail: #"{"status":"failed","error":"HTTP 404"}"#,
            status: .failed,
            error: ItemError(code: "SCRAPE_FAILED", message: "HTTP 404")
        ),
        ItemRow(
            name: "failed, error_code and error_message",
            summaryStatus: "failed",
            detail: #"{"status":"failed","error_code":"BLOCKED","error_message":"robots.txt"}"#,
            status: .failed,
            error: ItemError(code: "BLOCKED", message: "robots.txt")
        ),
        ItemRow(
            name: "cancelled",
            summaryStatus: "cancelled",
            detail: #"{"status":"cancelled"}"#,
            status: .failed,
            error: ItemError(code: "JOB_CANCELLED", message: "Aitronos cancelled the job for https://a.example/x.")
        ),
        ItemRow(name: "detail status wins", summaryStatus: "completed", detail: #"{"status":"processing"}"#, status: .pending),
        ItemRow(name: "completed without data", summaryStatus: "completed", detail: #"{"status":"completed"}"#, status: .succeeded),
    ])
    func itemRow(_ row: ItemRow) throws {
        let input = URLBatchInput(urls: ["https://a.example/x"])
        let summary = row.summaryStatus.map { Self.summary(#"{"job_id":"j","status":"\#($0)"}"#) }
        let detail = try row.detail.map { try AitronosProvider.decodeEnveloped(AitronosWire.JobDetail.self, Array($0.utf8), what: "job") }
        let result = AitronosProvider.itemResult(index: 0, input: input, summary: summary, detail: detail)
        #expect(result.key == "https://a.example/x")
        #expect(result.status == row.status)
        #expect(result.error == row.error)
        if row.status == .succeeded { #expect(result.data == ["extracted_data": nil, "metadata": nil]) }
    }

    @Test func jobsMatchURLsInOrder() throws {
        let jobs = try JSONDecoder().decode(
            [AitronosWire.JobSummary].self,
            from: Data(
                #"""
                [{"job_id":"j1","url":"https://b.example"},{"job_id":"j2","url":"https://a.example"},
                 {"job_id":"j3","url":"https://a.example"},{"job_id":"j4","url":"HTTPS://C.example:443/"},
                 {"job_id":"j5"}]
                """#.utf8
            )
        )
        let urls = ["https://a.example", "https://b.example", "https://a.example", "https://c.example", "https://d.example"]
        let matched = AitronosProvider.matchJobs(jobs, urls: urls)
        // Duplicates in order; the vendor's normalised c.example matches loosely; j5 has no URL and takes its position.
        #expect(urls.indices.map { matched[$0]?.jobID } == ["j2", "j1", "j3", "j4", "j5"])
        #expect(AitronosProvider.matchJobs(jobs, urls: ["https://z.example", "https://y.example"]).isEmpty)
    }

    @Test(arguments: [
        ("https://Example.COM/Path/", "https://example.com/Path"), ("HTTP://a.example:80", "http://a.example"),
        ("https://a.example:8443/x?q=1", "https://a.example:8443/x?q=1"), ("not a url", "not a url"),
    ])
    func looseURL(_ url: String, _ expected: String) {
        #expect(AitronosProvider.looseURL(url) == expected)
    }

    static func summary(_ json: String) -> AitronosWire.JobSummary {
        try! JSONDecoder().decode(AitronosWire.JobSummary.self, from: Data(json.utf8))
    }
}

@Suite struct AitronosTimeParsingTests {
    @Test(arguments: [
        ("2026-11-23T19:58:33.123Z", Int64(1_795_463_913_123)),
        ("2024-12-16T10:30:00Z", Int64(1_734_345_000_000)),
    ])
    func parsesRFC3339(text: String, milliseconds: Int64) {
        #expect(AitronosProvider.parseTime(text) == Timestamp(milliseconds: milliseconds))
    }

    @Test func refusesGarbage() {
        #expect(AitronosProvider.parseTime("yesterday") == nil)
    }
}
