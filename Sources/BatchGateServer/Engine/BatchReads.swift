import BatchGateCore
import NIOCore

/// Everything the HTTP routes read, and nothing they could change: a tenant's batches, rendered once per
/// version and kept in the cache, lists, results and delivery pages, and each batch's change feed.
///
/// The one place a cached rendering is looked up, so `GET`, lists, command answers and the events
/// stream show the same bytes for the same version.
struct BatchReads: Sendable {
    let store: any JobStore
    let cache: JobCache
    let renderer: BatchRenderer
    /// The configured providers' names, for the list filter.
    let providerNames: [String]

    /// The job, if it exists and belongs to `tenant`.
    func job(_ id: String, tenant: String) async throws -> Job {
        guard Identifier.isWellFormed(id, prefix: "bat") else { throw GatewayError.notFound("batch") }
        if let job = cache.job(id) {
            guard job.tenant == tenant else { throw GatewayError.notFound("batch") }
            return job
        }
        guard let job = try await store.job(id: id), job.tenant == tenant else { throw GatewayError.notFound("batch") }
        return cache.put(job)
    }

    /// The newest version of a job the cache has seen, when it is newer than `job`; otherwise `job`.
    func newest(_ job: Job) -> Job {
        cache.job(job.id).flatMap { $0.version > job.version ? $0 : nil } ?? job
    }

    /// The rendered batch object of the tenant's job, as it is now.
    func rendered(_ id: String, tenant: String) async throws -> ByteBuffer {
        if let (job, body) = cache.rendered(id), job.tenant == tenant {
            if let body { return body }
            return try await render(job)
        }
        return try await render(try await job(id, tenant: tenant))
    }

    /// The batch object at exactly `job`'s version: the kept rendering when there is one, else a new one.
    func rendered(_ job: Job) async throws -> ByteBuffer {
        if let cached = cache.rendered(job.id), cached.job.version == job.version, let body = cached.body {
            return body
        }
        return try await render(job)
    }

    /// Renders `job` (with its webhook delivery summary) and keeps the rendering for its version.
    private func render(_ job: Job) async throws -> ByteBuffer {
        // A delivery recorded while this renders invalidates it: the epoch keeps the stale rendering out.
        let epoch = cache.renderEpoch(job.id)
        let rendered = ByteBuffer(bytes: renderer.render(job, webhook: try await webhookView(job)))
        cache.storeRendering(job.id, version: job.version, epoch: epoch, body: rendered)
        return rendered
    }

    /// The job's subscription with how its delivery is going, or nil without a subscription.
    func webhookView(_ job: Job) async throws -> WebhookView? {
        guard let subscription = job.webhook else { return nil }
        let (summary, attempts) = try await store.webhookDelivery(jobID: job.id, recent: 10)
        return WebhookView(subscription: subscription, summary: summary, attempts: attempts)
    }

    /// Where a client polls the job.
    func pollingURL(_ job: Job) -> String {
        renderer.object(job).pollingURL
    }

    /// A page of the tenant's jobs, as `filter` selects them.
    func jobs(_ filter: JobQuery) async throws -> [Job] {
        try await store.jobs(filter)
    }

    /// A page of the job's stored item results after `afterIndex`, and, while the job runs, its input (to
    /// show the items without a row yet as pending).
    func results(_ job: Job, afterIndex: Int?, limit: Int) async throws -> (stored: [ItemResult], input: JobInput?) {
        let stored = try await store.results(jobID: job.id, afterIndex: afterIndex, limit: limit)
        let input = job.state.lifecycle.isTerminal ? nil : try await store.input(jobID: job.id)
        return (stored, input)
    }

    /// A page of the job's webhook delivery attempts after the attempt `after`.
    func deliveryAttempts(_ job: Job, after: String?, limit: Int) async throws -> [DeliveryAttempt] {
        try await store.deliveryAttempts(jobID: job.id, after: after, limit: limit)
    }

    /// Every newer version of the job from now on (the newest only, when a reader falls behind).
    func changes(_ id: String) -> AsyncStream<Job> {
        cache.changes.subscribe(id)
    }
}
