public import BatchGateCore
import Foundation
import GRDB

/// The embedded default `JobStore`: SQLite in WAL mode with group commits.
///
/// A write returns only after its transaction committed with `synchronous=FULL`, so what it stored
/// survives a crash of the process or of the machine.
public final class SQLiteJobStore: JobStore {
    private let pool: DatabasePool
    private let writer: GroupCommitWriter
    public let owner: String

    /// Opens (creating when needed) and migrates the database at `path`, speaking for the replica `owner`.
    ///
    /// A replica keeps its `owner` across restarts (the default is one per process name and host), so a
    /// restarted gateway takes its own leases and delivery claims back at once instead of waiting for
    /// them to expire. Two replicas that run at the same time must have different owners.
    public init(path: String, owner: String = SQLiteJobStore.defaultOwner) throws {
        self.owner = owner
        var configuration = Configuration()
        configuration.busyMode = .timeout(10)
        configuration.prepareDatabase { db in
            try db.execute(sql: "PRAGMA synchronous = FULL")
        }
        // Replicas starting together on a new file would each create the tables: opening and migrating
        // happen under an exclusive lock on a file beside the database.
        pool = try Self.withFileLock(path + ".migrate-lock") {
            let pool = try DatabasePool(path: path, configuration: configuration)
            try Self.migrator.migrate(pool)
            return pool
        }
        // Claims this replica left when it last stopped are void: nothing of this process is sending them.
        try pool.write { db in
            try db.execute(
                sql: "UPDATE webhook_deliveries SET claimed_until = NULL WHERE claimed_until IS NOT NULL AND (claimed_by = ? OR claimed_by IS NULL)",
                arguments: [owner]
            )
        }
        writer = GroupCommitWriter(pool: pool)
    }

