public import BatchGateCore

extension AirOpsSimulator {
    /// How batches created while this scenario is set progress through the three AirOps phases.
    ///
    /// Phase boundaries, from the create time `t`: scraping runs from `t + queueDelay` (before that every
    /// phase is `pending`) for `scrapingDuration`; analyzing follows for `analyzingDuration`; enriching is
    /// submitted `enrichingSubmitDelay` later and runs for `enrichingDuration`. Item outcomes come from
    /// the URL: a path containing `fail` fails scraping with `SCRAPE_FAILED`; a path containing `partial`
    /// needs enrichment and fails it; other URLs succeed, about a third of them without enrichment.
    public struct Scenario: Sendable, Hashable {
        /// How the batch ends.
        public enum Outcome: String, Sendable, Hashable, CaseIterable {
            /// Every phase completes (enriching is `skipped` when no item needs it).
            case completed
            /// Scraping fails with `SCRAPING_ERROR`; every URL counts as failed.
            case scrapingFailure = "scraping_failure"
            /// Enriching fails with `LLM_BATCH_FAILED`.
            case enrichmentFailed = "enrichment_failed"
            /// Enriching fails with `LLM_BATCH_EXPIRED`.
            case enrichmentExpired = "enrichment_expired"
            /// Every scraped item is already complete: enriching is `skipped`.
            case enrichingSkipped = "enriching_skipped"
        }

        /// Time from create until scraping starts; every phase is `pending` meanwhile.
        public var queueDelay: Duration
        /// Scraping time; items finish evenly spaced over it.
        public var scrapingDuration: Duration
        /// Gap-analysis time.
        public var analyzingDuration: Duration
        /// Time from analysis done until the LLM batch is submitted.
        public var enrichingSubmitDelay: Duration
        /// LLM enrichment time; items finish evenly spaced over it.
        public var enrichingDuration: Duration
        /// How the batch ends.
        public var outcome: Outcome
        /// Reported as `batch_mode`; when true the enrichment gets an `llm_batch_id`.
        public var batchMode: Bool
        /// When set, batches created before it finish at this time: scraping stretches (or shrinks to
        /// nothing) so the later phases end then, so many batches can finish together.
        public var finishAt: Timestamp?

        /// A scenario; the defaults finish a batch in about a second.
        public init(
            queueDelay: Duration = .zero,
            scrapingDuration: Duration = .milliseconds(400),
            analyzingDuration: Duration = .milliseconds(100),
            enrichingSubmitDelay: Duration = .milliseconds(50),
            enrichingDuration: Duration = .milliseconds(400),
            outcome: Outcome = .completed,
            batchMode: Bool = true,
            finishAt: Timestamp? = nil
        ) {
            self.queueDelay = queueDelay
            self.scrapingDuration = scrapingDuration
            self.analyzingDuration = analyzingDuration
            self.enrichingSubmitDelay = enrichingSubmitDelay
            self.enrichingDuration = enrichingDuration
            self.outcome = outcome
            self.batchMode = batchMode
            self.finishAt = finishAt
        }

        /// How long scraping takes for a batch created at `createdAt`.
        func scrapingTime(createdAt: Timestamp) -> Duration {
            guard let finishAt else { return scrapingDuration }
            let rest = queueDelay + analyzingDuration + enrichingSubmitDelay + enrichingDuration
            return max(.zero, createdAt.duration(to: finishAt) - rest)
        }
    }
}

/// One simulated AirOps batch: a pure function from wall-clock time to the vendor's view of it.
struct AirOpsTimeline: Sendable {
    struct Item: Sendable {
        var url: String
        var customID: String?
        var scrapeFails: Bool
        var needsEnrichment: Bool
        var enrichFails: Bool
    }

    enum Ending: Sendable, Equatable {
        case scrapingFailed
        case enrichingSkipped
        case enriched
        case enrichingFailed(code: String, message: String)
    }

    /// One webhook the batch emits, at the moment its state changes.
    struct Event: Sendable, Equatable {
        var type: String
        var at: Timestamp
    }

