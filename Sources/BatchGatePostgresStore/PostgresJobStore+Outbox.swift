public import BatchGateCore
import Foundation
import NIOCore
import PostgresNIO

// MARK: - Client webhook outbox

extension PostgresJobStore {
    public func claimDue(now: Timestamp, limit: Int, lease: Duration) async throws -> [WebhookDelivery] {
        let leaseEnd = now.adding(lease).milliseconds
        let now = now.milliseconds
        // Rows another replica is claiming this moment are skipped, not waited for.
        let rows = try await client.query(
            """
            UPDATE webhook_deliveries SET claimed_until = \(leaseEnd), claimed_by = \(owner)
            WHERE id IN (
                SELECT id FROM webhook_deliveries
                WHERE status = 'pending' AND next_attempt_at <= \(now)
                  AND (claimed_until IS NULL OR claimed_until <= \(now)
                       OR claimed_by IS NULL OR (claimed_by <> \(owner) AND NOT EXISTS (
                           SELECT 1 FROM replicas r WHERE r.owner = claimed_by AND r.expires_at > \(now))))
                ORDER BY next_attempt_at LIMIT \(limit)
                FOR UPDATE SKIP LOCKED)
            RETURNING id, job_id, tenant, delivery_key, event_type, event_id, created_at, url, secret, data,
                      attempt, max_attempts, next_attempt_at, trace_parent
            """,
            logger: logger
        )
        var deliveries: [WebhookDelivery] = []
        for try await row in rows {
            let (id, jobID, tenant, key, type, eventID, created, url, secret, data, attempt, maxAttempts, next, traceParent) = try row.decode(
                (String, String, String, String, String, String, Int64, String, String?, Data, Int, Int, Int64, String?).self
            )
            deliveries.append(
                WebhookDelivery(
                    id: id,
                    jobID: jobID,
                    tenant: tenant,
                    deliveryKey: key,
                    eventType: type,
                    eventID: eventID,
                    createdAt: Timestamp(milliseconds: created),
                    url: url,
                    secret: secret,
                    data: [UInt8](data),
                    attempt: attempt,
                    maxAttempts: maxAttempts,
                    nextAttemptAt: Timestamp(milliseconds: next),
                    traceParent: traceParent
                )
            )
        }
        return deliveries.sorted { ($0.nextAttemptAt, $0.id) < ($1.nextAttemptAt, $1.id) }
    }

    public func record(_ attempt: DeliveryAttempt, for delivery: WebhookDelivery) async throws {
        let body = try StoredJSON.encode(attempt)
        let status: String
        switch attempt.outcome {
        case .delivered: status = "delivered"
        case .retry: status = "pending"
        case .failedPermanently, .stopSubscription: status = "failed"
        }
        let next = (attempt.nextRetryAt ?? delivery.nextAttemptAt).milliseconds
        try await transaction { connection in
            try await connection.query(
                """
                INSERT INTO webhook_attempts (id, job_id, delivery_id, status, tried_at, body)
                VALUES (\(attempt.id), \(delivery.jobID), \(delivery.id), \(attempt.status.rawValue), \(attempt.triedAt.milliseconds), \(body))
                """,
                logger: logger
            )
            // Only under this replica's claim: when another replica took the delivery over meanwhile (this one
            // was paused past its heartbeat), its state is the other's to write; the attempt is still history.
            try await connection.query(
                """
                UPDATE webhook_deliveries SET status = \(status), attempt = \(attempt.attemptNumber), next_attempt_at = \(next),
                    claimed_until = NULL
                WHERE id = \(delivery.id) AND (claimed_by = \(owner) OR claimed_by IS NULL)
                """,
                logger: logger
            )
            if attempt.stopsSubscription {
                try await connection.query(
                    "INSERT INTO webhook_stops (job_id, at) VALUES (\(delivery.jobID), \(attempt.triedAt.milliseconds)) ON CONFLICT DO NOTHING",
                    logger: logger
                )
                try await connection.query(
                    "UPDATE webhook_deliveries SET status = 'failed', claimed_until = NULL WHERE job_id = \(delivery.jobID) AND status = 'pending'",
                    logger: logger
                )
            }
            try await notify("d \(delivery.jobID)", on: connection)
        }
    }

