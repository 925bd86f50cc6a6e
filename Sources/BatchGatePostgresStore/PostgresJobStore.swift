public import BatchGateCore
import Foundation
public import Logging
import NIOCore
import PostgresNIO

/// The `JobStore` that several gateway replicas share: PostgreSQL through a connection pool.
///
/// Every write is one transaction committed before it returns. Work is claimed with `FOR UPDATE SKIP
/// LOCKED`, so replicas claiming together get disjoint jobs and deliveries; a job's lease lives on its row
/// with a fencing counter, and a change made under a lease that is no longer current is refused. Each
/// committed change is announced with `NOTIFY`, which every replica hears (`StoreChangeListener`).
public final class PostgresJobStore: JobStore, StoreChangeListener {
    let client: PostgresClient
    private let runner: Task<Void, Never>
    let url: PostgresURL
    let statementTimeout: Duration
    /// The `NOTIFY` channel: one per schema, so gateways in other schemas of the database are not heard.
    let channel: String
    let logger: Logger
    public let owner: String

    /// Connects, runs the migrations the database lacks (under an advisory lock, so replicas starting
    /// together migrate once) and voids the delivery claims this replica left when it last stopped.
    ///
    /// The pool runs until ``close()``.
    public init(settings: PostgresSettings, owner: String, logger: Logger) async throws {
        url = try PostgresURL(settings.url)
        statementTimeout = settings.statementTimeout
        self.owner = owner
        self.logger = logger
        let schema = url.searchPath.map { $0.split(separator: ",").first.map(String.init) ?? $0 } ?? "public"
        let suffix = String(
            schema.lowercased().unicodeScalars.filter { $0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0)) }.prefix(40).map(
                Character.init
            )
        )
        channel = suffix == "public" || suffix.isEmpty ? "batchgate_changes" : "batchgate_changes_\(suffix)"
        let client = PostgresClient(
            configuration: url.clientConfiguration(poolSize: settings.poolSize, statementTimeout: settings.statementTimeout),
            backgroundLogger: logger
        )
        self.client = client
        // Connections are leased only once the pool runs: wait until its task has begun `run()`.
        var runner: Task<Void, Never>?
        await withCheckedContinuation { (started: CheckedContinuation<Void, Never>) in
            runner = Task {
                started.resume()
                await client.run()
            }
        }
        self.runner = runner!
        do {
            try await PostgresMigrations.run(on: client, logger: logger)
            try await client.query(
                "UPDATE webhook_deliveries SET claimed_until = NULL WHERE claimed_until IS NOT NULL AND (claimed_by = \(owner) OR claimed_by IS NULL)",
                logger: logger
            )
        } catch {
            self.runner.cancel()
            await self.runner.value
            throw Self.describe(error, doing: "open the store")
        }
    }

    /// Closes every connection of the pool.
    public func close() async {
        runner.cancel()
        await runner.value
    }

    /// A database error as a gateway error that says what failed, without the URL.
    static func describe(_ error: any Error, doing what: String) -> any Error {
        if error is GatewayError || error is CancellationError { return error }
        let detail: String
        if let error = error as? PSQLError {
            detail = error.serverInfo?[.message].map { "the server said: \($0)" } ?? "\(error.code)"
        } else {
            detail = "\(error)"
        }
        return GatewayError(status: 503, code: "store_unavailable", message: "Cannot \(what) in PostgreSQL: \(detail).")
    }

    /// Runs `body` in one transaction on one pooled connection.
    /// An error thrown by `body` is rethrown as it is (not wrapped in the driver's transaction error).
    func transaction<T: Sendable>(_ body: (PostgresConnection) async throws -> T) async throws -> T {
        do {
            return try await client.withTransaction(logger: logger) { connection in try await body(connection) }
        } catch let error as PostgresTransactionError {
            throw error.closureError ?? error
        }
    }

    /// Tells every replica's listener of `payload` when the surrounding transaction commits.
    func notify(_ payload: String, on connection: PostgresConnection) async throws {
        try await connection.query("SELECT pg_notify(\(channel), \(payload))", logger: logger)
    }

    // MARK: - Writes

    public func create(_ job: Job, input: JobInput, idempotency: IdempotencyRecord?, deliveries: [WebhookDelivery]) async throws -> CreateOutcome {
        let jobBody = try StoredJSON.encode(job)
        let inputBody = try StoredJSON.encode(input)
        let created = try await transaction { connection -> Bool in
            if let idempotency {
                // The key first: a replica storing the same key at the same moment waits here for the other's
                // commit, then finds the key taken. The key's reference to the job is checked at commit.
                let claimed = try await connection.query(
                    """
                    INSERT INTO idempotency_keys (tenant, key, request_hash, job_id)
                    VALUES (\(idempotency.tenant), \(idempotency.key), \(idempotency.requestHash), \(job.id))
                    ON CONFLICT DO NOTHING RETURNING 1
                    """,
                    logger: logger
                ).collect()
                if claimed.isEmpty { return false }
            }
            try await connection.query(
                """
                INSERT INTO jobs (id, tenant, route, provider, lifecycle, version, body)
                VALUES (\(job.id), \(job.tenant), \(job.route), \(job.provider), \(job.state.lifecycle.rawValue), \(job.version), \(jobBody))
                """,
                logger: logger
            )
            try await connection.query("INSERT INTO job_inputs (job_id, body) VALUES (\(job.id), \(inputBody))", logger: logger)
            try await enqueue(deliveries, on: connection)
            try await notify("j \(job.version) \(job.id)", on: connection)
            return true
        }
        if created { return .created(job) }
        let rows = try await client.query(
            """
            SELECT k.request_hash, j.body FROM idempotency_keys k JOIN jobs j ON j.id = k.job_id
            WHERE k.tenant = \(idempotency!.tenant) AND k.key = \(idempotency!.key)
            """,
            logger: logger
        ).collect()
        guard let row = rows.first else {
            throw GatewayError(status: 503, code: "busy", message: "The Idempotency-Key is being used by another request; try again.")
        }
        let (hash, body) = try row.decode((String, Data).self)
        guard hash == idempotency!.requestHash else { return .keyReused }
        return .existing(try StoredJSON.decode(Job.self, from: body))
    }

    private enum Refusal: Error {
        case conflict, duplicateEvent, leaseLost
    }

    public func apply(_ change: JobChange) async throws -> ChangeOutcome {
        let job = change.job
        let jobBody = try StoredJSON.encode(job)
        // One row per index, the last given winning (as a sequence of upserts would leave it).
        var latest: [Int: ItemResult] = [:]
        for result in change.results { latest[result.index] = result }
        let indices = latest.keys.sorted()
        let bodies = try indices.map { ByteBuffer(bytes: try StoredJSON.encode(latest[$0]!)) }
        do {
            try await transaction { connection in
                let leaseOwner = change.lease?.owner
                let leaseFence = change.lease?.fence
                let updated = try await connection.query(
                    """
                    UPDATE jobs SET provider = \(job.provider), lifecycle = \(job.state.lifecycle.rawValue),
                        version = \(job.version), body = \(jobBody)
                    WHERE id = \(job.id) AND version = \(job.version - 1)
                      AND (\(leaseOwner)::text IS NULL OR (lease_owner = \(leaseOwner) AND lease_fence = \(leaseFence)))
                    RETURNING 1
                    """,
                    logger: logger
                ).collect()
                if updated.isEmpty {
                    let rows = try await connection.query(
                        "SELECT lease_owner, lease_fence FROM jobs WHERE id = \(job.id)",
                        logger: logger
                    ).collect()
                    if let lease = change.lease, let row = rows.first {
                        let (holder, fence) = try row.decode((String?, Int64).self)
                        if holder != lease.owner || fence != lease.fence { throw Refusal.leaseLost }
                    }
                    throw Refusal.conflict
                }
                if let event = change.event {
                    let inserted = try await connection.query(
                        """
                        INSERT INTO provider_events
                            (job_id, provider, provider_batch_id, event_type, dedupe_key, received_at, payload)
                        VALUES (\(event.jobID), \(event.provider), \(event.providerBatchID), \(event.eventType), \(event.dedupeKey),
                                \(event.receivedAt.milliseconds), \(ByteBuffer(bytes: event.payload)))
                        ON CONFLICT DO NOTHING RETURNING 1
                        """,
                        logger: logger
                    ).collect()
                    if inserted.isEmpty { throw Refusal.duplicateEvent }
                }
                if change.replacesResults {
                    try await connection.query("DELETE FROM results WHERE job_id = \(job.id)", logger: logger)
                }
                if !indices.isEmpty {
                    try await connection.query(
                        """
                        INSERT INTO results (job_id, idx, body)
                        SELECT \(job.id), i, b FROM unnest(\(indices)::bigint[], \(bodies)::bytea[]) AS t(i, b)
                        ON CONFLICT (job_id, idx) DO UPDATE SET body = excluded.body
                        """,
                        logger: logger
                    )
                }
                try await enqueue(change.deliveries, on: connection)
                for attempt in change.attempts {
                    try await connection.query(
                        """
                        INSERT INTO provider_attempts (job_id, provider, operation, outcome, provider_batch_id, message, at)
                        VALUES (\(attempt.jobID), \(attempt.provider), \(attempt.operation), \(attempt.outcome),
                                \(attempt.providerBatchID), \(attempt.message), \(attempt.at.milliseconds))
                        """,
                        logger: logger
                    )
                }
                try await notify("j \(job.version) \(job.id)", on: connection)
            }
            return .stored
        } catch Refusal.conflict {
            return .conflict
        } catch Refusal.duplicateEvent {
            return .duplicateEvent
        } catch Refusal.leaseLost {
            return .leaseLost
        }
    }

    /// Queues deliveries, once per (job, delivery key), unless the job's subscription was stopped (410).
    func enqueue(_ deliveries: [WebhookDelivery], on connection: PostgresConnection) async throws {
        for delivery in deliveries {
            try await connection.query(
                """
                INSERT INTO webhook_deliveries
                    (id, job_id, tenant, delivery_key, event_type, event_id, created_at, url, secret, data,
                     attempt, max_attempts, next_attempt_at, status, trace_parent)
                SELECT \(delivery.id), \(delivery.jobID), \(delivery.tenant), \(delivery.deliveryKey), \(delivery.eventType),
                       \(delivery.eventID), \(delivery.createdAt.milliseconds), \(delivery.url), \(delivery.secret),
                       \(ByteBuffer(bytes: delivery.data)), \(delivery.attempt), \(delivery.maxAttempts),
                       \(delivery.nextAttemptAt.milliseconds), 'pending', \(delivery.traceParent)
                WHERE NOT EXISTS (SELECT 1 FROM webhook_stops WHERE job_id = \(delivery.jobID))
                ON CONFLICT (job_id, delivery_key) DO NOTHING
                """,
                logger: logger
            )
        }
    }
}
