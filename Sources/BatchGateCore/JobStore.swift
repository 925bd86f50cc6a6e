/// A vendor event as received, stored once per dedupe key.
public struct ProviderEventRecord: Sendable, Hashable {
    public var jobID: String
    public var provider: String
    public var providerBatchID: String
    public var eventType: String
    public var dedupeKey: String
    public var receivedAt: Timestamp
    /// The body as the vendor sent it.
    public var payload: [UInt8]

    public init(
        jobID: String,
        provider: String,
        providerBatchID: String,
        eventType: String,
        dedupeKey: String,
        receivedAt: Timestamp,
        payload: [UInt8]
    ) {
        self.jobID = jobID
        self.provider = provider
        self.providerBatchID = providerBatchID
        self.eventType = eventType
        self.dedupeKey = dedupeKey
        self.receivedAt = receivedAt
        self.payload = payload
    }
}

/// One call the gateway made to a provider on behalf of a job (submit, cancel), kept for operators.
public struct ProviderAttemptRecord: Sendable, Hashable {
    public var jobID: String
    public var provider: String
    public var operation: String
    /// `ok` or the error code.
    public var outcome: String
    public var providerBatchID: String?
    public var message: String?
    public var at: Timestamp

    public init(
        jobID: String,
        provider: String,
        operation: String,
        outcome: String,
        providerBatchID: String? = nil,
        message: String? = nil,
        at: Timestamp
    ) {
        self.jobID = jobID
        self.provider = provider
        self.operation = operation
        self.outcome = outcome
        self.providerBatchID = providerBatchID
        self.message = message
        self.at = at
    }
}

/// An `Idempotency-Key` seen on a create.
public struct IdempotencyRecord: Sendable, Hashable {
    public var tenant: String
    public var key: String
    /// A digest of the request body: the same key with another body is refused.
    public var requestHash: String

    public init(tenant: String, key: String, requestHash: String) {
        self.tenant = tenant
        self.key = key
        self.requestHash = requestHash
    }
}

/// The result of storing a new job.
public enum CreateOutcome: Sendable {
    case created(Job)
    /// The idempotency key was used before with the same request: the earlier job.
    case existing(Job)
    /// The idempotency key was used before with another request.
    case keyReused
}

/// A replica's claim on one job: while it holds the lease, only it submits, polls or observes the job.
///
/// A lease lasts as long as its owner's heartbeat (`JobStore.heartbeat`): a replica that stops renewing
/// it (killed, paused, cut off) loses every lease it holds once the heartbeat expires, and another
/// replica takes them over. Each takeover raises the `fence`; a change committed with a lease whose fence
/// is no longer current is refused, so a replica that wakes up after losing a job cannot write over the
/// new owner's work.
public struct JobLease: Sendable, Hashable {
    public var jobID: String
    public var owner: String
    public var fence: Int64

    public init(jobID: String, owner: String, fence: Int64) {
        self.jobID = jobID
        self.owner = owner
        self.fence = fence
    }
}

/// Everything one change of a job writes, committed together with the job in one transaction.
public struct JobChange: Sendable {
    /// The job as it must be stored; its `version` is one more than the stored one.
    public var job: Job
    /// The vendor event that caused the change; when its dedupe key is already stored the whole change is dropped.
    public var event: ProviderEventRecord?
    public var results: [ItemResult]
    /// Drop every stored result of the job first (a migration: the new provider does every item again).
    public var replacesResults: Bool
    public var attempts: [ProviderAttemptRecord]
    /// Client webhooks the change causes: queued in the same transaction, once per delivery key.
    public var deliveries: [WebhookDelivery]
    /// The lease the change is made under, if any: the change is refused (`leaseLost`) unless it is still
    /// the job's current lease.
    public var lease: JobLease?

    public init(
        job: Job,
        event: ProviderEventRecord? = nil,
        results: [ItemResult] = [],
        replacesResults: Bool = false,
        attempts: [ProviderAttemptRecord] = [],
        deliveries: [WebhookDelivery] = [],
        lease: JobLease? = nil
    ) {
        self.job = job
        self.event = event
        self.results = results
        self.replacesResults = replacesResults
        self.attempts = attempts
        self.deliveries = deliveries
        self.lease = lease
    }
}

/// What happened to a `JobChange`.
public enum ChangeOutcome: Sendable, Equatable {
    case stored
    /// The event was a duplicate: nothing was written.
    case duplicateEvent
    /// The stored version was not `job.version - 1`: nothing was written; reload and retry.
    case conflict
    /// The change's lease was taken over by another replica: nothing was written; stop working the job.
    case leaseLost
}

/// How many jobs of one provider are in one lifecycle status.
public struct JobCount: Sendable, Hashable {
    public var lifecycle: LifecycleStatus
    public var provider: String
    public var count: Int

    public init(lifecycle: LifecycleStatus, provider: String, count: Int) {
        self.lifecycle = lifecycle
        self.provider = provider
        self.count = count
    }
}

/// One tenant's figures on the operator page: its active jobs per provider, and the state of its client
/// webhook outbox.
public struct TenantOverview: Sendable, Hashable {
    /// Pending or running jobs by provider name (providers without any are absent).
    public var activeJobs: [String: Int]
    /// Deliveries whose next attempt is due now.
    public var deliveriesDue: Int
    /// Deliveries waiting for a retry after a failed attempt.
    public var deliveriesRetrying: Int
    /// Deliveries given up (attempts exhausted, refused URL, 410).
    public var deliveriesFailed: Int