    public func nextDueTime(now: Timestamp) async throws -> Timestamp? {
        let now = now.milliseconds
        let rows = try await client.query(
            """
            SELECT MIN(CASE WHEN claimed_until IS NULL OR claimed_by IS NULL OR (claimed_by <> \(owner) AND NOT EXISTS (
                                SELECT 1 FROM replicas r WHERE r.owner = claimed_by AND r.expires_at > \(now)))
                            THEN next_attempt_at ELSE GREATEST(next_attempt_at, claimed_until) END)
            FROM webhook_deliveries WHERE status = 'pending'
            """,
            logger: logger
        )
        for try await due in rows.decode(Int64?.self) { return due.map(Timestamp.init(milliseconds:)) }
        return nil
    }
}

// MARK: - Replicas and leases

extension PostgresJobStore {
    public func heartbeat(now: Timestamp, ttl: Duration) async throws -> Set<String> {
        let expires = now.adding(ttl).milliseconds
        try await client.query(
            """
            INSERT INTO replicas (owner, expires_at, started_at) VALUES (\(owner), \(expires), \(now.milliseconds))
            ON CONFLICT (owner) DO UPDATE SET expires_at = excluded.expires_at
            """,
            logger: logger
        )
        var held = Set<String>()
        for try await id in try await client.query("SELECT id FROM jobs WHERE lease_owner = \(owner)", logger: logger).decode(String.self) {
            held.insert(id)
        }
        return held
    }

    public func acquireLease(jobID: String, now: Timestamp) async throws -> JobLease? {
        let now = now.milliseconds
        // Kept (same fence) if this replica holds it; taken (fence raised) if nobody alive does; nothing while
        // this replica's own heartbeat has lapsed.
        let rows = try await client.query(
            """
            UPDATE jobs SET lease_fence = CASE WHEN lease_owner = \(owner) THEN lease_fence ELSE lease_fence + 1 END,
                lease_owner = \(owner)
            WHERE id = \(jobID)
              AND EXISTS (SELECT 1 FROM replicas WHERE owner = \(owner) AND expires_at > \(now))
              AND (lease_owner IS NULL OR lease_owner = \(owner) OR NOT EXISTS (
                  SELECT 1 FROM replicas r WHERE r.owner = jobs.lease_owner AND r.expires_at > \(now)))
            RETURNING lease_fence
            """,
            logger: logger
        )
        for try await fence in rows.decode(Int64.self) { return JobLease(jobID: jobID, owner: owner, fence: fence) }
        return nil
    }

    public func releaseLease(_ lease: JobLease) async throws {
        try await transaction { connection in
            let released = try await connection.query(
                """
                UPDATE jobs SET lease_owner = NULL
                WHERE id = \(lease.jobID) AND lease_owner = \(lease.owner) AND lease_fence = \(lease.fence)
                RETURNING lifecycle
                """,
                logger: logger
            ).collect()
            // Other replicas claim an active job given up (a replica shutting down) at once.
            if let row = released.first, let lifecycle = LifecycleStatus(rawValue: try row.decode(String.self)), !lifecycle.isTerminal {
                try await notify("r", on: connection)
            }
        }
    }

    public func claimUnleasedJobs(now: Timestamp, limit: Int) async throws -> [JobLease] {
        let now = now.milliseconds
        // Rows another replica is claiming this moment are skipped: replicas claiming together get disjoint jobs.
        let rows = try await client.query(
            """
            UPDATE jobs SET lease_owner = \(owner), lease_fence = lease_fence + 1
            WHERE id IN (
                SELECT id FROM jobs j
                WHERE lifecycle IN ('pending', 'running')
                  AND (lease_owner IS NULL OR NOT EXISTS (
                      SELECT 1 FROM replicas r WHERE r.owner = j.lease_owner AND r.expires_at > \(now)))
                ORDER BY id LIMIT \(limit)
                FOR UPDATE SKIP LOCKED)
              AND EXISTS (SELECT 1 FROM replicas WHERE owner = \(owner) AND expires_at > \(now))
            RETURNING id, lease_fence
            """,
            logger: logger
        )
        var leases: [JobLease] = []
        for try await (id, fence) in rows.decode((String, Int64).self) {
            leases.append(JobLease(jobID: id, owner: owner, fence: fence))
        }
        return leases.sorted { $0.jobID < $1.jobID }
    }
}