    let id: String
    let createdAt: Timestamp
    let items: [Item]
    let brands: [String]
    let batchMode: Bool
    let llmBatchID: String?
    let ending: Ending
    /// Scraping start, scraping end, analyzing end, enriching start, enriching end.
    let scrapingStart: Timestamp
    let scrapingEnd: Timestamp
    let analyzingEnd: Timestamp
    let enrichingStart: Timestamp
    let enrichingEnd: Timestamp
    let events: [Event]

    static let eventPrefix = "event.batch.airops."

    init(
        id: String,
        createdAt: Timestamp,
        requested: [(url: String, customID: String?)],
        brands: [String],
        scenario: AirOpsSimulator.Scenario,
        llmBatchID: String
    ) {
        self.id = id
        self.createdAt = createdAt
        self.brands = brands
        batchMode = scenario.batchMode
        items = requested.map { entry in
            let path = AirOpsContent.path(of: entry.url).lowercased()
            let scrapeFails = scenario.outcome == .scrapingFailure || path.contains("fail")
            let partial = path.contains("partial")
            let needs = !scrapeFails && scenario.outcome != .enrichingSkipped && (partial || AirOpsContent.hash(entry.url) % 3 != 0)
            return Item(url: entry.url, customID: entry.customID, scrapeFails: scrapeFails, needsEnrichment: needs, enrichFails: needs && partial)
        }
        if items.allSatisfy(\.scrapeFails) {
            ending = .scrapingFailed
        } else if !items.contains(where: \.needsEnrichment) {
            ending = .enrichingSkipped
        } else {
            switch scenario.outcome {
            case .enrichmentFailed:
                ending = .enrichingFailed(code: "LLM_BATCH_FAILED", message: "LLM batch processing failed with status: failed")
            case .enrichmentExpired:
                ending = .enrichingFailed(code: "LLM_BATCH_EXPIRED", message: "LLM batch timed out before completion")
            case .completed, .scrapingFailure, .enrichingSkipped:
                ending = .enriched
            }
        }
        self.llmBatchID = scenario.batchMode ? llmBatchID : nil
        scrapingStart = createdAt.adding(scenario.queueDelay)
        scrapingEnd = scrapingStart.adding(scenario.scrapingTime(createdAt: createdAt))
        analyzingEnd = scrapingEnd.adding(scenario.analyzingDuration)
        enrichingStart = analyzingEnd.adding(scenario.enrichingSubmitDelay)
        enrichingEnd = enrichingStart.adding(scenario.enrichingDuration)

        let p = Self.eventPrefix
        var events = [Event(type: p + "scraping_started", at: scrapingStart)]
        switch ending {
        case .scrapingFailed:
            events += [Event(type: p + "scraping_failed", at: scrapingEnd), Event(type: p + "failed", at: scrapingEnd)]
        case .enrichingSkipped:
            events += [
                Event(type: p + "scraping_completed", at: scrapingEnd), Event(type: p + "analyzing_completed", at: analyzingEnd),
                Event(type: p + "completed", at: analyzingEnd),
            ]
        case .enriched:
            events += [
                Event(type: p + "scraping_completed", at: scrapingEnd), Event(type: p + "analyzing_completed", at: analyzingEnd),
                Event(type: p + "enriching_started", at: enrichingStart), Event(type: p + "enriching_completed", at: enrichingEnd),
                Event(type: p + "completed", at: enrichingEnd),
            ]
        case .enrichingFailed:
            events += [
                Event(type: p + "scraping_completed", at: scrapingEnd), Event(type: p + "analyzing_completed", at: analyzingEnd),
                Event(type: p + "enriching_started", at: enrichingStart), Event(type: p + "enriching_failed", at: enrichingEnd),
                Event(type: p + "failed", at: enrichingEnd),
            ]
        }
        self.events = events
    }

    /// When the batch reached its final state.
    var finishedAt: Timestamp {
        switch ending {
        case .scrapingFailed: scrapingEnd
        case .enrichingSkipped: analyzingEnd
        case .enriched, .enrichingFailed: enrichingEnd
        }
    }

    // MARK: - State at a time