    /// The versioned schema. Migrations are append-only: never edit a registered one.
    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1: jobs, inputs, events, attempts, idempotency keys, results") { db in
            try db.execute(
                sql: """
                    CREATE TABLE jobs (
                        id TEXT PRIMARY KEY NOT NULL,
                        tenant TEXT NOT NULL,
                        route TEXT NOT NULL,
                        provider TEXT NOT NULL,
                        lifecycle TEXT NOT NULL,
                        version INTEGER NOT NULL,
                        body BLOB NOT NULL
                    ) WITHOUT ROWID;
                    CREATE INDEX jobs_by_tenant ON jobs (tenant, id);
                    CREATE INDEX jobs_active ON jobs (lifecycle) WHERE lifecycle IN ('pending', 'running');
                    CREATE TABLE job_inputs (
                        job_id TEXT PRIMARY KEY NOT NULL REFERENCES jobs(id),
                        body BLOB NOT NULL
                    ) WITHOUT ROWID;
                    CREATE TABLE provider_events (
                        id INTEGER PRIMARY KEY AUTOINCREMENT,
                        job_id TEXT NOT NULL REFERENCES jobs(id),
                        provider TEXT NOT NULL,
                        provider_batch_id TEXT NOT NULL,
                        event_type TEXT NOT NULL,
                        dedupe_key TEXT NOT NULL,
                        received_at INTEGER NOT NULL,
                        payload BLOB NOT NULL,
                        UNIQUE (job_id, provider, provider_batch_id, dedupe_key)
                    );
                    CREATE TABLE provider_attempts (
                        id INTEGER PRIMARY KEY AUTOINCREMENT,
                        job_id TEXT NOT NULL REFERENCES jobs(id),
                        provider TEXT NOT NULL,
                        operation TEXT NOT NULL,
                        outcome TEXT NOT NULL,
                        provider_batch_id TEXT,
                        message TEXT,
                        at INTEGER NOT NULL
                    );
                    CREATE INDEX provider_attempts_by_job ON provider_attempts (job_id, id);
                    CREATE TABLE idempotency_keys (
                        tenant TEXT NOT NULL,
                        key TEXT NOT NULL,
                        request_hash TEXT NOT NULL,
                        job_id TEXT NOT NULL REFERENCES jobs(id),
                        PRIMARY KEY (tenant, key)
                    ) WITHOUT ROWID;
                    CREATE TABLE results (
                        job_id TEXT NOT NULL REFERENCES jobs(id),
                        idx INTEGER NOT NULL,
                        body BLOB NOT NULL,
                        PRIMARY KEY (job_id, idx)
                    ) WITHOUT ROWID;
                    """
            )
        }
        migrator.registerMigration("v2: client webhook outbox and delivery attempts") { db in
            try db.execute(
                sql: """
                    CREATE TABLE webhook_deliveries (
                        id TEXT PRIMARY KEY NOT NULL,
                        job_id TEXT NOT NULL REFERENCES jobs(id),
                        tenant TEXT NOT NULL,
                        delivery_key TEXT NOT NULL,
                        event_type TEXT NOT NULL,
                        event_id TEXT NOT NULL,
                        created_at INTEGER NOT NULL,
                        url TEXT NOT NULL,
                        secret TEXT,
                        data BLOB NOT NULL,
                        attempt INTEGER NOT NULL,
                        max_attempts INTEGER NOT NULL,
                        next_attempt_at INTEGER NOT NULL,
                        status TEXT NOT NULL,
                        claimed_until INTEGER,
                        UNIQUE (job_id, delivery_key)
                    ) WITHOUT ROWID;
                    CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at) WHERE status = 'pending';
                    CREATE INDEX webhook_deliveries_by_job ON webhook_deliveries (job_id, status);
                    CREATE TABLE webhook_attempts (
                        id TEXT PRIMARY KEY NOT NULL,
                        job_id TEXT NOT NULL REFERENCES jobs(id),
                        delivery_id TEXT NOT NULL,
                        status TEXT NOT NULL,
                        tried_at INTEGER NOT NULL,
                        body BLOB NOT NULL
                    ) WITHOUT ROWID;
                    CREATE INDEX webhook_attempts_by_job ON webhook_attempts (job_id, id);
                    CREATE TABLE webhook_stops (
                        job_id TEXT PRIMARY KEY NOT NULL REFERENCES jobs(id),
                        at INTEGER NOT NULL
                    ) WITHOUT ROWID;
                    """
            )
        }
        migrator.registerMigration("v3: replicas, job leases, delivery claim owners") { db in
            try db.execute(
                sql: """
                    CREATE TABLE replicas (
                        owner TEXT PRIMARY KEY NOT NULL,
                        expires_at INTEGER NOT NULL,
                        started_at INTEGER NOT NULL
                    ) WITHOUT ROWID;
                    CREATE TABLE job_leases (
                        job_id TEXT PRIMARY KEY NOT NULL REFERENCES jobs(id),
                        owner TEXT NOT NULL,
                        fence INTEGER NOT NULL,
                        acquired_at INTEGER NOT NULL
                    ) WITHOUT ROWID;
                    CREATE INDEX job_leases_by_owner ON job_leases (owner);
                    ALTER TABLE webhook_deliveries ADD COLUMN claimed_by TEXT;
                    """
            )
        }
        migrator.registerMigration("v4: the trace context of client webhook deliveries") { db in
            try db.execute(sql: "ALTER TABLE webhook_deliveries ADD COLUMN trace_parent TEXT")
        }
        migrator.registerMigration("v5: client webhook deliveries by tenant") { db in
            try db.execute(sql: "CREATE INDEX webhook_deliveries_by_tenant ON webhook_deliveries (tenant, status)")
        }
        return migrator
    }

    /// Runs `body` holding an exclusive `flock` on `lockPath` (created when missing), waiting for it.
    static func withFileLock<T>(_ lockPath: String, _ body: () throws -> T) throws -> T {
        let fd = open(lockPath, O_CREAT | O_RDWR | O_CLOEXEC, 0o644)
        guard fd >= 0 else {
            throw GatewayError(
                status: 500,
                code: "store_unavailable",
                message: "Cannot open the migration lock \(lockPath): \(String(cString: strerror(errno)))."
            )
        }
        defer { close(fd) }
        while flock(fd, LOCK_EX) != 0 {
            guard errno == EINTR else {
                throw GatewayError(status: 500, code: "store_unavailable", message: "Cannot lock \(lockPath): \(String(cString: strerror(errno))).")
            }
        }
        defer { flock(fd, LOCK_UN) }
        return try body()
    }

    /// `<process name>@<host name>`.
    public static var defaultOwner: String {
        "\(ProcessInfo.processInfo.processName)@\(ProcessInfo.processInfo.hostName)"
    }

    // MARK: - Writes

    public func create(_ job: Job, input: JobInput, idempotency: IdempotencyRecord?, deliveries: [WebhookDelivery]) async throws -> CreateOutcome {
        let jobBody = try StoredJSON.encode(job)
        let inputBody = try StoredJSON.encode(input)
        let found: Data? = try await writer.write { db -> Data? in
            if let idempotency {
                if let row = try Row.fetchOne(
                    db,
                    sql: """
                        SELECT k.request_hash, j.body FROM idempotency_keys k JOIN jobs j ON j.id = k.job_id
                        WHERE k.tenant = ? AND k.key = ?
                        """,
                    arguments: [idempotency.tenant, idempotency.key]
                ) {
                    let hash: String = row[0]
                    return hash == idempotency.requestHash ? row[1] : Data()
                }
            }
            try db.execute(
                sql: "INSERT INTO jobs (id, tenant, route, provider, lifecycle, version, body) VALUES (?, ?, ?, ?, ?, ?, ?)",
                arguments: [job.id, job.tenant, job.route, job.provider, job.state.lifecycle.rawValue, job.version, jobBody]
            )
            try db.execute(sql: "INSERT INTO job_inputs (job_id, body) VALUES (?, ?)", arguments: [job.id, inputBody])
            if let idempotency {
                try db.execute(
                    sql: "INSERT INTO idempotency_keys (tenant, key, request_hash, job_id) VALUES (?, ?, ?, ?)",
                    arguments: [idempotency.tenant, idempotency.key, idempotency.requestHash, job.id]
                )
            }
            try Self.enqueue(deliveries, db)
            return nil
        }
        guard let found else { return .created(job) }
        if found.isEmpty { return .keyReused }
        return .existing(try StoredJSON.decode(Job.self, from: found))
    }

    private struct Conflict: Error {}
    private struct DuplicateEvent: Error {}
    private struct LeaseLost: Error {}

    public func apply(_ change: JobChange) async throws -> ChangeOutcome {
        let job = change.job
        let jobBody = try StoredJSON.encode(job)
        let resultBodies = try change.results.map { ($0.index, try StoredJSON.encode($0)) }
        do {
            try await writer.write { db in
                if let lease = change.lease {
                    let current = try Int64.fetchOne(
                        db,
                        sql: "SELECT fence FROM job_leases WHERE job_id = ? AND owner = ?",
                        arguments: [lease.jobID, lease.owner]
                    )
                    if current != lease.fence { throw LeaseLost() }
                }
                if let event = change.event {
                    try db.execute(
                        sql: """
                            INSERT OR IGNORE INTO provider_events
                                (job_id, provider, provider_batch_id, event_type, dedupe_key, received_at, payload)
                            VALUES (?, ?, ?, ?, ?, ?, ?)
                            """,
                        arguments: [
                            event.jobID, event.provider, event.providerBatchID, event.eventType, event.dedupeKey,
                            event.receivedAt.milliseconds, Data(event.payload),
                        ]
                    )
                    if db.changesCount == 0 { throw DuplicateEvent() }
                }
                try db.execute(
                    sql: "UPDATE jobs SET provider = ?, lifecycle = ?, version = ?, body = ? WHERE id = ? AND version = ?",
                    arguments: [job.provider, job.state.lifecycle.rawValue, job.version, jobBody, job.id, job.version - 1]
                )
                if db.changesCount == 0 { throw Conflict() }
                if change.replacesResults {
                    try db.execute(sql: "DELETE FROM results WHERE job_id = ?", arguments: [job.id])
                }
                for (index, body) in resultBodies {
                    try db.execute(
                        sql: "INSERT OR REPLACE INTO results (job_id, idx, body) VALUES (?, ?, ?)",
                        arguments: [job.id, index, body]
                    )
                }
                try Self.enqueue(change.deliveries, db)
                for attempt in change.attempts {
                    try db.execute(
                        sql: """
                            INSERT INTO provider_attempts (job_id, provider, operation, outcome, provider_batch_id, message, at)
                            VALUES (?, ?, ?, ?, ?, ?, ?)
                            """,
                        arguments: [
                            attempt.jobID, attempt.provider, attempt.operation, attempt.outcome, attempt.providerBatchID,
                            attempt.message, attempt.at.milliseconds,
                        ]
                    )
                }
            }
            return .stored
        } catch is DuplicateEvent {
            return .duplicateEvent
        } catch is Conflict {
            return .conflict
        } catch is LeaseLost {
            return .leaseLost
        }
    }

    // MARK: - Reads

    public func job(id: String) async throws -> Job? {
        let body = try await pool.read { db in
            try Data.fetchOne(db, sql: "SELECT body FROM jobs WHERE id = ?", arguments: [id])
        }
        return try body.map { try StoredJSON.decode(Job.self, from: $0) }
    }

    public func input(jobID: String) async throws -> JobInput? {
        let body = try await pool.read { db in
            try Data.fetchOne(db, sql: "SELECT body FROM job_inputs WHERE job_id = ?", arguments: [jobID])
        }
        return try body.map { try StoredJSON.decode(JobInput.self, from: $0) }
    }

    public func jobs(_ query: JobQuery) async throws -> [Job] {
        var sql = "SELECT body FROM jobs WHERE tenant = ?"
        var arguments: StatementArguments = [query.tenant]
        if let lifecycle = query.lifecycle {
            sql += " AND lifecycle = ?"
            _ = arguments.append(contentsOf: [lifecycle.rawValue])
        }
        if let provider = query.provider {
            sql += " AND provider = ?"
            _ = arguments.append(contentsOf: [provider])
        }
        if let route = query.route {
            sql += " AND route = ?"
            _ = arguments.append(contentsOf: [route])
        }
        if let after = query.after {
            sql += " AND id < ?"
            _ = arguments.append(contentsOf: [after])
        }
        sql += " ORDER BY id DESC LIMIT ?"
        _ = arguments.append(contentsOf: [query.limit])
        let finalSQL = sql
        let finalArguments = arguments
        let bodies = try await pool.read { db in
            try Data.fetchAll(db, sql: finalSQL, arguments: finalArguments)
        }
        return try bodies.map { try StoredJSON.decode(Job.self, from: $0) }
    }

    public func activeJobs() async throws -> [Job] {
        let bodies = try await pool.read { db in
            try Data.fetchAll(db, sql: "SELECT body FROM jobs WHERE lifecycle IN ('pending', 'running') ORDER BY id")
        }
        return try bodies.map { try StoredJSON.decode(Job.self, from: $0) }
    }

    public func results(jobID: String, afterIndex: Int?, limit: Int) async throws -> [ItemResult] {
        let bodies = try await pool.read { db in
            try Data.fetchAll(
                db,
                sql: "SELECT body FROM results WHERE job_id = ? AND idx > ? ORDER BY idx LIMIT ?",
                arguments: [jobID, afterIndex ?? -1, limit]
            )
        }
        return try bodies.map { try StoredJSON.decode(ItemResult.self, from: $0) }
    }

    public func events(jobID: String) async throws -> [ProviderEventRecord] {
        try await pool.read { db in
            try Row.fetchAll(
                db,
                sql: """
                    SELECT job_id, provider, provider_batch_id, event_type, dedupe_key, received_at, payload
                    FROM provider_events WHERE job_id = ? ORDER BY id
                    """,
                arguments: [jobID]
            ).map { row in
                ProviderEventRecord(
                    jobID: row[0],
                    provider: row[1],
                    providerBatchID: row[2],
                    eventType: row[3],
                    dedupeKey: row[4],
                    receivedAt: Timestamp(milliseconds: row[5]),
                    payload: [UInt8](row[6] as Data)
                )
            }
        }
    }

    public func attempts(jobID: String) async throws -> [ProviderAttemptRecord] {
        try await pool.read { db in
            try Row.fetchAll(
                db,
                sql: """
                    SELECT job_id, provider, operation, outcome, provider_batch_id, message, at
                    FROM provider_attempts WHERE job_id = ? ORDER BY id
                    """,
                arguments: [jobID]
            ).map { row in
                ProviderAttemptRecord(
                    jobID: row[0],
                    provider: row[1],
                    operation: row[2],
                    outcome: row[3],
                    providerBatchID: row[4],
                    message: row[5],
                    at: Timestamp(milliseconds: row[6])
                )
            }
        }
    }
}

