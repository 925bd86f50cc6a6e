import BatchGateCore

/// One tagging job's state machine: it processes its documents one at a time on the clock it is given,
/// reads control commands between documents, and renders every wire body the service sends. No I/O.
struct TaggerJob: Sendable {
    struct Document: Sendable, Hashable {
        var title: String
        var filePath: String
        var sourceType: String
        var description: String?
    }

    struct Settings: Sendable, Hashable {
        var modelName = "openai/gpt-4o-mini"
        var numPages = 3
        var numTags = 8
        var exclusionWords: [String] = []
    }

    enum Status: String, Sendable {
        case pending, processing, paused, completed, failed, cancelled

        var isFinished: Bool { self == .completed || self == .failed || self == .cancelled }
    }

    /// A control command waiting for the next document boundary.
    enum Command: Sendable {
        case pause, cancel
    }

    /// Why a control request was refused; the HTTP layer turns it into a 400.
    struct Refusal: Error {
        var detail: String
    }

    /// What the document in flight does when its time is up.
    private enum Step {
        case succeed(retryCount: Int)
        case fail
        case rateLimit
    }

    let id: String
    let documents: [Document]
    let settings: Settings
    let scenario: TaggerSimulator.Scenario
    private(set) var status: Status = .pending
    private(set) var processed = 0
    private(set) var failed = 0
    /// The final result of every finished row, in row order.
    private(set) var results: [JSONValue] = []
    private(set) var jobError: String?
    private var pendingCommand: Command?
    private var current: Int?
    private var currentRateLimited = false
    private var dueAt: ContinuousClock.Instant?

    init(id: String, documents: [Document], settings: Settings, scenario: TaggerSimulator.Scenario) {
        self.id = id
        self.documents = documents
        self.settings = settings
        self.scenario = scenario
    }

    var total: Int { documents.count }
    var progress: Double { total == 0 ? 1 : Double(processed + failed) / Double(total) }

    // MARK: - Processing

    /// Runs every step due by `now` and returns the live messages they produce, in order; the last one is
    /// the final message once the job ends.
    mutating func advance(now: ContinuousClock.Instant) -> [JSONValue] {
        var messages: [JSONValue] = []
        while !status.isFinished {
            if let index = current {
                guard let due = dueAt, due <= now else { break }
                switch step(for: index) {
                case .rateLimit:
                    currentRateLimited = true
                    messages.append(rateLimitMessage(index))
                    dueAt = due.advanced(by: scenario.documentInterval)
                    continue
                case .fail:
                    failed += 1
                    let message = failureMessage(index)
                    results.append(Self.rowResult(message))
                    messages.append(message)
                case .succeed(let retryCount):
                    processed += 1
                    let message = successMessage(index, retryCount: retryCount)
                    results.append(Self.rowResult(message))
                    messages.append(message)
                }
                current = nil
                currentRateLimited = false
                if let end = boundary(at: due) { messages.append(end) }
                if !status.isFinished, status != .paused { startDocument(processed + failed, at: due, into: &messages) }
            } else if status == .paused {
                guard pendingCommand == .cancel else { break }
                messages.append(finish(.cancelled))
            } else {
                if let end = boundary(at: now) {
                    messages.append(end)
                    continue
                }
                if status == .paused { continue }
                startDocument(processed + failed, at: now, into: &messages)
            }
        }
        return messages
    }

    /// Processes every document at once, as if the job had run long before anyone looked.
    mutating func finishInstantly(now: ContinuousClock.Instant) {
        var clock = now
        while !status.isFinished {
            _ = advance(now: clock)
            if let dueAt { clock = dueAt }
        }
    }

    private mutating func startDocument(_ index: Int, at start: ContinuousClock.Instant, into messages: inout [JSONValue]) {
        status = .processing
        current = index
        dueAt = start.advanced(by: scenario.documentInterval)
        messages.append(processingMessage(index))
    }