    public init(activeJobs: [String: Int] = [:], deliveriesDue: Int = 0, deliveriesRetrying: Int = 0, deliveriesFailed: Int = 0) {
        self.activeJobs = activeJobs
        self.deliveriesDue = deliveriesDue
        self.deliveriesRetrying = deliveriesRetrying
        self.deliveriesFailed = deliveriesFailed
    }
}

/// A filter for listing jobs, newest first.
public struct JobQuery: Sendable, Hashable {
    public var tenant: String
    public var lifecycle: LifecycleStatus?
    public var provider: String?
    public var route: String?
    public var limit: Int
    /// Only jobs listed after this job id (cursor).
    public var after: String?

    public init(
        tenant: String,
        lifecycle: LifecycleStatus? = nil,
        provider: String? = nil,
        route: String? = nil,
        limit: Int = 20,
        after: String? = nil
    ) {
        self.tenant = tenant
        self.lifecycle = lifecycle
        self.provider = provider
        self.route = route
        self.limit = limit
        self.after = after
    }
}

/// Durable storage of jobs, inputs, vendor events, provider attempts, idempotency keys, results, and
/// the outbox of client webhooks.
///
/// Every write is committed before it returns, so callers may acknowledge what it stored.
public protocol JobStore: WebhookOutbox {
    /// Stores a new job with its input and the webhooks its creation causes, or returns the job an
    /// idempotency key already names.
    func create(_ job: Job, input: JobInput, idempotency: IdempotencyRecord?, deliveries: [WebhookDelivery]) async throws -> CreateOutcome
    /// Stores one change of a job atomically (see `JobChange`).
    func apply(_ change: JobChange) async throws -> ChangeOutcome
    func job(id: String) async throws -> Job?
    func input(jobID: String) async throws -> JobInput?
    /// Jobs of one tenant, newest first.
    func jobs(_ query: JobQuery) async throws -> [Job]
    /// Every job that is not terminal: what the gateway resumes after a restart.
    func activeJobs() async throws -> [Job]
    /// Per-item results in index order, after the given index.
    func results(jobID: String, afterIndex: Int?, limit: Int) async throws -> [ItemResult]
    /// Stored vendor events of a job, oldest first.
    func events(jobID: String) async throws -> [ProviderEventRecord]
    /// Provider attempts of a job, oldest first.
    func attempts(jobID: String) async throws -> [ProviderAttemptRecord]
    /// How delivery of a job's webhooks is going, and its `recent` latest attempts, newest first.
    func webhookDelivery(jobID: String, recent: Int) async throws -> (summary: WebhookDeliverySummary, attempts: [DeliveryAttempt])
    /// Every delivery attempt of a job, newest first, after the attempt id `after`.
    func deliveryAttempts(jobID: String, after: String?, limit: Int) async throws -> [DeliveryAttempt]
    /// How many jobs each provider has in each lifecycle status (for metrics).
    func jobCounts() async throws -> [JobCount]
    /// Deliveries not finished yet, and when the earliest of those already due was due (for metrics).
    func outboxBacklog(now: Timestamp) async throws -> (pending: Int, oldestDue: Timestamp?)
    /// One tenant's active jobs per provider and the state of its deliveries (for the operator page).
    func tenantOverview(tenant: String, now: Timestamp) async throws -> TenantOverview

    // MARK: Replicas and leases

    /// The replica this store speaks for: the owner of the leases and delivery claims it takes.
    var owner: String { get }
    /// Marks this replica alive until `now + ttl` and returns the jobs it holds leases on. Leases and
    /// delivery claims of a replica whose heartbeat has expired are free for others to take.
    func heartbeat(now: Timestamp, ttl: Duration) async throws -> Set<String>
    /// Takes the lease on `jobID` for this replica: kept if it already holds it, taken (fence raised) if
    /// nobody does or its holder's heartbeat has expired; nil while another live replica holds it.
    func acquireLease(jobID: String, now: Timestamp) async throws -> JobLease?
    /// Gives up `lease` (a finished job, or shutting down); nothing happens if it is no longer held.
    func releaseLease(_ lease: JobLease) async throws
    /// Takes the leases of up to `limit` active jobs nobody alive holds (never taken, released, or their
    /// holder's heartbeat expired), in one step: replicas claiming at the same moment get disjoint jobs.
    /// Nothing while this replica's own heartbeat has lapsed.
    func claimUnleasedJobs(now: Timestamp, limit: Int) async throws -> [JobLease]
}

/// A change committed to a store that several replicas share, as every replica learns of it.
public enum StoreChange: Sendable, Hashable {
    /// Job `id` was stored at `version` (created at 1).
    case job(id: String, version: Int)
    /// The webhook delivery state of job `jobID` changed (an attempt was recorded).
    case deliveries(jobID: String)
    /// Job leases were given up: unleased jobs are there to claim.
    case leasesReleased
    /// Changes may have been missed (the listening connection was re-established): whatever a replica
    /// keeps of the store must be read again.
    case resync
}

/// A store shared by several replicas that tells each of them what any of them committed.
public protocol StoreChangeListener: Sendable {
    /// Calls `handle` with every change committed from now on, by any replica including this one, until
    /// the task is cancelled. Begins with `.resync` each time it (re)connects.
    func listenForChanges(_ handle: @escaping @Sendable (StoreChange) async -> Void) async throws
}