// MARK: - Client webhook outbox

extension SQLiteJobStore {
    /// Queues deliveries, once per (job, delivery key), unless the job's subscription was stopped (410).
    static func enqueue(_ deliveries: [WebhookDelivery], _ db: Database) throws {
        for delivery in deliveries {
            try db.execute(
                sql: """
                    INSERT OR IGNORE INTO webhook_deliveries
                        (id, job_id, tenant, delivery_key, event_type, event_id, created_at, url, secret, data,
                         attempt, max_attempts, next_attempt_at, status, trace_parent)
                    SELECT ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'pending', ?
                    WHERE NOT EXISTS (SELECT 1 FROM webhook_stops WHERE job_id = ?)
                    """,
                arguments: [
                    delivery.id, delivery.jobID, delivery.tenant, delivery.deliveryKey, delivery.eventType, delivery.eventID,
                    delivery.createdAt.milliseconds, delivery.url, delivery.secret, Data(delivery.data), delivery.attempt,
                    delivery.maxAttempts, delivery.nextAttemptAt.milliseconds, delivery.traceParent, delivery.jobID,
                ]
            )
        }
    }

    public func claimDue(now: Timestamp, limit: Int, lease: Duration) async throws -> [WebhookDelivery] {
        let leaseEnd = now.adding(lease).milliseconds
        return try await writer.write { [owner] db in
            let rows = try Row.fetchAll(
                db,
                sql: """
                    SELECT id, job_id, tenant, delivery_key, event_type, event_id, created_at, url, secret, data,
                           attempt, max_attempts, next_attempt_at, trace_parent
                    FROM webhook_deliveries
                    WHERE status = 'pending' AND next_attempt_at <= ?
                      AND (claimed_until IS NULL OR claimed_until <= ? OR \(Self.claimerIsGone))
                    ORDER BY next_attempt_at LIMIT ?
                    """,
                arguments: [now.milliseconds, now.milliseconds, owner, now.milliseconds, limit]
            )
            let deliveries = rows.map { row in
                WebhookDelivery(
                    id: row[0],
                    jobID: row[1],
                    tenant: row[2],
                    deliveryKey: row[3],
                    eventType: row[4],
                    eventID: row[5],
                    createdAt: Timestamp(milliseconds: row[6]),
                    url: row[7],
                    secret: row[8],
                    data: [UInt8](row[9] as Data),
                    attempt: row[10],
                    maxAttempts: row[11],
                    nextAttemptAt: Timestamp(milliseconds: row[12]),
                    traceParent: row[13]
                )
            }
            for delivery in deliveries {
                try db.execute(
                    sql: "UPDATE webhook_deliveries SET claimed_until = ?, claimed_by = ? WHERE id = ?",
                    arguments: [leaseEnd, owner, delivery.id]
                )
            }
            return deliveries
        }
    }

