import Logging
import PostgresNIO

/// The versioned schema of the PostgreSQL store. Migrations are append-only: never edit a registered one.
///
/// They run in one transaction holding an advisory lock, so replicas starting together on a new database
/// migrate it once and the others find it done; a failed migration leaves nothing half-applied.
enum PostgresMigrations {
    struct Migration {
        var version: Int
        var name: String
        /// One statement each (the extended protocol runs one per query).
        var statements: [String]
    }

    static let all: [Migration] = [
        Migration(
            version: 1,
            name: "jobs with leases, inputs, events, attempts, idempotency keys, results, outbox, replicas",
            statements: [
                """
                CREATE TABLE jobs (
                    id text COLLATE "C" PRIMARY KEY,
                    tenant text NOT NULL,
                    route text NOT NULL,
                    provider text NOT NULL,
                    lifecycle text NOT NULL,
                    version bigint NOT NULL,
                    body bytea NOT NULL,
                    lease_owner text,
                    lease_fence bigint NOT NULL DEFAULT 0
                )
                """,
                "CREATE INDEX jobs_by_tenant ON jobs (tenant, id)",
                "CREATE INDEX jobs_active ON jobs (id) WHERE lifecycle IN ('pending', 'running')",
                "CREATE INDEX jobs_by_lease_owner ON jobs (lease_owner) WHERE lease_owner IS NOT NULL",
                "CREATE TABLE job_inputs (job_id text COLLATE \"C\" PRIMARY KEY REFERENCES jobs (id), body bytea NOT NULL)",
                """
                CREATE TABLE provider_events (
                    id bigserial PRIMARY KEY,
                    job_id text COLLATE "C" NOT NULL REFERENCES jobs (id),
                    provider text NOT NULL,
                    provider_batch_id text NOT NULL,
                    event_type text NOT NULL,
                    dedupe_key text NOT NULL,
                    received_at bigint NOT NULL,
                    payload bytea NOT NULL,
                    UNIQUE (job_id, provider, provider_batch_id, dedupe_key)
                )
                """,
                """
                CREATE TABLE provider_attempts (
                    id bigserial PRIMARY KEY,
                    job_id text COLLATE "C" NOT NULL REFERENCES jobs (id),
                    provider text NOT NULL,
                    operation text NOT NULL,
                    outcome text NOT NULL,
                    provider_batch_id text,
                    message text,
                    at bigint NOT NULL
                )
                """,
                "CREATE INDEX provider_attempts_by_job ON provider_attempts (job_id, id)",
                """
                CREATE TABLE idempotency_keys (
                    tenant text NOT NULL,
                    key text NOT NULL,
                    request_hash text NOT NULL,
                    job_id text COLLATE "C" NOT NULL REFERENCES jobs (id) DEFERRABLE INITIALLY DEFERRED,
                    PRIMARY KEY (tenant, key)
                )
                """,
                """
                CREATE TABLE results (
                    job_id text COLLATE "C" NOT NULL REFERENCES jobs (id),
                    idx bigint NOT NULL,
                    body bytea NOT NULL,
                    PRIMARY KEY (job_id, idx)
                )
                """,
                """
                CREATE TABLE webhook_deliveries (
                    id text COLLATE "C" PRIMARY KEY,
                    job_id text COLLATE "C" NOT NULL REFERENCES jobs (id),
                    tenant text NOT NULL,
                    delivery_key text NOT NULL,
                    event_type text NOT NULL,
                    event_id text NOT NULL,
                    created_at bigint NOT NULL,
                    url text NOT NULL,
                    secret text,
                    data bytea NOT NULL,
                    attempt bigint NOT NULL,
                    max_attempts bigint NOT NULL,
                    next_attempt_at bigint NOT NULL,
                    status text NOT NULL,
                    claimed_until bigint,
                    claimed_by text,
                    UNIQUE (job_id, delivery_key)
                )
                """,
                "CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at) WHERE status = 'pending'",
                "CREATE INDEX webhook_deliveries_by_job ON webhook_deliveries (job_id, status)",
                """
                CREATE TABLE webhook_attempts (
                    id text COLLATE "C" PRIMARY KEY,
                    job_id text COLLATE "C" NOT NULL REFERENCES jobs (id),
                    delivery_id text NOT NULL,
                    status text NOT NULL,
                    tried_at bigint NOT NULL,
                    body bytea NOT NULL
                )
                """,
                "CREATE INDEX webhook_attempts_by_job ON webhook_attempts (job_id, id)",
                "CREATE TABLE webhook_stops (job_id text COLLATE \"C\" PRIMARY KEY REFERENCES jobs (id), at bigint NOT NULL)",
                "CREATE TABLE replicas (owner text PRIMARY KEY, expires_at bigint NOT NULL, started_at bigint NOT NULL)",
            ]
        ),
        Migration(
            version: 2,
            name: "the trace context of client webhook deliveries",
            statements: ["ALTER TABLE webhook_deliveries ADD COLUMN trace_parent text"]
        ),
        Migration(
            version: 3,
            name: "client webhook deliveries by tenant",
            statements: ["CREATE INDEX webhook_deliveries_by_tenant ON webhook_deliveries (tenant, status)"]
        ),
    ]

    /// The advisory lock migrations hold (with the schema's hash as the second key).
    static let lockKey: Int32 = 0x4247_4154  // "BGAT"

    /// Applies every migration the database lacks; returns the versions applied.
    @discardableResult
    static func run(on client: PostgresClient, logger: Logger) async throws -> [Int] {
        try await client.withTransaction(logger: logger) { connection in
            try await connection.query("SELECT pg_advisory_xact_lock(\(lockKey), hashtext(current_schema()))", logger: logger)
            try await connection.query(
                """
                CREATE TABLE IF NOT EXISTS batchgate_migrations (
                    version bigint PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now()
                )
                """,
                logger: logger
            )
            var applied = Set<Int>()
            for try await version in try await connection.query("SELECT version FROM batchgate_migrations", logger: logger).decode(Int.self) {
                applied.insert(version)
            }
            var done: [Int] = []
            for migration in all where !applied.contains(migration.version) {
                for statement in migration.statements {
                    try await connection.query(PostgresQuery(unsafeSQL: statement), logger: logger)
                }
                try await connection.query(
                    "INSERT INTO batchgate_migrations (version, name) VALUES (\(migration.version), \(migration.name))",
                    logger: logger
                )
                done.append(migration.version)
            }
            if !done.isEmpty { logger.info("migrated the PostgreSQL store", metadata: ["versions": "\(done)"]) }
            return done
        }
    }
}
