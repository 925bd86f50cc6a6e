import BatchGateCore

/// One simulated Aitronos batch: a pure function from wall-clock time to the vendor's view of it.
///
/// Jobs run in `parallelJobs` lanes in request order: job `i` starts `queueDelay + (i / parallelJobs) ×
/// perURLDuration` after the create and takes `perURLDuration`. A job is `pending` until its start,
/// `processing` until its end, then `failed` when its URL's path contains `fail`, else `completed`.
struct AitronosBatch: Sendable {
    struct Job: Sendable {
        var id: String
        var url: String
        var start: Timestamp
        var end: Timestamp
        var fails: Bool
        /// What the job extracts when it completes.
        var items: [JSONValue]
    }

    let id: String
    let createdAt: Timestamp
    let jobs: [Job]
    let perURLDuration: Duration

    init(
        id: String,
        createdAt: Timestamp,
        urls: [String],
        jobIDs: [String],
        schema: JSONValue,
        maxItemsPerURL: Int,
        maxTotalItems: Int,
        parallelJobs: Int,
        perURLDuration: Duration,
        queueDelay: Duration
    ) {
        self.id = id
        self.createdAt = createdAt
        self.perURLDuration = perURLDuration
        let lanes = max(parallelJobs, 1)
        var budget = maxTotalItems
        var jobs: [Job] = []
        for (index, url) in urls.enumerated() {
            let start = createdAt.adding(queueDelay + perURLDuration * (index / lanes))
            let fails = AitronosContent.path(of: url).lowercased().contains("fail")
            var count = 0
            if !fails {
                count = min(1 + Int(AitronosContent.hash(url) % 3), maxItemsPerURL, budget)
                budget -= count
            }
            jobs.append(
                Job(
                    id: jobIDs[index],
                    url: url,
                    start: start,
                    end: start.adding(perURLDuration),
                    fails: fails,
                    items: AitronosContent.items(url: url, schema: schema, count: count)
                )
            )
        }
        self.jobs = jobs
    }

    /// The job's vendor status at `t`.
    func status(of job: Job, at t: Timestamp) -> String {
        if t <= job.start { return "pending" }
        if t < job.end { return "processing" }
        return job.fails ? "failed" : "completed"
    }

    private func itemsExtracted(_ job: Job, at t: Timestamp) -> Int {
        status(of: job, at: t) == "completed" ? job.items.count : 0
    }

    private static func int(_ value: Int) -> JSONValue { .number(Double(value)) }

    private static func time(_ value: Timestamp?) -> JSONValue { value.map { .string($0.rfc3339) } ?? .null }

    /// The create response, as on the vendor's page: every job just queued.
    func createResponse() -> JSONValue {
        .object([
            "batch_id": .string(id), "total_urls": Self.int(jobs.count),
            "jobs": .array(
                jobs.map { job in
                    .object(["job_id": .string(job.id), "url": .string(job.url), "status": .string(status(of: job, at: createdAt))])
                }
            ),
            "progress": .object([
                "completed": 0, "failed": 0, "pending": Self.int(jobs.count), "total_items_extracted": 0,
            ]),
            "created_at": Self.time(createdAt),
        ])
    }

    /// The `data` of `GET /v1/scrape/batch/{id}/progress` at `t`. `pending` counts jobs not yet started.
    func progressData(at t: Timestamp, shuffled: Bool = false, listingURLs: Bool = true) -> JSONValue {
        var counts: [String: Int] = ["completed": 0, "failed": 0, "pending": 0]
        var items = 0
        var listed: [JSONValue] = []
        for job in jobs {
            let status = status(of: job, at: t)
            counts[status, default: 0] += 1
            items += itemsExtracted(job, at: t)
            listed.append(
                .object([
                    "job_id": .string(job.id), "url": listingURLs ? .string(job.url) : .null, "status": .string(status),
                    "items_extracted": Self.int(itemsExtracted(job, at: t)),
                ])
            )
        }
        return .object([
            "batch_id": .string(id), "total_urls": Self.int(jobs.count), "completed": Self.int(counts["completed"] ?? 0),
            "failed": Self.int(counts["failed"] ?? 0), "pending": Self.int(counts["pending"] ?? 0),
            "total_items_extracted": Self.int(items), "estimated_completion": Self.time(jobs.map(\.end).max()),
            "jobs": .array(shuffled ? listed.shuffled() : listed),
        ])
    }