    public func record(_ attempt: DeliveryAttempt, for delivery: WebhookDelivery) async throws {
        let body = try StoredJSON.encode(attempt)
        try await writer.write { [owner] db in
            try db.execute(
                sql: "INSERT INTO webhook_attempts (id, job_id, delivery_id, status, tried_at, body) VALUES (?, ?, ?, ?, ?, ?)",
                arguments: [attempt.id, delivery.jobID, delivery.id, attempt.status.rawValue, attempt.triedAt.milliseconds, body]
            )
            let status: String
            switch attempt.outcome {
            case .delivered: status = "delivered"
            case .retry: status = "pending"
            case .failedPermanently, .stopSubscription: status = "failed"
            }
            // Only under this replica's claim: when another replica took the delivery over meanwhile (this one
            // was paused past its heartbeat), its state is the other's to write; the attempt is still history.
            try db.execute(
                sql: """
                    UPDATE webhook_deliveries SET status = ?, attempt = ?, next_attempt_at = ?, claimed_until = NULL
                    WHERE id = ? AND (claimed_by = ? OR claimed_by IS NULL)
                    """,
                arguments: [
                    status, attempt.attemptNumber, (attempt.nextRetryAt ?? delivery.nextAttemptAt).milliseconds, delivery.id, owner,
                ]
            )
            if attempt.stopsSubscription {
                try db.execute(
                    sql: "INSERT OR IGNORE INTO webhook_stops (job_id, at) VALUES (?, ?)",
                    arguments: [delivery.jobID, attempt.triedAt.milliseconds]
                )
                try db.execute(
                    sql: "UPDATE webhook_deliveries SET status = 'failed', claimed_until = NULL WHERE job_id = ? AND status = 'pending'",
                    arguments: [delivery.jobID]
                )
            }
        }
    }

