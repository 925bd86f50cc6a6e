import BatchGateCore
import BatchGateSimulators
import BatchGateTransport
import Synchronization
import Testing

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// The document-tagging simulator's wire behaviour, checked over real loopback HTTP and WebSocket.
@Suite(.serialized, .timeLimit(.minutes(2))) struct TaggerSimulatorTests {
    static let token = "sim_token"
    /// The simulator waits this long before a socket's first message, as a vendor across a network would.
    static let firstMessageDelay = Duration.milliseconds(100)

    typealias Send = @Sendable (_ method: String, _ path: String, _ body: String?, _ token: String?) async throws -> (Int, JSONValue)

    /// Runs a simulator; `body` gets an HTTP sender, the `ws://` base URL and the simulator.
    func withSimulator(
        _ scenario: TaggerSimulator.Scenario = .init(documentInterval: .milliseconds(20)),
        faults: TaggerFaults = .init(),
        keepaliveInterval: Duration = .seconds(30),
        firstMessageDelay: Duration = Self.firstMessageDelay,
        _ body: (_ send: @escaping Send, _ wsBase: String, _ simulator: TaggerSimulator) async throws -> Void
    ) async throws {
        let client = try CurlHTTPClient()
        defer { client.shutdown() }
        let configuration = TaggerSimulator.Configuration(
            token: Self.token,
            scenario: scenario,
            faults: faults,
            keepaliveInterval: keepaliveInterval,
            firstMessageDelay: firstMessageDelay
        )
        try await withTaggerSimulator(configuration) { baseURL, simulator in
            let send: Send = { method, path, body, token in
                var headers: [(name: String, value: String)] = [("Content-Type", "application/json")]
                if let token { headers.append(("Authorization", "Bearer \(token)")) }
                let response = try await client.send(
                    HTTPRequest(method: method, url: baseURL + path, headers: headers, body: body.map { Array($0.utf8) }, timeout: .seconds(30))
                )
                let json = (try? JSONDecoder().decode(JSONValue.self, from: Data(response.body))) ?? .null
                return (response.status, json)
            }
            try await body(send, "ws" + baseURL.dropFirst("http".count), simulator)
        }
    }

    static func startBody(_ count: Int, jobID: String? = nil, numTags: Int = 4) -> String {
        let documents = (1...count).map {
            #"{"title":"Document \#($0)","file_path":"https://files.example/\#($0).pdf","file_source_type":"url"}"#
        }
        let id = jobID.map { #","job_id":"\#($0)""# } ?? ""
        return #"{"documents":[\#(documents.joined(separator: ","))],"config":{"num_tags":\#(numTags)}\#(id)}"#
    }

    func start(_ send: Send, _ count: Int, jobID: String? = nil) async throws -> String {
        let (status, json) = try await send("POST", "/api/batch/start", Self.startBody(count, jobID: jobID), Self.token)
        #expect(status == 200)
        #expect(json["total_documents"] == .number(Double(count)))
        #expect(json["message"]?.stringValue != nil)
        return try #require(json["job_id"]?.stringValue)
    }

    final class Recorder: Sendable {
        let texts = Mutex<[String]>([])
    }

    /// What one client socket saw.
    struct SocketLog: Sendable {
        var messages: [JSONValue]
        var texts: [String]
        var closeCode: Int?
        /// The connection ended without a close frame (or with an error).
        var abrupt: Bool
    }

    /// Connects, records every text message until the server closes, `stop` says so, or `giveUpAfter`.
    func socket(
        _ url: String,
        authorization: String? = nil,
        recorder: Recorder = Recorder(),
        giveUpAfter: Duration = .seconds(10),
        stop: @escaping @Sendable (JSONValue) -> Bool = { _ in false }
    ) async throws -> SocketLog {
        let log = recorder
        var headers: [(name: String, value: String)] = []
        if let authorization { headers.append((name: "Authorization", value: authorization)) }
        var closeCode: Int?
        var abrupt = false
        do {
            // The gateway's own client: it delivers every frame the server sent before closing.
            let close = try await NIOWebSocketClient(maxMessageBytes: 1 << 22, logger: quietLogger).connect(
                WebSocketRequest(url: url, headers: headers, idleTimeout: giveUpAfter)
            ) { text in
                log.texts.withLock { $0.append(text) }
                let json = (try? JSONDecoder().decode(JSONValue.self, from: Data(text.utf8))) ?? .null
                return stop(json) ? .close : .keepReading
            }
            closeCode = close.code
            abrupt = close.code == nil && !close.byUs && !close.idle
        } catch {
            abrupt = true
        }
        let texts = log.texts.withLock { $0 }
        let messages = texts.map { (try? JSONDecoder().decode(JSONValue.self, from: Data($0.utf8))) ?? .null }
        return SocketLog(messages: messages, texts: texts, closeCode: closeCode, abrupt: abrupt)
    }

    func wsURL(_ base: String, _ jobID: String, token: String? = token) -> String {
        base + "/api/batch/ws/\(jobID)" + (token.map { "?token=\($0)" } ?? "")
    }

    // MARK: HTTP

    @Test func startStatusAndCompletionOverHTTP() async throws {
        try await withSimulator { send, _, simulator in
            let id = try await start(send, 3)
            #expect(UUID(uuidString: id) != nil)
            let (status, early) = try await send("GET", "/api/batch/jobs/\(id)/status", nil, Self.token)
            #expect(status == 200)
            #expect(early["job_id"] == .string(id))
            #expect(early["total"] == .number(3))
            for field in ["status", "progress", "processed_count", "failed_count", "results_count"] { #expect(early[field] != nil) }
            try await waitUntil("completion") {
                try await send("GET", "/api/batch/jobs/\(id)/status", nil, Self.token).1["status"] == .string("completed")
            }
            let (_, done) = try await send("GET", "/api/batch/jobs/\(id)/status", nil, Self.token)
            #expect(done["progress"] == .number(1))
            #expect(done["processed_count"] == .number(3))
            #expect(done["failed_count"] == .number(0))
            #expect(done["results_count"] == .number(3))
            #expect(simulator.jobStatus(id) == .init(status: "completed", processed: 3, failed: 0, total: 3, resultsCount: 3))
            #expect(simulator.requestCount(TaggerSimulator.Route.start) == 1)

            let (missing, missingJSON) = try await send("GET", "/api/batch/jobs/nope/status", nil, Self.token)
            #expect(missing == 404)
            #expect(missingJSON["detail"]?.stringValue != nil)
            let (noAuth, noAuthJSON) = try await send("GET", "/api/batch/jobs/\(id)/status", nil, nil)
            #expect(noAuth == 401)
            #expect(noAuthJSON["detail"]?.stringValue != nil)
            let (wrong, _) = try await send("POST", "/api/batch/start", Self.startBody(1), "wrong")
            #expect(wrong == 401)
            let (finishedCancel, finishedJSON) = try await send("POST", "/api/batch/jobs/\(id)/cancel", nil, Self.token)
            #expect(finishedCancel == 400)
            #expect(finishedJSON["detail"]?.stringValue?.contains("completed") == true)
            let (finishedPause, _) = try await send("POST", "/api/batch/jobs/\(id)/pause", nil, Self.token)
            #expect(finishedPause == 400)
        }
    }

    @Test func clientChosenJobIDAndDuplicates() async throws {
        try await withSimulator { send, _, simulator in
            let id = try await start(send, 1, jobID: "my-job_1")
            #expect(id == "my-job_1")
            let (again, json) = try await send("POST", "/api/batch/start", Self.startBody(1, jobID: "my-job_1"), Self.token)
            #expect(again == 409)
            #expect(json["detail"]?.stringValue?.contains("job_id") == true)
            #expect(simulator.jobIDs() == ["my-job_1"])
        }
    }

    struct BadBody: Sendable, CustomTestStringConvertible {
        var name: String
        var body: String
        var detailPrefix: String
        var testDescription: String { name }
    }

    static let doc = #"{"title":"A","file_path":"https://f.example/a.pdf","file_source_type":"url"}"#

    @Test(arguments: [
        BadBody(name: "not JSON", body: "nope", detailPrefix: "body:"),
        BadBody(name: "no documents", body: #"{"config":{}}"#, detailPrefix: "documents:"),
        BadBody(name: "empty documents", body: #"{"documents":[]}"#, detailPrefix: "documents:"),
        BadBody(
            name: "missing title",
            body: #"{"documents":[\#(doc),{"file_path":"x","file_source_type":"s3"}]}"#,
            detailPrefix: "documents[1].title:"
        ),
        BadBody(
            name: "bad source type",
            body: #"{"documents":[{"title":"A","file_path":"x","file_source_type":"ftp"}]}"#,
            detailPrefix: "documents[0].file_source_type:"
        ),
        BadBody(name: "num_pages 11", body: #"{"documents":[\#(doc)],"config":{"num_pages":11}}"#, detailPrefix: "config.num_pages:"),
        BadBody(name: "num_tags 2", body: #"{"documents":[\#(doc)],"config":{"num_tags":2}}"#, detailPrefix: "config.num_tags:"),
        BadBody(name: "num_tags 3.5", body: #"{"documents":[\#(doc)],"config":{"num_tags":3.5}}"#, detailPrefix: "config.num_tags:"),
        BadBody(name: "model_name number", body: #"{"documents":[\#(doc)],"config":{"model_name":4}}"#, detailPrefix: "config.model_name:"),
        BadBody(
            name: "exclusion_words string",
            body: #"{"documents":[\#(doc)],"config":{"exclusion_words":"x"}}"#,
            detailPrefix: "config.exclusion_words:"
        ),
        BadBody(name: "job_id with slash", body: #"{"documents":[\#(doc)],"job_id":"a/b"}"#, detailPrefix: "job_id:"),
    ])
    func startRejectsBadBodies(_ bad: BadBody) async throws {
        try await withSimulator { send, _, simulator in
            let (status, json) = try await send("POST", "/api/batch/start", bad.body, Self.token)
            #expect(status == 422)
            let detail = try #require(json["detail"]?.stringValue)
            #expect(detail.hasPrefix(bad.detailPrefix), "\(detail)")
            #expect(simulator.jobIDs().isEmpty)
        }
    }

    @Test func apiFaultsAreConsumedInOrder() async throws {
        let faults = TaggerFaults(unavailableResponses: 1, rateLimitedResponses: 1, retryAfter: .milliseconds(1500))
        try await withSimulator(faults: faults) { send, _, simulator in
            var statuses: [Int] = []
            for _ in 0..<3 { statuses.append(try await send("GET", "/api/batch/jobs/x/status", nil, Self.token).0) }
            #expect(statuses == [503, 429, 404])
            #expect(simulator.requestCount(TaggerSimulator.Route.status) == 3)
        }
    }

    // MARK: WebSocket

    /// Catchup with string state values, then untyped progress messages with numbers, then `completed`
    /// with integer counts, then a normal close.
    @Test func liveSocketFollowsTheDocs() async throws {
        try await withSimulator(.init(documentInterval: .milliseconds(50), failEvery: 3)) { send, ws, simulator in
            let id = try await start(send, 10)
            let log = try await socket(wsURL(ws, id))
            #expect(log.closeCode == 1000)
            let catchup = try #require(log.messages.first)
            #expect(catchup["type"] == .string("catchup"))
            #expect(catchup["job_id"] == .string(id))
            guard case .object(let state)? = catchup["state"] else {
                Issue.record("catchup has no state object")
                return
            }
            #expect(Set(state.keys) == ["status", "progress", "processed_count", "failed_count", "total"])
            for (key, value) in state { #expect(value.stringValue != nil, "state.\(key) is not a string") }
            #expect(state["total"] == .string("10"))
            #expect(catchup["results"] != nil)

            let progress = log.messages.dropFirst().dropLast()
            #expect(progress.allSatisfy { $0["type"] == nil })
            let finished = progress.filter { $0["status"] != .string("processing") }
            #expect(finished.count == 10 - (catchup["results"].map { if case .array(let rows) = $0 { rows.count } else { 0 } } ?? 0))
            for message in progress {
                #expect(message["job_id"] == .string(id))
                #expect(message["row_number"] == message["row_id"].map { if let n = $0.int64Value { .integer(n + 1) } else { .null } })
                #expect(message["model_name"] == .string("openai/gpt-4o-mini"))
                if message["progress"]?.isNumber == true {} else { Issue.record("progress is not a number") }
            }
            let success = try #require(progress.first { $0["status"] == .string("success") })
            guard case .array(let tags)? = success["tags"] else {
                Issue.record("no tags")
                return
            }
            #expect(tags.count == 4)
            #expect(success["metadata"]?["extraction_method"] == .string("pypdf2"))
            #expect(success["metadata"]?["is_scanned"] == .bool(false))
            let failure = try #require(progress.first { $0["status"] == .string("failed") })
            #expect(failure["error_type"] == .string("model-error"))
            #expect(failure["error"]?.stringValue != nil)
            #expect([3, 6, 9].map { JSONValue.number(Double($0)) }.contains(failure["row_number"] ?? .null))

            let end = try #require(log.messages.last)
            #expect(end["type"] == .string("completed"))
            #expect(end["processed_count"] == .number(7))
            #expect(end["failed_count"] == .number(3))
            #expect(end["message"]?.stringValue != nil)
            #expect(log.texts.last?.contains(#""processed_count":7"#) == true)
            #expect(simulator.socketsOpened(jobID: id) == 1)
            try await waitUntil("the socket to be released") { simulator.openSockets(jobID: id) == 0 }
        }
    }

    /// A job that ended before the socket connected: catchup, then the completion with string counts.
    @Test func alreadyFinishedJobGetsStringCounts() async throws {
        try await withSimulator(faults: TaggerFaults(finishInstantly: true)) { send, ws, simulator in
            let id = try await start(send, 4)
            #expect(simulator.jobStatus(id)?.status == "completed")
            let log = try await socket(wsURL(ws, id))
            #expect(log.messages.count == 2)
            #expect(log.messages.first?["type"] == .string("catchup"))
            #expect(log.messages.first?["state"]?["status"] == .string("completed"))
            #expect(log.messages.first?["state"]?["progress"] == .string("1.0"))
            guard case .array(let rows)? = log.messages.first?["results"] else {
                Issue.record("no results")
                return
            }
            #expect(rows.count == 4)
            #expect(rows.first?["row_id"] == .number(0))
            #expect(rows.first?["status"] == .string("success"))
            let end = try #require(log.messages.last)
            #expect(end["type"] == .string("completed"))
            #expect(end["processed_count"] == .string("4"))
            #expect(end["failed_count"] == .string("0"))
            #expect(log.closeCode == 1000)
        }
    }

    @Test func tokenAsQueryOrHeader() async throws {
        try await withSimulator(.init(documentInterval: .milliseconds(5))) { send, ws, _ in
            let id = try await start(send, 2)
            let byQuery = try await socket(wsURL(ws, id))
            #expect(byQuery.messages.last?["type"] == .string("completed"))
            let byHeader = try await socket(wsURL(ws, id, token: nil), authorization: "Bearer \(Self.token)")
            #expect(byHeader.messages.first?["type"] == .string("catchup"))
            #expect(byHeader.messages.last?["type"] == .string("completed"))
            let wrong = try await socket(wsURL(ws, id, token: "nope"))
            #expect(wrong.messages == [["error": "Authentication required", "job_id": .string(id)]])
            #expect(wrong.closeCode == 1008)
            let missing = try await socket(wsURL(ws, id, token: nil))
            #expect(missing.closeCode == 1008)
            let unknown = try await socket(wsURL(ws, "no-such-job"))
            #expect(unknown.messages.first?["error"]?.stringValue != nil)
            #expect(unknown.closeCode == 1008)
        }
    }

    @Test func rejectTokenRefusesEvenTheRightToken() async throws {
        try await withSimulator(faults: TaggerFaults(rejectToken: true)) { send, ws, simulator in
            let id = try await start(send, 2)
            let log = try await socket(wsURL(ws, id))
            #expect(log.messages == [["error": "Authentication required", "job_id": .string(id)]])
            #expect(log.closeCode == 1008)
            #expect(simulator.socketsOpened(jobID: id) == 1)
        }
    }

    /// The drop fault closes the TCP connection after N live progress messages, with no close frame;
    /// the next socket is not dropped.
    @Test func dropClosesWithoutACloseFrame() async throws {
        try await withSimulator(.init(documentInterval: .milliseconds(50)), faults: TaggerFaults(dropSockets: 1, dropAfterMessages: 3)) {
            send,
            ws,
            simulator in
            let id = try await start(send, 40)
            let dropped = try await socket(wsURL(ws, id))
            #expect(dropped.abrupt)
            #expect(dropped.closeCode == nil)
            #expect(dropped.messages.first?["type"] == .string("catchup"))
            #expect(dropped.messages.dropFirst().count == 3)
            #expect(dropped.messages.dropFirst().allSatisfy { $0["type"] == nil })
            #expect(simulator.faults().dropSockets == 0)
            let next = try await socket(wsURL(ws, id), stop: { $0["status"] == .string("success") })
            #expect(!next.abrupt)
            #expect(next.messages.dropFirst().filter { $0["type"] == nil }.count >= 1)
            #expect(simulator.socketsOpened(jobID: id) == 2)
        }
    }

    /// A stalled socket sends nothing, not even the catchup or a keepalive, and stays open until the
    /// client gives up; the job goes on.
    @Test func stallSendsNothing() async throws {
        try await withSimulator(
            .init(documentInterval: .milliseconds(10)),
            faults: TaggerFaults(stallSockets: 1),
            keepaliveInterval: .milliseconds(50)
        ) { send, ws, simulator in
            let id = try await start(send, 5)
            async let log = socket(wsURL(ws, id), giveUpAfter: .milliseconds(400))
            try await waitUntil("the stalled socket") { simulator.openSockets(jobID: id) == 1 }
            let stalled = try await log
            #expect(stalled.messages.isEmpty)
            #expect(simulator.jobStatus(id)?.status == "completed")
            try await waitUntil("the stalled socket to close") { simulator.openSockets(jobID: id) == 0 }
        }
    }

    @Test func keepalivesWhenIdle() async throws {
        try await withSimulator(.init(documentInterval: .seconds(5)), keepaliveInterval: .milliseconds(40)) { send, ws, _ in
            let id = try await start(send, 1)
            let log = try await socket(wsURL(ws, id), stop: { $0["type"] == .string("keepalive") })
            let keepalive = try #require(log.messages.last)
            #expect(keepalive == ["type": "keepalive", "job_id": .string(id), "status": "processing"])
        }
    }

    @Test func cancelShowsUpAsACancelledMessage() async throws {
        try await withSimulator(.init(documentInterval: .milliseconds(40))) { send, ws, simulator in
            let id = try await start(send, 50)
            async let log = socket(wsURL(ws, id))
            try await waitUntil("the socket") { simulator.openSockets(jobID: id) == 1 }
            try await waitUntil("a document") { (simulator.jobStatus(id)?.processed ?? 0) >= 1 }
            let (status, json) = try await send("POST", "/api/batch/jobs/\(id)/cancel", nil, Self.token)
            #expect(status == 200)
            #expect(json["message"]?.stringValue != nil)
            let ended = try await log
            let end = try #require(ended.messages.last)
            #expect(end["type"] == .string("cancelled"))
            #expect(end["processed_count"]?.stringValue == nil)
            #expect(ended.closeCode == 1000)
            let (_, final) = try await send("GET", "/api/batch/jobs/\(id)/status", nil, Self.token)
            #expect(final["status"] == .string("cancelled"))
            #expect(end["processed_count"] == final["processed_count"])
            #expect(try await send("POST", "/api/batch/jobs/\(id)/cancel", nil, Self.token).0 == 400)
        }
    }

    @Test func pauseAndResume() async throws {
        try await withSimulator(.init(documentInterval: .milliseconds(20)), keepaliveInterval: .milliseconds(30)) { send, ws, simulator in
            let id = try await start(send, 30)
            try await waitUntil("a document") { (simulator.jobStatus(id)?.processed ?? 0) >= 1 }
            #expect(try await send("POST", "/api/batch/jobs/\(id)/pause", nil, Self.token).0 == 200)
            try await waitUntil("the pause") { simulator.jobStatus(id)?.status == "paused" }
            let (_, paused) = try await send("GET", "/api/batch/jobs/\(id)/status", nil, Self.token)
            #expect(paused["status"] == .string("paused"))
            let done = simulator.jobStatus(id)?.processed
            let keepalive = try await socket(wsURL(ws, id), stop: { $0["type"] == .string("keepalive") })
            #expect(keepalive.messages.first?["state"]?["status"] == .string("paused"))
            #expect(keepalive.messages.last?["status"] == .string("paused"))
            #expect(simulator.jobStatus(id)?.processed == done)
            #expect(try await send("POST", "/api/batch/jobs/\(id)/pause", nil, Self.token).0 == 400)

            let (resumed, json) = try await send("POST", "/api/batch/jobs/\(id)/resume", nil, Self.token)
            #expect(resumed == 200)
            #expect(json["message"]?.stringValue != nil)
            try await waitUntil("progress after resume") { (simulator.jobStatus(id)?.processed ?? 0) > (done ?? 0) }
            #expect(try await send("POST", "/api/batch/jobs/\(id)/resume", nil, Self.token).0 == 400)
        }
    }

    /// A rate-limited document reports `failed` with `rate-limit` first, then succeeds on attempt 2;
    /// `failJobAfter` ends the job with an `error` message that has no counts.
    @Test func rateLimitRetryAndJobFailure() async throws {
        try await withSimulator(.init(documentInterval: .milliseconds(10), rateLimitEvery: 2, failJobAfter: 3)) { send, ws, simulator in
            let id = try await start(send, 6)
            let log = try await socket(wsURL(ws, id))
            let rows = log.messages.filter { $0["row_id"] == .number(1) && $0["status"] != .string("processing") }
            if rows.count == 2 {
                #expect(rows[0]["status"] == .string("failed"))
                #expect(rows[0]["error_type"] == .string("rate-limit"))
                #expect(rows[0]["retry_after_ms"] == .number(10))
                #expect(rows[0]["retry_count"] == .number(1))
                #expect(rows[1]["status"] == .string("success"))
                #expect(rows[1]["retry_count"] == .number(2))
            }
            let end = try #require(log.messages.last)
            #expect(end["type"] == .string("error"))
            #expect(end["error"]?.stringValue != nil)
            #expect(end["processed_count"] == nil && end["failed_count"] == nil)
            #expect(simulator.jobStatus(id) == .init(status: "failed", processed: 3, failed: 0, total: 6, resultsCount: 3))
        }
    }

    /// Many live jobs with a socket each at once, served on a few NIO threads.
    @Test func manyJobsAndSocketsAtOnce() async throws {
        try await withSimulator(.init(documentInterval: .milliseconds(40))) { send, ws, _ in
            let ids = try await withThrowingTaskGroup(of: String.self) { group in
                for _ in 0..<100 { group.addTask { try await start(send, 5) } }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            let logs = try await withThrowingTaskGroup(of: SocketLog.self) { group in
                for id in ids { group.addTask { try await socket(wsURL(ws, id)) } }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            #expect(logs.count == 100)
            #expect(logs.allSatisfy { $0.messages.first?["type"] == .string("catchup") })
            #expect(logs.allSatisfy { $0.messages.last?["type"] == .string("completed") && $0.closeCode == 1000 })
        }
    }

    /// Two sockets on one job at once each get the catchup, the live messages and the completion.
    @Test func severalSocketsPerJob() async throws {
        try await withSimulator(.init(documentInterval: .milliseconds(30))) { send, ws, simulator in
            let id = try await start(send, 6)
            async let first = socket(wsURL(ws, id))
            async let second = socket(wsURL(ws, id, token: nil), authorization: "Bearer \(Self.token)")
            let logs = try await [first, second]
            for log in logs {
                #expect(log.messages.first?["type"] == .string("catchup"))
                #expect(log.messages.last?["type"] == .string("completed"))
                #expect(log.closeCode == 1000)
            }
            #expect(simulator.socketsOpened(jobID: id) == 2)
        }
    }

    /// A graceful shutdown closes open sockets, a stalled one included, with a normal close.
    @Test func shutdownClosesOpenSockets() async throws {
        let configuration = TaggerSimulator.Configuration(
            token: Self.token,
            scenario: .init(documentInterval: .seconds(10)),
            faults: TaggerFaults(stallSockets: 1),
            firstMessageDelay: Self.firstMessageDelay
        )
        let client = try CurlHTTPClient()
        defer { client.shutdown() }
        let sockets = try await withTaggerSimulator(configuration) { baseURL, simulator in
            let response = try await client.send(
                HTTPRequest(
                    method: "POST",
                    url: baseURL + "/api/batch/start",
                    headers: [("Authorization", "Bearer \(Self.token)")],
                    body: Array(Self.startBody(2).utf8),
                    timeout: .seconds(30)
                )
            )
            let id = try #require((try JSONDecoder().decode(JSONValue.self, from: Data(response.body)))["job_id"]?.stringValue)
            let url = "ws" + baseURL.dropFirst("http".count) + "/api/batch/ws/\(id)?token=\(Self.token)"
            let stalled = Task { try await socket(url) }
            try await waitUntil("the stalled socket") { simulator.openSockets(jobID: id) == 1 }
            let recorder = Recorder()
            let live = Task { try await socket(url, recorder: recorder) }
            try await waitUntil("the catchup") { !recorder.texts.withLock(\.isEmpty) }
            #expect(simulator.openSockets(jobID: id) == 2)
            return (stalled, live)
        }
        let stalled = try await sockets.0.value
        let live = try await sockets.1.value
        #expect(stalled.messages.isEmpty)
        #expect(stalled.closeCode == 1000, "stalled socket: \(stalled)")
        #expect(live.messages.first?["type"] == .string("catchup"))
        #expect(live.closeCode == 1000)
    }

    @Test func tagsAreDeterministicPerTitle() async throws {
        try await withSimulator(faults: TaggerFaults(finishInstantly: true)) { send, ws, _ in
            let first = try await start(send, 2)
            let second = try await start(send, 2)
            let a = try await socket(wsURL(ws, first)).messages.first?["results"]
            let b = try await socket(wsURL(ws, second)).messages.first?["results"]
            #expect(a != nil && a == b)
        }
    }

    // MARK: Fault specifications

    @Test func parsesTheDocumentedFaultSpec() throws {
        let faults = try TaggerFaults(parsing: "drop=2,drop_after=5,stall=1,reject_token,instant,status503=2,ratelimit=1:1s,latency=20ms")
        #expect(
            faults
                == TaggerFaults(
                    latency: .milliseconds(20),
                    unavailableResponses: 2,
                    rateLimitedResponses: 1,
                    retryAfter: .seconds(1),
                    dropSockets: 2,
                    dropAfterMessages: 5,
                    stallSockets: 1,
                    rejectToken: true,
                    finishInstantly: true
                )
        )
        #expect(try TaggerFaults(parsing: " drop-after=0 , reject-token ") == TaggerFaults(dropAfterMessages: 0, rejectToken: true))
        #expect(try TaggerFaults(parsing: "") == TaggerFaults())
    }

    @Test(arguments: [
        ("drop=x", "drop=x"), ("stall=-1", "stall=-1"), ("drop_after", "drop_after"), ("instant,teleport", "teleport"),
        ("reject_token=yes", "reject_token=yes"), ("ratelimit=1:1x", "ratelimit=1:1x"), ("latency=fast", "latency=fast"),
    ])
    func rejectsBadFaultSpecs(_ spec: String, _ field: String) {
        #expect {
            _ = try TaggerFaults(parsing: spec)
        } throws: { error in
            (error as? SimulatorError)?.field == field && (error as? SimulatorError)?.code == "invalid_fault"
        }
    }
}