    struct Snapshot: Sendable {
        var overall: String
        var scraping: [String: JSONValue]
        var analyzing: [String: JSONValue]
        var enriching: [String: JSONValue]
    }

    /// The vendor's view of the batch at `t`. `getShape` adds the fields only `GET` shows (`batch_mode`
    /// inside enriching).
    func snapshot(at t: Timestamp, getShape: Bool = false) -> Snapshot {
        let scraping = scrapingState(at: t)
        let analyzing = analyzingState(at: t)
        var enriching = enrichingState(at: t)
        if getShape { enriching["batch_mode"] = .bool(batchMode) }
        let states = [scraping, analyzing, enriching].map { $0["state"]?.stringValue ?? "pending" }
        let overall: String =
            if states.contains("failed") { "failed" } else if states[2] == "completed" || states[2] == "skipped" {
                "completed"
            } else if states.allSatisfy({ $0 == "pending" }) { "pending" } else { "in_progress" }
        return Snapshot(overall: overall, scraping: scraping, analyzing: analyzing, enriching: enriching)
    }

    private static func int(_ value: Int) -> JSONValue { .number(Double(value)) }
    private static func time(_ value: Timestamp?) -> JSONValue { value.map { .number(Double($0.milliseconds)) } ?? .null }

    /// How many of `count` evenly spaced units are done at `t` within `start..<end`.
    private static func done(_ count: Int, from start: Timestamp, to end: Timestamp, at t: Timestamp) -> Int {
        guard t >= start else { return 0 }
        let span = end.milliseconds - start.milliseconds
        guard span > 0, t < end else { return count }
        return Int(Int64(count) * (t.milliseconds - start.milliseconds) / span)
    }

    private var scrapedOK: [Item] { items.filter { !$0.scrapeFails } }

    private func scrapingState(at t: Timestamp) -> [String: JSONValue] {
        let n = items.count
        var phase: [String: JSONValue] = [
            "submitted": Self.int(n), "valid": Self.int(n), "error": .null,
            "started_at": Self.time(t >= scrapingStart ? scrapingStart : nil),
            "completed_at": Self.time(t >= scrapingEnd ? scrapingEnd : nil),
        ]
        let processed = items.prefix(Self.done(n, from: scrapingStart, to: scrapingEnd, at: t))
        let failed = processed.filter(\.scrapeFails).count
        phase["succeeded"] = Self.int(processed.count - failed)
        phase["failed"] = Self.int(failed)
        if t < scrapingStart {
            phase["state"] = .string("pending")
        } else if t < scrapingEnd {
            phase["state"] = .string("started")
        } else if ending == .scrapingFailed {
            phase["state"] = .string("failed")
            phase["error"] = .object(["code": .string("SCRAPING_ERROR"), "message": .string("All URLs failed to scrape")])
        } else {
            phase["state"] = .string("completed")
        }
        return phase
    }

    private func analyzingState(at t: Timestamp) -> [String: JSONValue] {
        var phase: [String: JSONValue] = [
            "state": .string("pending"), "items_analyzed": Self.int(0), "items_needing_enrichment": Self.int(0),
            "items_complete": Self.int(0), "fields_to_enrich": .null, "started_at": .null, "completed_at": .null,
        ]
        guard ending != .scrapingFailed, t >= scrapingEnd else { return phase }
        phase["state"] = .string("started")
        phase["started_at"] = Self.time(scrapingEnd)
        guard t >= analyzingEnd else { return phase }
        let analyzed = scrapedOK
        let needing = analyzed.filter(\.needsEnrichment)
        phase["state"] = .string("completed")
        phase["completed_at"] = Self.time(analyzingEnd)
        phase["items_analyzed"] = Self.int(analyzed.count)
        phase["items_needing_enrichment"] = Self.int(needing.count)
        phase["items_complete"] = Self.int(analyzed.count - needing.count)
        var missing: [String: Int] = ["page_type": 0, "author": 0, "date_published": 0, "date_modified": 0, "brand_mentions": 0]
        for item in needing {
            let hash = AirOpsContent.hash(item.url)
            missing["page_type", default: 0] += 1
            missing["brand_mentions", default: 0] += 1
            if hash & 0x10 != 0 { missing["author", default: 0] += 1 }
            if hash & 0x20 != 0 { missing["date_published", default: 0] += 1 }
            if hash & 0x40 != 0 { missing["date_modified", default: 0] += 1 }
        }
        phase["fields_to_enrich"] = .object(missing.mapValues(Self.int))
        return phase
    }