    public func nextDueTime(now: Timestamp) async throws -> Timestamp? {
        try await pool.read { [owner] db in
            // A claim by a replica that is gone does not hold the delivery back.
            try Int64.fetchOne(
                db,
                sql: """
                    SELECT MIN(CASE WHEN claimed_until IS NULL OR \(Self.claimerIsGone) THEN next_attempt_at
                                    ELSE MAX(next_attempt_at, claimed_until) END)
                    FROM webhook_deliveries WHERE status = 'pending'
                    """,
                arguments: [owner, now.milliseconds]
            ).map(Timestamp.init(milliseconds:))
        }
    }

    public func webhookDelivery(jobID: String, recent: Int) async throws -> (summary: WebhookDeliverySummary, attempts: [DeliveryAttempt]) {
        let (recentBodies, totals, delivered, pending, lastDelivered, lastFailure, stopped) = try await pool.read { db in
            let recentBodies = try Data.fetchAll(
                db,
                sql: "SELECT body FROM webhook_attempts WHERE job_id = ? ORDER BY id DESC LIMIT ?",
                arguments: [jobID, recent]
            )
            let totals = try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM webhook_attempts WHERE job_id = ?", arguments: [jobID]) ?? 0
            let delivered = try String.fetchAll(
                db,
                sql: "SELECT event_type FROM webhook_deliveries WHERE job_id = ? AND status = 'delivered' ORDER BY created_at",
                arguments: [jobID]
            )
            let pending = try Row.fetchOne(
                db,
                sql: "SELECT COUNT(*), MIN(next_attempt_at) FROM webhook_deliveries WHERE job_id = ? AND status = 'pending' AND attempt > 0",
                arguments: [jobID]
            )
            let lastDelivered = try Int64.fetchOne(
                db,
                sql: "SELECT MAX(tried_at) FROM webhook_attempts WHERE job_id = ? AND status = 'delivered'",
                arguments: [jobID]
            )
            let lastFailure = try Data.fetchOne(
                db,
                sql: "SELECT body FROM webhook_attempts WHERE job_id = ? AND status != 'delivered' ORDER BY id DESC LIMIT 1",
                arguments: [jobID]
            )
            let stopped =
                try Bool.fetchOne(
                    db,
                    sql: "SELECT EXISTS (SELECT 1 FROM webhook_stops WHERE job_id = ?)",
                    arguments: [jobID]
                ) ?? false
            let pendingCount: Int = pending?[0] ?? 0
            let nextRetry: Int64? = pending?[1]
            return (recentBodies, totals, delivered, (pendingCount, nextRetry), lastDelivered, lastFailure, stopped)
        }
        let attempts = try recentBodies.map { try StoredJSON.decode(DeliveryAttempt.self, from: $0) }
        let summary = WebhookDeliverySummary(
            totalAttempts: totals,
            recent: attempts,
            deliveredTypes: delivered,
            retrying: (pending.0, pending.1.map(Timestamp.init(milliseconds:))),
            lastDeliveredAt: lastDelivered.map(Timestamp.init(milliseconds:)),
            lastFailure: try lastFailure.map { try StoredJSON.decode(DeliveryAttempt.self, from: $0) },
            stopped: stopped
        )
        return (summary, attempts)
    }

