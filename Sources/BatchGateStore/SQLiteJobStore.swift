import BatchGateCore
import Foundation
import GRDB

/// The embedded default `JobStore`: SQLite in WAL mode with group commits.
///
/// A write returns only after its transaction committed with `synchronous=FULL`, so what it stored
/// survives a crash of the process or of the machine.
public final class SQLiteJobStore: JobStore {
    private let pool: DatabasePool
    private let writer: GroupCommitWriter

    /// Opens (creating when needed) and migrates the database at `path`.
    public init(path: String) throws {
        var configuration = Configuration()
        configuration.busyMode = .timeout(10)
        configuration.prepareDatabase { db in
            try db.execute(sql: "PRAGMA synchronous = FULL")
        }
        pool = try DatabasePool(path: path, configuration: configuration)
        try Self.migrator.migrate(pool)
        writer = GroupCommitWriter(pool: pool)
    }

    /// The versioned schema. Migrations are append-only: never edit a registered one.
    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1: jobs, inputs, events, attempts, idempotency keys, results") { db in
            try db.execute(sql: """
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
                """)
        }
        return migrator
    }

    // MARK: - Writes

    public func create(_ job: Job, input: JobInput, idempotency: IdempotencyRecord?) async throws -> CreateOutcome {
        let jobBody = try Codec.encode(job)
        let inputBody = try Codec.encode(input)
        let found: Data? = try await writer.write { db -> Data? in
            if let idempotency {
                if let row = try Row.fetchOne(
                    db,
                    sql: """
                        SELECT k.request_hash, j.body FROM idempotency_keys k JOIN jobs j ON j.id = k.job_id
                        WHERE k.tenant = ? AND k.key = ?
                        """,
                    arguments: [idempotency.tenant, idempotency.key])
                {
                    let hash: String = row[0]
                    return hash == idempotency.requestHash ? row[1] : Data()
                }
            }
            try db.execute(
                sql: "INSERT INTO jobs (id, tenant, route, provider, lifecycle, version, body) VALUES (?, ?, ?, ?, ?, ?, ?)",
                arguments: [job.id, job.tenant, job.route, job.provider, job.state.lifecycle.rawValue, job.version, jobBody])
            try db.execute(sql: "INSERT INTO job_inputs (job_id, body) VALUES (?, ?)", arguments: [job.id, inputBody])
            if let idempotency {
                try db.execute(
                    sql: "INSERT INTO idempotency_keys (tenant, key, request_hash, job_id) VALUES (?, ?, ?, ?)",
                    arguments: [idempotency.tenant, idempotency.key, idempotency.requestHash, job.id])
            }
            return nil
        }
        guard let found else { return .created(job) }
        if found.isEmpty { return .keyReused }
        return .existing(try Codec.decode(Job.self, from: found))
    }

    private struct Conflict: Error {}
    private struct DuplicateEvent: Error {}

    public func apply(_ change: JobChange) async throws -> ChangeOutcome {
        let job = change.job
        let jobBody = try Codec.encode(job)
        let resultBodies = try change.results.map { ($0.index, try Codec.encode($0)) }
        do {
            try await writer.write { db in
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
                        ])
                    if db.changesCount == 0 { throw DuplicateEvent() }
                }
                try db.execute(
                    sql: "UPDATE jobs SET provider = ?, lifecycle = ?, version = ?, body = ? WHERE id = ? AND version = ?",
                    arguments: [job.provider, job.state.lifecycle.rawValue, job.version, jobBody, job.id, job.version - 1])
                if db.changesCount == 0 { throw Conflict() }
                for (index, body) in resultBodies {
                    try db.execute(
                        sql: "INSERT OR REPLACE INTO results (job_id, idx, body) VALUES (?, ?, ?)",
                        arguments: [job.id, index, body])
                }
                for attempt in change.attempts {
                    try db.execute(
                        sql: """
                            INSERT INTO provider_attempts (job_id, provider, operation, outcome, provider_batch_id, message, at)
                            VALUES (?, ?, ?, ?, ?, ?, ?)
                            """,
                        arguments: [
                            attempt.jobID, attempt.provider, attempt.operation, attempt.outcome, attempt.providerBatchID,
                            attempt.message, attempt.at.milliseconds,
                        ])
                }
            }
            return .stored
        } catch is DuplicateEvent {
            return .duplicateEvent
        } catch is Conflict {
            return .conflict
        }
    }

    // MARK: - Reads

    public func job(id: String) async throws -> Job? {
        let body = try await pool.read { db in
            try Data.fetchOne(db, sql: "SELECT body FROM jobs WHERE id = ?", arguments: [id])
        }
        return try body.map { try Codec.decode(Job.self, from: $0) }
    }

    public func input(jobID: String) async throws -> JobInput? {
        let body = try await pool.read { db in
            try Data.fetchOne(db, sql: "SELECT body FROM job_inputs WHERE job_id = ?", arguments: [jobID])
        }
        return try body.map { try Codec.decode(JobInput.self, from: $0) }
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
        return try bodies.map { try Codec.decode(Job.self, from: $0) }
    }

    public func activeJobs() async throws -> [Job] {
        let bodies = try await pool.read { db in
            try Data.fetchAll(db, sql: "SELECT body FROM jobs WHERE lifecycle IN ('pending', 'running') ORDER BY id")
        }
        return try bodies.map { try Codec.decode(Job.self, from: $0) }
    }

    public func results(jobID: String, afterIndex: Int?, limit: Int) async throws -> [ItemResult] {
        let bodies = try await pool.read { db in
            try Data.fetchAll(
                db, sql: "SELECT body FROM results WHERE job_id = ? AND idx > ? ORDER BY idx LIMIT ?",
                arguments: [jobID, afterIndex ?? -1, limit])
        }
        return try bodies.map { try Codec.decode(ItemResult.self, from: $0) }
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
                    jobID: row[0], provider: row[1], providerBatchID: row[2], eventType: row[3], dedupeKey: row[4],
                    receivedAt: Timestamp(milliseconds: row[5]), payload: [UInt8](row[6] as Data))
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
                    jobID: row[0], provider: row[1], operation: row[2], outcome: row[3], providerBatchID: row[4],
                    message: row[5], at: Timestamp(milliseconds: row[6]))
            }
        }
    }
}

/// JSON for stored bodies.
enum Codec {
    static func encode(_ value: some Encodable) throws -> Data {
        try JSONEncoder().encode(value)
    }

    static func decode<T: Decodable>(_ type: T.Type, from data: Data) throws -> T {
        try JSONDecoder().decode(type, from: data)
    }
}