    /// One job as `GET /v1/scrape/jobs?…` lists it.
    func listEntry(_ job: Job, at t: Timestamp) -> JSONValue {
        .object([
            "job_id": .string(job.id), "batch_id": .string(id), "url": .string(job.url), "status": .string(status(of: job, at: t)),
            "items_extracted": Self.int(itemsExtracted(job, at: t)), "created_at": Self.time(createdAt),
        ])
    }

    /// `GET /v1/scrape/jobs/{job_id}` at `t`.
    func detail(_ job: Job, at t: Timestamp) -> JSONValue {
        let status = status(of: job, at: t)
        let finished = status == "completed" || status == "failed"
        let hash = AitronosContent.hash(job.url)
        var fields: [String: JSONValue] = [
            "job_id": .string(job.id), "batch_id": .string(id), "url": .string(job.url), "status": .string(status),
            "items_extracted": Self.int(itemsExtracted(job, at: t)),
            "extracted_data": status == "completed" ? .array(job.items) : .null,
            "metadata": .null, "error": .null, "created_at": Self.time(createdAt),
            "started_at": Self.time(t > job.start ? job.start : nil), "completed_at": Self.time(finished ? job.end : nil),
        ]
        if finished {
            fields["metadata"] = .object([
                "processing_time": .number(perURLDuration.seconds), "engine_used": .string(hash % 2 == 0 ? "httpx" : "playwright"),
                "llm_calls": Self.int(job.fails ? 0 : 1), "cache_hit": .bool(!job.fails && hash & 0x4 != 0),
            ])
        }
        if status == "failed" {
            fields["error"] = .string("Failed to fetch \(job.url): HTTP 404 Not Found")
        }
        return .object(fields)
    }
}

/// Deterministic, plausible extracted items derived from a URL and the request's schema.
enum AitronosContent {
    /// FNV-1a 64: stable across runs, unlike `Hasher`.
    static func hash(_ text: String) -> UInt64 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in text.utf8 {
            hash ^= UInt64(byte)
            hash = hash &* 0x0000_0100_0000_01B3
        }
        return hash
    }

    /// The host and path of a URL, without scheme, query or fragment.
    static func location(of url: String) -> String {
        guard let schemeEnd = url.firstRange(of: "://") else { return url }
        return String(url[schemeEnd.upperBound...].prefix { $0 != "?" && $0 != "#" })
    }

    /// The path part of a URL (empty when it has none).
    static func path(of url: String) -> String {
        let location = location(of: url)
        guard let slash = location.firstIndex(of: "/") else { return "" }
        return String(location[slash...])
    }

    /// `count` items with one field per `schema.properties` entry (typed by its `type`), or
    /// `title`/`content` when the schema names no properties.
    static func items(url: String, schema: JSONValue, count: Int) -> [JSONValue] {
        guard count > 0 else { return [] }
        var fields: [(name: String, type: String)] = []
        if case .object(let properties)? = schema["properties"] {
            for name in properties.keys.sorted() {
                fields.append((name, properties[name]?["type"]?.stringValue ?? "string"))
            }
        }
        if fields.isEmpty { fields = [("title", "string"), ("content", "string")] }
        let where_ = location(of: url)
        return (1...count).map { number in
            var item: [String: JSONValue] = [:]
            for field in fields {
                let hash = hash("\(url)#\(field.name)#\(number)")
                item[field.name] =
                    switch field.type {
                    case "integer": .number(Double(hash % 1000))
                    case "number": .number(Double(hash % 100_000) / 100)
                    case "boolean": .bool(hash & 1 == 1)
                    case "array": .array([.string("\(field.name) \(number) of \(where_)")])
                    case "object": .object(["source": .string(where_)])
                    case "null": .null
                    default: .string("\(field.name.prefix(1).uppercased())\(field.name.dropFirst()) \(number) of \(where_)")
                    }
            }
            return .object(item)
        }
    }
}