    public func deliveryAttempts(jobID: String, after: String?, limit: Int) async throws -> [DeliveryAttempt] {
        let bodies = try await pool.read { db in
            if let after {
                return try Data.fetchAll(
                    db,
                    sql: "SELECT body FROM webhook_attempts WHERE job_id = ? AND id < ? ORDER BY id DESC LIMIT ?",
                    arguments: [jobID, after, limit]
                )
            }
            return try Data.fetchAll(
                db,
                sql: "SELECT body FROM webhook_attempts WHERE job_id = ? ORDER BY id DESC LIMIT ?",
                arguments: [jobID, limit]
            )
        }
        return try bodies.map { try StoredJSON.decode(DeliveryAttempt.self, from: $0) }
    }
}

// MARK: - Metrics

extension SQLiteJobStore {
    public func jobCounts() async throws -> [JobCount] {
        try await pool.read { db in
            try Row.fetchAll(db, sql: "SELECT lifecycle, provider, COUNT(*) FROM jobs GROUP BY lifecycle, provider").compactMap { row in
                LifecycleStatus(rawValue: row[0]).map { JobCount(lifecycle: $0, provider: row[1], count: row[2]) }
            }
        }
    }

    public func outboxBacklog(now: Timestamp) async throws -> (pending: Int, oldestDue: Timestamp?) {
        try await pool.read { db in
            let row = try Row.fetchOne(
                db,
                sql: """
                    SELECT COUNT(*), MIN(CASE WHEN next_attempt_at <= ? THEN next_attempt_at END)
                    FROM webhook_deliveries WHERE status = 'pending'
                    """,
                arguments: [now.milliseconds]
            )
            let oldest: Int64? = row?[1]
            return (row?[0] ?? 0, oldest.map(Timestamp.init(milliseconds:)))
        }
    }