    private func enrichingState(at t: Timestamp) -> [String: JSONValue] {
        let needing = scrapedOK.filter(\.needsEnrichment)
        var phase: [String: JSONValue] = [
            "state": .string("pending"), "items_to_enrich": Self.int(0), "items_enriched": Self.int(0), "items_failed": Self.int(0),
            "llm_batch_id": .null, "started_at": .null, "completed_at": .null, "error": .null,
        ]
        guard ending != .scrapingFailed, t >= analyzingEnd else { return phase }
        if ending == .enrichingSkipped {
            phase["state"] = .string("skipped")
            phase["completed_at"] = Self.time(analyzingEnd)
            return phase
        }
        phase["items_to_enrich"] = Self.int(needing.count)
        guard t >= enrichingStart else { return phase }
        phase["state"] = .string("started")
        phase["started_at"] = Self.time(enrichingStart)
        phase["llm_batch_id"] = llmBatchID.map(JSONValue.string) ?? .null
        switch ending {
        case .enrichingFailed(let code, let message):
            guard t >= enrichingEnd else { return phase }
            phase["state"] = .string("failed")
            phase["completed_at"] = Self.time(enrichingEnd)
            phase["error"] = .object(["code": .string(code), "message": .string(message)])
        default:
            let processed = needing.prefix(Self.done(needing.count, from: enrichingStart, to: enrichingEnd, at: t))
            let failed = processed.filter(\.enrichFails).count
            phase["items_enriched"] = Self.int(processed.count - failed)
            phase["items_failed"] = Self.int(failed)
            guard t >= enrichingEnd else { return phase }
            phase["state"] = .string("completed")
            phase["completed_at"] = Self.time(enrichingEnd)
            let prompt = needing.count * 2_750
            let completion = needing.count * 190
            phase["llm"] = .object([
                "provider": .string("olostep"), "model": .string("default"),
                "usage": .object([
                    "prompt_tokens": Self.int(prompt), "completion_tokens": Self.int(completion),
                    "total_tokens": Self.int(prompt + completion),
                ]),
                "completion_time_ms": Self.int(Int(enrichingEnd.milliseconds - enrichingStart.milliseconds)),
            ])
        }
        return phase
    }

    // MARK: - Wire bodies

    private func statusObject(_ snapshot: Snapshot) -> JSONValue {
        .object([
            "overall": .string(snapshot.overall), "scraping": .object(snapshot.scraping),
            "analyzing": .object(snapshot.analyzing), "enriching": .object(snapshot.enriching),
        ])
    }

    /// The create response: phases nested under `status`.
    func createResponse(at t: Timestamp) -> JSONValue {
        .object([
            "id": .string(id), "object": .string("batch_airops"), "created": Self.time(createdAt),
            "total_urls": Self.int(items.count), "status": statusObject(snapshot(at: t)),
        ])
    }

    /// The `GET /v1/batches-airops/{id}` body: plain-string `status`, phases at the top level.
    func getResponse(at t: Timestamp) -> JSONValue {
        let snapshot = snapshot(at: t, getShape: true)
        return .object([
            "id": .string(id), "object": .string("batch"), "created_at": Self.time(createdAt), "total_urls": Self.int(items.count),
            "status": .string(snapshot.overall), "batch_mode": .bool(batchMode), "scraping": .object(snapshot.scraping),
            "analyzing": .object(snapshot.analyzing), "enriching": .object(snapshot.enriching),
        ])
    }

    /// A webhook body for `event`, showing the state at the event's time, sent at `sentAt`.
    func webhookPayload(_ event: Event, sentAt: Timestamp) -> JSONValue {
        .object([
            "object": .string(event.type), "id": .string(id), "created": Self.time(createdAt),
            "timestamp": Self.time(sentAt), "status": statusObject(snapshot(at: event.at)),
        ])
    }

