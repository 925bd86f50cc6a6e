import BatchGateCore
import BatchGateWebhooks
import Crypto
import HTTPTypes
import Hummingbird
import NIOCore

/// The HTTP API of CONTRACT §3.
///
/// Every client input is checked before it is used: query parameters (unknown or repeated names,
/// ranges, filters), path ids, headers (`Authorization`, `Content-Type`, `Idempotency-Key`,
/// `Last-Event-ID`) and bodies (size, encoding, depth, shape). A refusal is a 4xx error envelope whose
/// `field` names the parameter, header or body path; a usual method a route does not take gets a 405.
struct APIRoutes: Sendable {
    let engine: JobEngine
    var reads: BatchReads { engine.reads }
    let routes: [String: RouteSettings]
    let maxBodyBytes: Int
    let apiKeys: [String: String]
    let urlPolicy: WebhookURLPolicy
    /// Tenant → the subscription of jobs created without one.
    let webhookDefaults: [String: WebhookSubscription]
    let ready: @Sendable () async -> Bool

    func register(on router: Router<GatewayRequestContext>) {
        router.add(middleware: ErrorMiddleware())
        router.get("/healthz") { _, _ in json(#"{"status":"ok"}"#) }
        router.get("/readyz") { _, _ in
            await ready()
                ? json(#"{"status":"ready"}"#)
                : APIError.response(for: GatewayError(status: 503, code: "not_ready", message: "The store is not reachable."))
        }

        // Vendors authenticate with the per-job token in the path, not with an API key.
        router.post("/v1/providers/:provider/webhooks/:token") { request, context in
            try await receiveWebhook(request, context)
        }
        for (path, methods) in [("/healthz", [HTTPRequest.Method.get]), ("/readyz", [.get]), ("/v1/providers/:provider/webhooks/:token", [.post])] {
            Self.refuseOtherMethods(on: router, path: RouterPath(stringLiteral: path), allowed: methods)
        }

        let api = router.group("/v1/batches").add(middleware: APIKeyMiddleware(keys: apiKeys))
        api.post { request, context in try await create(request, context) }
        api.get { request, context in try await list(request, context) }
        api.get(":id") { request, context in
            _ = try QueryParameters(request, allowed: [])
            let body = try await reads.rendered(try context.parameters.require("id"), tenant: try context.requireTenant())
            return Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: body))
        }
        api.post(":id/cancel") { request, context in
            _ = try QueryParameters(request, allowed: [])
            let job = try await engine.cancel(try context.parameters.require("id"), tenant: try context.requireTenant())
            return Response(
                status: .accepted,
                headers: [.contentType: "application/json"],
                body: .init(byteBuffer: try await reads.rendered(job))
            )
        }
        api.post(":id/pause") { request, context in
            _ = try QueryParameters(request, allowed: [])
            let job = try await engine.control(try context.parameters.require("id"), tenant: try context.requireTenant(), pause: true)
            return Response(
                status: .accepted,
                headers: [.contentType: "application/json"],
                body: .init(byteBuffer: try await reads.rendered(job))
            )
        }
        api.post(":id/resume") { request, context in
            _ = try QueryParameters(request, allowed: [])
            let job = try await engine.control(try context.parameters.require("id"), tenant: try context.requireTenant(), pause: false)
            return Response(
                status: .accepted,
                headers: [.contentType: "application/json"],
                body: .init(byteBuffer: try await reads.rendered(job))
            )
        }
        api.get(":id/results") { request, context in try await results(request, context) }
        api.post(":id/migrate") { request, context in try await migrate(request, context) }
        api.get(":id/deliveries") { request, context in try await deliveries(request, context) }
        EventStreamRoute(reads: reads).register(on: api)
        let batchPaths: [(RouterPath, [HTTPRequest.Method])] = [
            ("", [.get, .post]), (":id", [.get]), (":id/cancel", [.post]), (":id/pause", [.post]), (":id/resume", [.post]),
            (":id/results", [.get]), (":id/migrate", [.post]), (":id/deliveries", [.get]), (":id/events", [.get]),
        ]
        for (path, methods) in batchPaths {
            Self.refuseOtherMethods(on: api, path: path, allowed: methods)
        }
    }

    /// Answers 405 with `Allow` to the usual methods a route does not take (instead of a misleading 404).
    static func refuseOtherMethods(
        on router: some RouterMethods<GatewayRequestContext>,
        path: RouterPath,
        allowed: [HTTPRequest.Method]
    ) {
        let allow = allowed.map(\.rawValue).joined(separator: ", ")
        for method in [HTTPRequest.Method.get, .post, .put, .patch, .delete] where !allowed.contains(method) {
            router.on(path, method: method) { request, _ -> Response in
                throw APIError(
                    GatewayError(
                        status: 405,
                        code: "method_not_allowed",
                        message: "\(request.method.rawValue) is not allowed here; this route takes \(allow)."
                    ),
                    headers: [.allow: allow]
                )
            }
        }
    }

    private func create(_ request: Request, _ context: GatewayRequestContext) async throws -> Response {
        let tenant = try context.requireTenant()
        _ = try QueryParameters(request, allowed: [])
        let idempotencyKey = try Self.idempotencyKey(request.headers[values: HTTPField.Name("Idempotency-Key")!])
        var request = request
        let body = try await collectJSONBody(&request)
        let parsed = try CreateRequest.parse(body, routes: routes, urlPolicy: urlPolicy)
        let digest = SHA256.hash(data: parsed.canonicalBody).map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined()
        let (job, replayed) = try await engine.create(
            CreateCommand(
                tenant: tenant,
                route: parsed.route,
                input: parsed.input,
                metadata: parsed.metadata,
                idempotencyKey: idempotencyKey,
                requestHash: digest,
                webhook: parsed.webhook ?? webhookDefaults[tenant]
            )
        )
        var headers: HTTPFields = [.contentType: "application/json", .location: reads.pollingURL(job)]
        if replayed { headers[HTTPField.Name("Idempotent-Replayed")!] = "true" }
        return Response(status: .created, headers: headers, body: .init(byteBuffer: try await reads.rendered(job)))
    }

    /// The `Idempotency-Key` header from its values: absent, or exactly one of 1–255 printable ASCII characters.
    static func idempotencyKey(_ values: [String]) throws(GatewayError) -> String? {
        guard let key = values.first else { return nil }
        guard values.count == 1 else { throw .invalid("Idempotency-Key", "Send one Idempotency-Key header, not \(values.count).") }
        guard (1...255).contains(key.utf8.count), key.utf8.allSatisfy({ (0x20...0x7E).contains($0) }) else {
            throw .invalid("Idempotency-Key", "Idempotency-Key must be 1–255 printable ASCII characters.")
        }
        return key
    }

    private func migrate(_ request: Request, _ context: GatewayRequestContext) async throws -> Response {
        let tenant = try context.requireTenant()
        _ = try QueryParameters(request, allowed: [])
        var request = request
        let body = try await collectJSONBody(&request)
        guard case .object(let fields) = try JSONBody.decode(body) else {
            throw GatewayError.invalid(nil, "The body must be a JSON object like {\"provider\": \"aitronos\"}.")
        }
        try CreateRequest.refuseUnknown(fields, allowed: ["provider", "dry_run"], at: nil)
        guard case .string(let provider)? = fields["provider"], !provider.isEmpty else {
            throw GatewayError.invalid("provider", "provider is required and must be the name of a configured provider.")
        }
        var dryRun = false
        switch fields["dry_run"] {
        case nil, .null?: break
        case .bool(let flag)?: dryRun = flag
        default: throw GatewayError.invalid("dry_run", "dry_run must be true or false.")
        }
        // A dry run makes every check of a real migration and answers with the batch unchanged.
        let job = try await engine.migrate(try context.parameters.require("id"), tenant: tenant, to: provider, dryRun: dryRun)
        return Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: try await reads.rendered(job)))
    }

    private func list(_ request: Request, _ context: GatewayRequestContext) async throws -> Response {
        let tenant = try context.requireTenant()
        let query = try QueryParameters(request, allowed: ["lifecycle_status", "provider", "route", "limit", "after"])
        var filter = JobQuery(tenant: tenant)
        filter.lifecycle = try query.choice("lifecycle_status", of: LifecycleStatus.allCases.map(\.rawValue)).flatMap(LifecycleStatus.init(rawValue:))
        filter.provider = try query.choice("provider", of: reads.providerNames)
        filter.route = try query.choice("route", of: routes.keys)
        filter.limit = try query.limit(default: 20, max: 100)
        if let after = query["after"] {
            guard Identifier.isWellFormed(after, prefix: "bat") else {
                throw GatewayError.invalid("after", "after must be a batch id from next_after, not '\(QueryParameters.shown(after))'.")
            }
            filter.after = after
        }
        let wanted = filter.limit
        filter.limit += 1
        var jobs = try await reads.jobs(filter)
        let hasMore = jobs.count > wanted
        if hasMore { jobs.removeLast() }
        var buffer = ByteBuffer()
        buffer.writeString(#"{"object":"list","data":["#)
        for (index, job) in jobs.enumerated() {
            if index > 0 { buffer.writeString(",") }
            var body = try await reads.rendered(job)
            buffer.writeBuffer(&body)
        }
        buffer.writeString(#"],"has_more":\#(hasMore),"next_after":"#)
        buffer.writeString(hasMore ? jobs.last.map { "\"\($0.id)\"" } ?? "null" : "null")
        buffer.writeString("}")
        return Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: buffer))
    }

    private func results(_ request: Request, _ context: GatewayRequestContext) async throws -> Response {
        let query = try QueryParameters(request, allowed: ["limit", "after"])
        let limit = try query.limit(default: 100, max: 1000)
        let after = try query.integer("after", in: 0...Int.max, meaning: "an item index from next_after (a non-negative integer)")
        let job = try await reads.job(try context.parameters.require("id"), tenant: try context.requireTenant())
        // While the job runs, items without a stored row show as pending.
        let (stored, input) = try await reads.results(job, afterIndex: after, limit: limit + 1)
        let (rows, hasMore) = ResultsPage.rows(stored: stored, pendingFrom: input, after: after, limit: limit)
        let page = ListPage(data: rows, hasMore: hasMore, nextAfter: hasMore ? rows.last?.index : nil)
        return Response(
            status: .ok,
            headers: [.contentType: "application/json"],
            body: .init(byteBuffer: ByteBuffer(bytes: BatchRenderer.encode(page)))
        )
    }

    private func deliveries(_ request: Request, _ context: GatewayRequestContext) async throws -> Response {
        let query = try QueryParameters(request, allowed: ["limit", "after"])
        let limit = try query.limit(default: 50, max: 500)
        var after: String?
        if let value = query["after"] {
            guard Identifier.isWellFormed(value, prefix: "dla") else {
                throw GatewayError.invalid(
                    "after",
                    "after must be a delivery attempt id from next_after, not '\(QueryParameters.shown(value))'."
                )
            }
            after = value
        }
        let job = try await reads.job(try context.parameters.require("id"), tenant: try context.requireTenant())
        var attempts = try await reads.deliveryAttempts(job, after: after, limit: limit + 1)
        let hasMore = attempts.count > limit
        if hasMore { attempts.removeLast() }
        let page = ListPage(data: attempts.map(AttemptObject.init), hasMore: hasMore, nextAfter: hasMore ? attempts.last?.id : nil)
        return Response(
            status: .ok,
            headers: [.contentType: "application/json"],
            body: .init(byteBuffer: ByteBuffer(bytes: BatchRenderer.encode(page)))
        )
    }

    /// Inbound vendor webhooks: size, encoding and nesting are checked before the token and the vendor's
    /// decoder see the body, so a hostile body is refused with 4xx and nothing is stored.
    private func receiveWebhook(_ request: Request, _ context: GatewayRequestContext) async throws -> Response {
        _ = try QueryParameters(request, allowed: [])
        let provider = try context.parameters.require("provider")
        let token = try context.parameters.require("token")
        var request = request
        let body = try await collectBody(&request)
        guard !body.isEmpty else { throw GatewayError(status: 400, code: "invalid_payload", message: "The body is empty.") }
        try JSONBody.check(body, code: "invalid_payload")
        var headers: [String: String] = [:]
        for field in request.headers {
            let name = field.name.canonicalName
            headers[name] = headers[name].map { "\($0), \(field.value)" } ?? field.value
        }
        let receipt: WebhookReceipt
        do {
            receipt = try await engine.receiveWebhook(
                provider: provider,
                token: token,
                request: InboundWebhookRequest(body: body, headers: headers)
            )
        } catch {
            engine.metrics.inboundWebhook(provider: provider, outcome: (error as? GatewayError)?.code ?? "error")
            throw error
        }
        engine.metrics.inboundWebhook(provider: provider, outcome: receipt.rawValue)
        return json(#"{"received":true,"outcome":"\#(receipt.rawValue)"}"#)
    }

    /// The body of a request that must carry JSON: a `Content-Type` other than `application/json`
    /// (UTF-8) is refused with 415; no `Content-Type` at all is read as JSON.
    private func collectJSONBody(_ request: inout Request) async throws -> [UInt8] {
        let types = request.headers[values: .contentType]
        if types.count > 1 {
            throw GatewayError(status: 400, code: "invalid_request", message: "Send one Content-Type header.", field: "Content-Type")
        }
        if let type = types.first {
            let unsupported = GatewayError(
                status: 415,
                code: "unsupported_media_type",
                message: "Content-Type must be application/json, not '\(QueryParameters.shown(type))'.",
                field: "Content-Type"
            )
            guard let media = MediaType(from: type), media.isType(.applicationJson) else { throw unsupported }
            if let parameter = media.parameter {
                guard parameter.name.lowercased() == "charset", ["utf-8", "utf8"].contains(parameter.value.lowercased()) else {
                    throw unsupported
                }
            }
        }
        return try await collectBody(&request)
    }

    private func collectBody(_ request: inout Request) async throws -> [UInt8] {
        try await Self.collectBody(&request, limit: maxBodyBytes)
    }

    /// A request's whole body, refused with 413 when it is longer than `limit` (by its `Content-Length`
    /// before reading, or while reading).
    static func collectBody(_ request: inout Request, limit: Int) async throws -> [UInt8] {
        let tooLarge = GatewayError(
            status: 413,
            code: "payload_too_large",
            message: "The body is larger than \(limit) bytes."
        )
        if let length = request.headers[.contentLength], length.utf8.count > 18 || (Int(length) ?? 0) > limit {
            throw tooLarge
        }
        do {
            let buffer = try await request.collectBody(upTo: limit)
            return Array(buffer.readableBytesView)
        } catch is NIOTooManyBytesError {
            throw tooLarge
        }
    }
}