    public func tenantOverview(tenant: String, now: Timestamp) async throws -> TenantOverview {
        try await pool.read { db in
            var overview = TenantOverview()
            let active = try Row.fetchAll(
                db,
                sql: "SELECT provider, COUNT(*) FROM jobs WHERE tenant = ? AND lifecycle IN ('pending', 'running') GROUP BY provider",
                arguments: [tenant]
            )
            for row in active { overview.activeJobs[row[0]] = row[1] }
            let outbox = try Row.fetchOne(
                db,
                sql: """
                    SELECT COALESCE(SUM(status = 'pending' AND next_attempt_at <= ?), 0),
                           COALESCE(SUM(status = 'pending' AND attempt > 0), 0),
                           COALESCE(SUM(status = 'failed'), 0)
                    FROM webhook_deliveries WHERE tenant = ?
                    """,
                arguments: [now.milliseconds, tenant]
            )
            overview.deliveriesDue = outbox?[0] ?? 0
            overview.deliveriesRetrying = outbox?[1] ?? 0
            overview.deliveriesFailed = outbox?[2] ?? 0
            return overview
        }
    }
}

// MARK: - Replicas and leases

extension SQLiteJobStore {
    /// SQL that is true when a delivery's claim was made by a replica that is gone: another replica whose
    /// heartbeat has expired (or a claim from before claims named their replica). Arguments: owner, now.
    static let claimerIsGone = """
        (claimed_by IS NULL OR (claimed_by <> ? AND NOT EXISTS (
            SELECT 1 FROM replicas r WHERE r.owner = claimed_by AND r.expires_at > ?)))
        """