    /// The `GET /v1/batches-airops/{id}/items` body; items are listed only once the batch completed.
    func itemsResponse(at t: Timestamp) -> JSONValue {
        let overall = snapshot(at: t).overall
        var listed: [JSONValue] = []
        var succeeded = 0
        var failed = 0
        if overall == "completed" {
            for item in items {
                var fields: [String: JSONValue] = [
                    "url": .string(item.url), "custom_id": item.customID.map(JSONValue.string) ?? .null,
                ]
                if item.scrapeFails {
                    failed += 1
                    fields["failed_stage"] = .string("scraping")
                    fields["error"] = .object([
                        "code": .string("SCRAPE_FAILED"), "message": .string("Failed to scrape \(item.url): HTTP 404 Not Found"),
                    ])
                } else if item.enrichFails {
                    failed += 1
                    fields["failed_stage"] = .string("enriching")
                    fields["error"] = .object([
                        "code": .string("ENRICHMENT_FAILED"), "message": .string("The LLM returned no usable extraction for this page"),
                    ])
                } else {
                    succeeded += 1
                    for (key, value) in AirOpsContent.extractedFields(url: item.url, brands: brands) { fields[key] = value }
                }
                listed.append(.object(fields))
            }
        }
        return .object([
            "batch_id": .string(id), "completed_at": Self.time(overall == "completed" ? finishedAt : nil),
            "status": .string(overall),
            "counts": .object(["total": Self.int(items.count), "succeeded": Self.int(succeeded), "failed": Self.int(failed)]),
            "items": .array(listed),
        ])
    }
}

/// Deterministic, plausible page content derived from a URL.
enum AirOpsContent {
    /// FNV-1a 64: stable across runs, unlike `Hasher`.
    static func hash(_ text: String) -> UInt64 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in text.utf8 {
            hash ^= UInt64(byte)
            hash = hash &* 0x0000_0100_0000_01B3
        }
        return hash
    }

    /// The path part of a URL (empty when it has none).
    static func path(of url: String) -> String {
        guard let schemeEnd = url.firstRange(of: "://") else { return "" }
        let rest = url[schemeEnd.upperBound...]
        guard let slash = rest.firstIndex(of: "/") else { return "" }
        return String(rest[slash...].prefix { $0 != "?" && $0 != "#" })
    }

    private static let authors = ["Ada Lovelace", "Grace Hopper", "Alan Turing", "Katherine Johnson", "Edsger Dijkstra", "Barbara Liskov"]
    private static let pageTypes = ["article", "landing_page", "product", "documentation"]

    static func extractedFields(url: String, brands: [String]) -> [String: JSONValue] {
        let hash = hash(url)
        let path = path(of: url).lowercased()
        let pageType: String =
            if path.isEmpty || path == "/" { "homepage" } else if ["blog", "post", "article", "news"].contains(where: path.contains) {
                "article"
            } else if ["product", "shop", "store"].contains(where: path.contains) { "product" } else if path.contains("docs") { "documentation" } else
            { pageTypes[Int(hash % UInt64(pageTypes.count))] }
        let epoch2023 = Timestamp(milliseconds: 1_672_531_200_000)
        let published = epoch2023.adding(.seconds(86_400 * Int64((hash >> 16) % 700)))
        let modified = published.adding(.seconds(86_400 * Int64((hash >> 26) % 120)))
        var mentions: [JSONValue] = []
        for (index, brand) in brands.enumerated() {
            let count = Int((hash >> UInt64(32 + (index % 8) * 4)) % 5)
            if count > 0 { mentions.append(.object(["brand": .string(brand), "count": .number(Double(count))])) }
        }
        let hasAuthor = pageType == "article" || pageType == "documentation"
        return [
            "page_type": .string(pageType),
            "author": hasAuthor ? .string(authors[Int((hash >> 8) % UInt64(authors.count))]) : .null,
            "date_published": .string(String(published.rfc3339.prefix(10))),
            "date_modified": .string(String(modified.rfc3339.prefix(10))),
            "brand_mentions": .array(mentions),
        ]
    }
}
