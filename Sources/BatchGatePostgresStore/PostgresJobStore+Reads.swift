public import BatchGateCore
import Foundation
import PostgresNIO

extension PostgresJobStore {
    public func job(id: String) async throws -> Job? {
        try await body("SELECT body FROM jobs WHERE id = \(id)").map { try StoredJSON.decode(Job.self, from: $0) }
    }

    public func input(jobID: String) async throws -> JobInput? {
        try await body("SELECT body FROM job_inputs WHERE job_id = \(jobID)").map { try StoredJSON.decode(JobInput.self, from: $0) }
    }

    /// The first row's only column.
    func body(_ query: PostgresQuery) async throws -> Data? {
        for try await body in try await client.query(query, logger: logger).decode(Data.self) { return body }
        return nil
    }

    /// Every row's only column, decoded as stored JSON.
    func bodies<T: Decodable>(_ query: PostgresQuery, as type: T.Type) async throws -> [T] {
        var decoded: [T] = []
        for try await body in try await client.query(query, logger: logger).decode(Data.self) {
            decoded.append(try StoredJSON.decode(type, from: body))
        }
        return decoded
    }

    public func jobs(_ query: JobQuery) async throws -> [Job] {
        // NULL filters match everything; the planner still uses (tenant, id).
        try await bodies(
            """
            SELECT body FROM jobs
            WHERE tenant = \(query.tenant)
              AND (\(query.lifecycle?.rawValue)::text IS NULL OR lifecycle = \(query.lifecycle?.rawValue))
              AND (\(query.provider)::text IS NULL OR provider = \(query.provider))
              AND (\(query.route)::text IS NULL OR route = \(query.route))
              AND (\(query.after)::text IS NULL OR id < \(query.after))
            ORDER BY id DESC LIMIT \(query.limit)
            """,
            as: Job.self
        )
    }

    public func activeJobs() async throws -> [Job] {
        try await bodies("SELECT body FROM jobs WHERE lifecycle IN ('pending', 'running') ORDER BY id", as: Job.self)
    }

    public func results(jobID: String, afterIndex: Int?, limit: Int) async throws -> [ItemResult] {
        try await bodies(
            "SELECT body FROM results WHERE job_id = \(jobID) AND idx > \(afterIndex ?? -1) ORDER BY idx LIMIT \(limit)",
            as: ItemResult.self
        )
    }

    public func events(jobID: String) async throws -> [ProviderEventRecord] {
        let rows = try await client.query(
            """
            SELECT job_id, provider, provider_batch_id, event_type, dedupe_key, received_at, payload
            FROM provider_events WHERE job_id = \(jobID) ORDER BY id
            """,
            logger: logger
        )
        var events: [ProviderEventRecord] = []
        for try await (job, provider, batch, type, key, received, payload) in rows.decode((String, String, String, String, String, Int64, Data).self)
        {
            events.append(
                ProviderEventRecord(
                    jobID: job,
                    provider: provider,
                    providerBatchID: batch,
                    eventType: type,
                    dedupeKey: key,
                    receivedAt: Timestamp(milliseconds: received),
                    payload: [UInt8](payload)
                )
            )
        }
        return events
    }

    public func attempts(jobID: String) async throws -> [ProviderAttemptRecord] {
        let rows = try await client.query(
            """
            SELECT job_id, provider, operation, outcome, provider_batch_id, message, at
            FROM provider_attempts WHERE job_id = \(jobID) ORDER BY id
            """,
            logger: logger
        )
        var attempts: [ProviderAttemptRecord] = []
        for try await (job, provider, operation, outcome, batch, message, at) in rows.decode(
            (String, String, String, String, String?, String?, Int64).self
        ) {
            attempts.append(
                ProviderAttemptRecord(
                    jobID: job,
                    provider: provider,
                    operation: operation,
                    outcome: outcome,
                    providerBatchID: batch,
                    message: message,
                    at: Timestamp(milliseconds: at)
                )
            )
        }
        return attempts
    }