    public func heartbeat(now: Timestamp, ttl: Duration) async throws -> Set<String> {
        let expires = now.adding(ttl).milliseconds
        return try await writer.write { [owner] db in
            try db.execute(
                sql: """
                    INSERT INTO replicas (owner, expires_at, started_at) VALUES (?, ?, ?)
                    ON CONFLICT (owner) DO UPDATE SET expires_at = excluded.expires_at
                    """,
                arguments: [owner, expires, now.milliseconds]
            )
            return Set(try String.fetchAll(db, sql: "SELECT job_id FROM job_leases WHERE owner = ?", arguments: [owner]))
        }
    }

    public func acquireLease(jobID: String, now: Timestamp) async throws -> JobLease? {
        try await writer.write { [owner] db in
            // A replica whose own heartbeat has lapsed takes nothing until it has renewed it.
            let alive =
                try Bool.fetchOne(
                    db,
                    sql: "SELECT expires_at > ? FROM replicas WHERE owner = ?",
                    arguments: [now.milliseconds, owner]
                ) ?? false
            guard alive else { return nil }
            let row = try Row.fetchOne(
                db,
                sql: """
                    SELECT l.owner, l.fence, COALESCE(r.expires_at, 0) FROM job_leases l
                    LEFT JOIN replicas r ON r.owner = l.owner WHERE l.job_id = ?
                    """,
                arguments: [jobID]
            )
            guard let row else {
                try db.execute(
                    sql: "INSERT INTO job_leases (job_id, owner, fence, acquired_at) VALUES (?, ?, 1, ?)",
                    arguments: [jobID, owner, now.milliseconds]
                )
                return JobLease(jobID: jobID, owner: owner, fence: 1)
            }
            let holder: String = row[0]
            let fence: Int64 = row[1]
            let holderExpires: Int64 = row[2]
            if holder == owner { return JobLease(jobID: jobID, owner: owner, fence: fence) }
            guard holderExpires <= now.milliseconds else { return nil }
            try db.execute(
                sql: "UPDATE job_leases SET owner = ?, fence = fence + 1, acquired_at = ? WHERE job_id = ?",
                arguments: [owner, now.milliseconds, jobID]
            )
            return JobLease(jobID: jobID, owner: owner, fence: fence + 1)
        }
    }

    public func releaseLease(_ lease: JobLease) async throws {
        try await writer.write { db in
            try db.execute(
                sql: "DELETE FROM job_leases WHERE job_id = ? AND owner = ? AND fence = ?",
                arguments: [lease.jobID, lease.owner, lease.fence]
            )
        }
    }

    /// One write transaction: SQLite has a single writer, so claims of two replicas never overlap.
    public func claimUnleasedJobs(now: Timestamp, limit: Int) async throws -> [JobLease] {
        try await writer.write { [owner] db in
            let alive =
                try Bool.fetchOne(db, sql: "SELECT expires_at > ? FROM replicas WHERE owner = ?", arguments: [now.milliseconds, owner])
                ?? false
            guard alive else { return [] }
            let unleased = try String.fetchAll(
                db,
                sql: """
                    SELECT j.id FROM jobs j
                    LEFT JOIN job_leases l ON l.job_id = j.id
                    LEFT JOIN replicas r ON r.owner = l.owner
                    WHERE j.lifecycle IN ('pending', 'running')
                      AND (l.job_id IS NULL OR r.expires_at IS NULL OR r.expires_at <= ?)
                    ORDER BY j.id LIMIT ?
                    """,
                arguments: [now.milliseconds, limit]
            )
            return try unleased.map { jobID in
                let fence =
                    try Int64.fetchOne(
                        db,
                        sql: """
                            INSERT INTO job_leases (job_id, owner, fence, acquired_at) VALUES (?, ?, 1, ?)
                            ON CONFLICT (job_id) DO UPDATE SET owner = excluded.owner, fence = job_leases.fence + 1,
                                acquired_at = excluded.acquired_at
                            RETURNING fence
                            """,
                        arguments: [jobID, owner, now.milliseconds]
                    ) ?? 1
                return JobLease(jobID: jobID, owner: owner, fence: fence)
            }
        }
    }
}