    /// Between documents: the job ends when every document is done, a job failure is due, or a command
    /// says so; a pause is applied here too. Returns the final message when the job ended.
    private mutating func boundary(at instant: ContinuousClock.Instant) -> JSONValue? {
        let done = processed + failed
        if let limit = scenario.failJobAfter, done >= limit, done < total {
            return finish(.failed)
        }
        if done >= total { return finish(.completed) }
        switch pendingCommand {
        case .cancel?:
            return finish(.cancelled)
        case .pause?:
            pendingCommand = nil
            status = .paused
            dueAt = nil
        case nil:
            break
        }
        return nil
    }

    private mutating func finish(_ end: Status) -> JSONValue {
        status = end
        pendingCommand = nil
        current = nil
        dueAt = nil
        if end == .failed {
            jobError = "Job failed after \(processed + failed) of \(total) documents: the tagging worker stopped unexpectedly"
        }
        return finalMessage(live: true) ?? .null
    }

    private func step(for index: Int) -> Step {
        let ordinal = index + 1
        if let every = scenario.failEvery, every > 0, ordinal % every == 0 { return .fail }
        if let every = scenario.rateLimitEvery, every > 0, ordinal % every == 0 {
            return currentRateLimited ? .succeed(retryCount: 2) : .rateLimit
        }
        return .succeed(retryCount: 1)
    }

    // MARK: - Control

    /// `POST .../cancel`: read at the next document boundary.
    mutating func requestCancel() throws(Refusal) -> String {
        guard !status.isFinished else { throw Refusal(detail: "Job \(id) is already \(status.rawValue) and cannot be cancelled") }
        pendingCommand = .cancel
        return "Cancellation requested for job \(id)"
    }

    /// `POST .../pause`: read at the next document boundary.
    mutating func requestPause() throws(Refusal) -> String {
        guard !status.isFinished else { throw Refusal(detail: "Job \(id) is already \(status.rawValue) and cannot be paused") }
        guard status != .paused, pendingCommand == nil else { throw Refusal(detail: "Job \(id) is already paused or stopping") }
        pendingCommand = .pause
        return "Pause requested for job \(id)"
    }

    /// `POST .../resume`: a paused job starts its next document at once; a pause not yet applied is dropped.
    mutating func requestResume() throws(Refusal) -> String {
        if status == .paused, pendingCommand == nil {
            status = .processing
            return "Job \(id) resumed"
        }
        if pendingCommand == .pause {
            pendingCommand = nil
            return "Job \(id) resumed"
        }
        throw Refusal(detail: "Job \(id) is \(status.rawValue), not paused")
    }

    // MARK: - Wire bodies

    /// `GET /api/batch/jobs/{job_id}/status`.
    var statusBody: JSONValue {
        [
            "job_id": .string(id), "status": .string(status.rawValue), "progress": .number(progress),
            "processed_count": Self.int(processed), "failed_count": Self.int(failed), "total": Self.int(total),
            "results_count": Self.int(results.count),
        ]
    }

    /// The message a socket gets first. Every `state` value is a string, as the service reads it from a
    /// Redis hash.
    var catchup: JSONValue {
        [
            "type": "catchup", "job_id": .string(id),
            "state": [
                "status": .string(status.rawValue), "progress": .string(String(describing: progress)),
                "processed_count": .string(String(processed)), "failed_count": .string(String(failed)),
                "total": .string(String(total)),
            ],
            "results": .array(results),
        ]
    }

    /// `completed`, `cancelled` or `error` once the job ended, else nil. Counts are integers on the live
    /// path and strings when the job had already ended when the socket connected; `error` has no counts.
    func finalMessage(live: Bool) -> JSONValue? {
        let count: (Int) -> JSONValue = { live ? Self.int($0) : .string(String($0)) }
        switch status {
        case .completed, .cancelled:
            return [
                "type": .string(status.rawValue), "job_id": .string(id), "processed_count": count(processed),
                "failed_count": count(failed),
                "message": .string(status == .completed ? "Job completed" : "Job cancelled"),
            ]
        case .failed:
            return ["type": "error", "job_id": .string(id), "error": .string(jobError ?? "Job failed")]
        case .pending, .processing, .paused:
            return nil
        }
    }