    public func webhookDelivery(jobID: String, recent: Int) async throws -> (summary: WebhookDeliverySummary, attempts: [DeliveryAttempt]) {
        let attempts = try await bodies(
            "SELECT body FROM webhook_attempts WHERE job_id = \(jobID) ORDER BY id DESC LIMIT \(recent)",
            as: DeliveryAttempt.self
        )
        // The counts in one round trip.
        let rows = try await client.query(
            """
            SELECT (SELECT COUNT(*) FROM webhook_attempts WHERE job_id = \(jobID)),
                   (SELECT array_agg(event_type ORDER BY created_at) FROM webhook_deliveries WHERE job_id = \(jobID) AND status = 'delivered'),
                   (SELECT COUNT(*) FROM webhook_deliveries WHERE job_id = \(jobID) AND status = 'pending' AND attempt > 0),
                   (SELECT MIN(next_attempt_at) FROM webhook_deliveries WHERE job_id = \(jobID) AND status = 'pending' AND attempt > 0),
                   (SELECT MAX(tried_at) FROM webhook_attempts WHERE job_id = \(jobID) AND status = 'delivered'),
                   (SELECT body FROM webhook_attempts WHERE job_id = \(jobID) AND status <> 'delivered' ORDER BY id DESC LIMIT 1),
                   EXISTS (SELECT 1 FROM webhook_stops WHERE job_id = \(jobID))
            """,
            logger: logger
        ).collect()
        guard let row = rows.first else { return (WebhookDeliverySummary(), attempts) }
        let (totals, delivered, pending, nextRetry, lastDelivered, lastFailure, stopped) = try row.decode(
            (Int64, [String]?, Int64, Int64?, Int64?, Data?, Bool).self
        )
        let summary = WebhookDeliverySummary(
            totalAttempts: Int(totals),
            recent: attempts,
            deliveredTypes: delivered ?? [],
            retrying: (Int(pending), nextRetry.map(Timestamp.init(milliseconds:))),
            lastDeliveredAt: lastDelivered.map(Timestamp.init(milliseconds:)),
            lastFailure: try lastFailure.map { try StoredJSON.decode(DeliveryAttempt.self, from: $0) },
            stopped: stopped
        )
        return (summary, attempts)
    }

    public func deliveryAttempts(jobID: String, after: String?, limit: Int) async throws -> [DeliveryAttempt] {
        try await bodies(
            """
            SELECT body FROM webhook_attempts
            WHERE job_id = \(jobID) AND (\(after)::text IS NULL OR id < \(after))
            ORDER BY id DESC LIMIT \(limit)
            """,
            as: DeliveryAttempt.self
        )
    }

    public func jobCounts() async throws -> [JobCount] {
        var counts: [JobCount] = []
        let rows = try await client.query("SELECT lifecycle, provider, COUNT(*) FROM jobs GROUP BY lifecycle, provider", logger: logger)
        for try await (lifecycle, provider, count) in rows.decode((String, String, Int64).self) {
            if let lifecycle = LifecycleStatus(rawValue: lifecycle) {
                counts.append(JobCount(lifecycle: lifecycle, provider: provider, count: Int(count)))
            }
        }
        return counts
    }

    public func outboxBacklog(now: Timestamp) async throws -> (pending: Int, oldestDue: Timestamp?) {
        let rows = try await client.query(
            """
            SELECT COUNT(*), MIN(CASE WHEN next_attempt_at <= \(now.milliseconds) THEN next_attempt_at END)
            FROM webhook_deliveries WHERE status = 'pending'
            """,
            logger: logger
        )
        for try await (count, oldest) in rows.decode((Int64, Int64?).self) {
            return (Int(count), oldest.map(Timestamp.init(milliseconds:)))
        }
        return (0, nil)
    }

    public func tenantOverview(tenant: String, now: Timestamp) async throws -> TenantOverview {
        var overview = TenantOverview()
        let active = try await client.query(
            "SELECT provider, COUNT(*) FROM jobs WHERE tenant = \(tenant) AND lifecycle IN ('pending', 'running') GROUP BY provider",
            logger: logger
        )
        for try await (provider, count) in active.decode((String, Int64).self) { overview.activeJobs[provider] = Int(count) }
        let outbox = try await client.query(
            """
            SELECT COUNT(*) FILTER (WHERE status = 'pending' AND next_attempt_at <= \(now.milliseconds)),
                   COUNT(*) FILTER (WHERE status = 'pending' AND attempt > 0),
                   COUNT(*) FILTER (WHERE status = 'failed')
            FROM webhook_deliveries WHERE tenant = \(tenant)
            """,
            logger: logger
        )
        for try await (due, retrying, failed) in outbox.decode((Int64, Int64, Int64).self) {
            overview.deliveriesDue = Int(due)
            overview.deliveriesRetrying = Int(retrying)
            overview.deliveriesFailed = Int(failed)
        }
        return overview
    }
}