private func json(_ text: String) -> Response {
    Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(string: text)))
}

/// One page of a list: `{"object": "list", "data", "has_more", "next_after"}`.
struct ListPage<Item: Encodable, Cursor: Encodable>: Encodable {
    var data: [Item]
    var hasMore: Bool
    var nextAfter: Cursor?

    enum CodingKeys: String, CodingKey { case object, data, hasMore = "has_more", nextAfter = "next_after" }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode("list", forKey: .object)
        try container.encode(data, forKey: .data)
        try container.encode(hasMore, forKey: .hasMore)
        try container.encode(nextAfter, forKey: .nextAfter)
    }
}

/// Per-item results of a job.
enum ResultsPage {
    /// The client's key of item `index`; `index` must be below `input.itemCount`.
    static func key(of input: JobInput, at index: Int) -> String {
        switch input {
        case .urlBatch(let batch): batch.key(at: index)
        case .documentTagging(let tagging): tagging.documents[index].title
        }
    }

    /// One page of rows after item `after`: the stored rows (ascending by index, as the store returns
    /// them: up to `limit + 1`), merged, when `input` is given, with a `pending` row for every item of
    /// `input` that has no stored row yet. `hasMore` tells whether a row follows the page.
    ///
    /// Total for any `after` (negative, past the last item, `Int.max`): the first index is bounded by
    /// the item count before it is computed, and the loop adds one row per turn up to `limit + 1`.
    static func rows(stored: [ItemResult], pendingFrom input: JobInput?, after: Int?, limit: Int) -> (rows: [ItemResult], hasMore: Bool) {
        let itemCount = input?.itemCount ?? 0
        var next = after.map { $0 < itemCount ? max($0 + 1, 0) : itemCount } ?? 0
        let wanted = max(limit, 0) + 1
        var queue = stored[...]
        var rows: [ItemResult] = []
        rows.reserveCapacity(min(wanted, queue.count + max(itemCount - next, 0)))
        while rows.count < wanted {
            let pending = input.flatMap { next < itemCount ? (input: $0, index: next) : nil }
            switch (queue.first, pending) {
            case (nil, nil):
                return finished(rows, limit: limit)
            case (let row?, nil):
                rows.append(row)
                queue.removeFirst()
            case (nil, let pending?):
                rows.append(ItemResult(index: pending.index, key: key(of: pending.input, at: pending.index), status: .pending))
                next = pending.index + 1
            case (let row?, let pending?):
                if row.index <= pending.index {
                    rows.append(row)
                    queue.removeFirst()
                    if row.index == pending.index { next = pending.index + 1 }
                } else {
                    rows.append(ItemResult(index: pending.index, key: key(of: pending.input, at: pending.index), status: .pending))
                    next = pending.index + 1
                }
            }
        }
        return finished(rows, limit: limit)
    }

    private static func finished(_ rows: [ItemResult], limit: Int) -> (rows: [ItemResult], hasMore: Bool) {
        rows.count > limit ? (Array(rows.prefix(max(limit, 0))), true) : (rows, false)
    }
}