    /// `{"type": "keepalive", "job_id", "status"}`.
    var keepalive: JSONValue {
        ["type": "keepalive", "job_id": .string(id), "status": .string(status.rawValue)]
    }

    /// The fields every per-document message shares. No `type`: the page's table lists `"progress"`, but
    /// the service's code sends these messages without one.
    private func progressMessage(_ index: Int, status: String) -> [String: JSONValue] {
        [
            "job_id": .string(id), "row_id": Self.int(index), "row_number": Self.int(index + 1),
            "title": .string(documents[index].title), "status": .string(status), "progress": .number(progress),
            "model_name": .string(settings.modelName),
        ]
    }

    private func processingMessage(_ index: Int) -> JSONValue {
        var message = progressMessage(index, status: "processing")
        message["retry_count"] = Self.int(1)
        return .object(message)
    }

    private func successMessage(_ index: Int, retryCount: Int) -> JSONValue {
        var message = progressMessage(index, status: "success")
        message["tags"] = .array(
            TaggerContent.tags(for: documents[index].title, count: settings.numTags, excluding: settings.exclusionWords).map(JSONValue.string)
        )
        message["retry_count"] = Self.int(retryCount)
        message["metadata"] = [
            "extraction_method": "pypdf2", "is_scanned": false,
            "processing_time": .number(Double(scenario.documentInterval.milliseconds) / 1000),
        ]
        return .object(message)
    }

    private func failureMessage(_ index: Int) -> JSONValue {
        var message = progressMessage(index, status: "failed")
        message["error"] = .string("The model returned no usable tags for \(documents[index].title)")
        message["error_type"] = "model-error"
        message["retry_count"] = Self.int(3)
        return .object(message)
    }

    private func rateLimitMessage(_ index: Int) -> JSONValue {
        var message = progressMessage(index, status: "failed")
        message["error"] = "Rate limit exceeded, retrying"
        message["error_type"] = "rate-limit"
        message["retry_after_ms"] = Self.int(Int(scenario.documentInterval.milliseconds))
        message["retry_count"] = Self.int(1)
        return .object(message)
    }

    /// A row's entry in `catchup.results`: its final progress message without `job_id` and `progress`.
    private static func rowResult(_ message: JSONValue) -> JSONValue {
        guard case .object(var fields) = message else { return message }
        fields["job_id"] = nil
        fields["progress"] = nil
        return .object(fields)
    }

    private static func int(_ value: Int) -> JSONValue { .number(Double(value)) }
}

/// Deterministic, plausible tags derived from a document title.
enum TaggerContent {
    private static let topics = [
        "employee", "training", "compliance", "safety", "finance", "budget", "onboarding", "policy", "security",
        "privacy", "quarterly", "report", "customer", "support", "product", "roadmap", "engineering", "design",
        "legal", "contract", "marketing", "strategy", "operations", "logistics", "research", "analysis",
        "healthcare", "insurance", "procurement", "vendor", "audit", "risk",
    ]
    private static let facets = [
        "guidelines", "procedures", "overview", "planning", "review", "standards", "metrics", "handbook",
        "requirements", "summary", "checklist", "framework", "best-practices", "workflow", "governance", "forecast",
    ]

    /// `count` distinct kebab-case tags for `title`; none contains an excluded word (case-insensitive).
    static func tags(for title: String, count: Int, excluding: [String]) -> [String] {
        let excluded = excluding.map { $0.lowercased() }.filter { !$0.isEmpty }
        var state = AirOpsContent.hash(title)
        var tags: [String] = []
        var attempts = 0
        while tags.count < count, attempts < 10_000 {
            attempts += 1
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            let topic = topics[Int((state >> 33) % UInt64(topics.count))]
            let facet = facets[Int((state >> 17) % UInt64(facets.count))]
            let tag = "\(topic)-\(facet)"
            guard !tags.contains(tag), !excluded.contains(where: tag.contains) else { continue }
            tags.append(tag)
        }
        return tags
    }
}
