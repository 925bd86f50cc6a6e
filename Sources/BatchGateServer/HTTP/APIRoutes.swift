import BatchGateCore
import BatchGateWebhooks
import Crypto
import HTTPTypes
import Hummingbird
import NIOCore

/// The HTTP API of CONTRACT §3.
struct APIRoutes: Sendable {
    let engine: JobEngine
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

        let api = router.group("/v1/batches").add(middleware: APIKeyMiddleware(keys: apiKeys))
        api.post { request, context in try await create(request, context) }
        api.get { request, context in try await list(request, context) }
        api.get(":id") { _, context in
            let body = try await engine.renderedJob(try context.parameters.require("id"), tenant: try context.requireTenant())
            return Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: body))
        }
        api.post(":id/cancel") { _, context in
            let job = try await engine.cancel(try context.parameters.require("id"), tenant: try context.requireTenant())
            return Response(
                status: .accepted, headers: [.contentType: "application/json"], body: .init(byteBuffer: try await engine.rendering(job)))
        }
        api.post(":id/pause") { _, context in
            let job = try await engine.control(try context.parameters.require("id"), tenant: try context.requireTenant(), pause: true)
            return Response(
                status: .accepted, headers: [.contentType: "application/json"], body: .init(byteBuffer: try await engine.rendering(job)))
        }
        api.post(":id/resume") { _, context in
            let job = try await engine.control(try context.parameters.require("id"), tenant: try context.requireTenant(), pause: false)
            return Response(
                status: .accepted, headers: [.contentType: "application/json"], body: .init(byteBuffer: try await engine.rendering(job)))
        }
        api.get(":id/results") { request, context in try await results(request, context) }
        api.post(":id/migrate") { request, context in
            var request = request
            let body = try await collectBody(&request)
            guard case .object(let fields) = try CreateRequest.decodeJSON(body) else {
                throw GatewayError.invalid(nil, "The body must be a JSON object like {\"provider\": \"aitronos\"}.")
            }
            try CreateRequest.refuseUnknown(fields, allowed: ["provider"], at: nil)
            guard case .string(let provider)? = fields["provider"] else {
                throw GatewayError.invalid("provider", "provider is required and must be a string.")
            }
            let job = try await engine.migrate(try context.parameters.require("id"), tenant: try context.requireTenant(), to: provider)
            return Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: try await engine.rendering(job)))
        }
        api.get(":id/deliveries") { request, context in try await deliveries(request, context) }
        EventStreamRoute(engine: engine).register(on: api)
    }

    private func create(_ request: Request, _ context: GatewayRequestContext) async throws -> Response {
        let tenant = try context.requireTenant()
        var request = request
        let body = try await collectBody(&request)
        var idempotencyKey: String?
        if let key = request.headers[HTTPField.Name("Idempotency-Key")!] {
            guard (1...255).contains(key.count), key.allSatisfy({ $0.isASCII && !$0.isWhitespace || $0 == " " }) else {
                throw GatewayError.invalid("Idempotency-Key", "Idempotency-Key must be 1–255 printable ASCII characters.")
            }
            idempotencyKey = key
        }
        let parsed = try CreateRequest.parse(body, routes: routes, urlPolicy: urlPolicy)
        let digest = SHA256.hash(data: parsed.canonicalBody).map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined()
        let (job, replayed) = try await engine.create(
            CreateCommand(
                tenant: tenant, route: parsed.route, input: parsed.input, metadata: parsed.metadata,
                idempotencyKey: idempotencyKey, requestHash: digest, webhook: parsed.webhook ?? webhookDefaults[tenant]))
        var headers: HTTPFields = [.contentType: "application/json", .location: engine.renderer.object(job).pollingURL]
        if replayed { headers[HTTPField.Name("Idempotent-Replayed")!] = "true" }
        return Response(status: .created, headers: headers, body: .init(byteBuffer: try await engine.rendering(job)))
    }

    private func list(_ request: Request, _ context: GatewayRequestContext) async throws -> Response {
        let tenant = try context.requireTenant()
        let query = request.uri.queryParameters
        var filter = JobQuery(tenant: tenant)
        if let value = query["lifecycle_status"] {
            guard let status = LifecycleStatus(rawValue: String(value)) else {
                throw GatewayError.invalid(
                    "lifecycle_status", "Unknown lifecycle_status '\(value)'; one of \(LifecycleStatus.allCases.map(\.rawValue).joined(separator: ", ")).")
            }
            filter.lifecycle = status
        }
        filter.provider = query["provider"].map(String.init)
        filter.route = query["route"].map(String.init)
        filter.limit = try limit(query["limit"], default: 20, max: 100)
        if let after = query["after"] {
            guard Identifier.isWellFormed(String(after), prefix: "bat") else {
                throw GatewayError.invalid("after", "after must be a batch id from next_after.")
            }
            filter.after = String(after)
        }
        let wanted = filter.limit
        filter.limit += 1
        var jobs = try await engine.store.jobs(filter)
        let hasMore = jobs.count > wanted
        if hasMore { jobs.removeLast() }
        var buffer = ByteBuffer()
        buffer.writeString(#"{"object":"list","data":["#)
        for (index, job) in jobs.enumerated() {
            if index > 0 { buffer.writeString(",") }
            let cached = engine.cache.rendered(job.id)
            var body: ByteBuffer
            if let cached, cached.job.version == job.version, let rendered = cached.body {
                body = rendered
            } else {
                body = try await engine.rendering(job)
            }
            buffer.writeBuffer(&body)
        }
        buffer.writeString(#"],"has_more":\#(hasMore),"next_after":"#)
        buffer.writeString(hasMore ? "\"\(jobs.last!.id)\"" : "null")
        buffer.writeString("}")
        return Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: buffer))
    }

    private func results(_ request: Request, _ context: GatewayRequestContext) async throws -> Response {
        let job = try await engine.job(try context.parameters.require("id"), tenant: try context.requireTenant())
        let query = request.uri.queryParameters
        let limit = try limit(query["limit"], default: 100, max: 1000)
        var after: Int?
        if let value = query["after"] {
            guard let index = Int(value), index >= -1 else { throw GatewayError.invalid("after", "after must be an item index.") }
            after = index
        }
        var items = try await engine.store.results(jobID: job.id, afterIndex: after, limit: limit + 1)
        if items.isEmpty && !job.state.lifecycle.isTerminal, let input = try await engine.store.input(jobID: job.id) {
            // Nothing finished yet: every item is pending.
            let start = (after ?? -1) + 1
            items = (start..<min(input.itemCount, start + limit + 1)).map {
                ItemResult(index: $0, key: ResultsPage.key(of: input, at: $0), status: .pending)
            }
        }
        let hasMore = items.count > limit
        if hasMore { items.removeLast() }
        let page = ListPage(data: items, hasMore: hasMore, nextAfter: hasMore ? items.last?.index : nil)
        return Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: BatchRenderer.encode(page))))
    }

    private func deliveries(_ request: Request, _ context: GatewayRequestContext) async throws -> Response {
        let job = try await engine.job(try context.parameters.require("id"), tenant: try context.requireTenant())
        let query = request.uri.queryParameters
        let limit = try limit(query["limit"], default: 50, max: 500)
        var after: String?
        if let value = query["after"] {
            guard Identifier.isWellFormed(String(value), prefix: "dla") else {
                throw GatewayError.invalid("after", "after must be a delivery attempt id from next_after.")
            }
            after = String(value)
        }
        var attempts = try await engine.store.deliveryAttempts(jobID: job.id, after: after, limit: limit + 1)
        let hasMore = attempts.count > limit
        if hasMore { attempts.removeLast() }
        let page = ListPage(data: attempts.map(AttemptObject.init), hasMore: hasMore, nextAfter: hasMore ? attempts.last?.id : nil)
        return Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: BatchRenderer.encode(page))))
    }

    private func receiveWebhook(_ request: Request, _ context: GatewayRequestContext) async throws -> Response {
        let provider = try context.parameters.require("provider")
        let token = try context.parameters.require("token")
        var request = request
        let body = try await collectBody(&request)
        let receipt = try await engine.receiveWebhook(provider: provider, token: token, body: body)
        return json(#"{"received":true,"outcome":"\#(receipt.rawValue)"}"#)
    }

    private func collectBody(_ request: inout Request) async throws -> [UInt8] {
        let tooLarge = GatewayError(
            status: 413, code: "payload_too_large", message: "The body is larger than \(maxBodyBytes) bytes.")
        if let length = request.headers[.contentLength].flatMap({ Int($0) }), length > maxBodyBytes {
            throw tooLarge
        }
        do {
            let buffer = try await request.collectBody(upTo: maxBodyBytes)
            return Array(buffer.readableBytesView)
        } catch is NIOTooManyBytesError {
            throw tooLarge
        }
    }

    private func limit(_ value: Substring?, default defaultValue: Int, max maximum: Int) throws -> Int {
        guard let value else { return defaultValue }
        guard let limit = Int(value), (1...maximum).contains(limit) else {
            throw GatewayError.invalid("limit", "limit must be an integer from 1 to \(maximum).")
        }
        return limit
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
    static func key(of input: JobInput, at index: Int) -> String {
        switch input {
        case .urlBatch(let batch): batch.key(at: index)
        case .documentTagging(let tagging): tagging.documents[index].title
        }
    }
}
