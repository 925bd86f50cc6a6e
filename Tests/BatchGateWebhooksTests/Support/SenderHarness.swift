import BatchGateCore
import BatchGateTransport
import BatchGateWebhooks
import Hummingbird
import Logging
import ServiceLifecycle
import Synchronization
import Testing

struct TestFailure: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

let quietLogger = Logger(label: "batchgate.webhooks.tests", factory: { _ in SwiftLogNoOpLogHandler() })

/// Polls `condition` every few milliseconds until it holds; fails after `timeout`.
func waitUntil(
    timeout: Duration = .seconds(30),
    _ what: String,
    _ condition: () async -> Bool
) async throws {
    let deadline = ContinuousClock.now + timeout
    while !(await condition()) {
        guard ContinuousClock.now < deadline else { throw TestFailure("timed out waiting for \(what)") }
        try await Task.sleep(for: .milliseconds(5))
    }
}

/// A `WebhookOutbox` in memory with the claim semantics the store must have: a claim lasts until the
/// attempt is recorded or until its lease ends, whichever comes first (as `SQLiteJobStore` does).
actor InMemoryOutbox: WebhookOutbox {
    private(set) var deliveries: [String: WebhookDelivery] = [:]
    private(set) var finished: Set<String> = []
    /// Delivery id → the end of its claim's lease.
    private(set) var claimed: [String: Timestamp] = [:]
    private(set) var attempts: [DeliveryAttempt] = []
    private(set) var stoppedJobs: Set<String> = []
    private(set) var nextDueQueries = 0
    private(set) var claimCalls = 0
    /// The lease asked for by each claim call.
    private(set) var leases: [Duration] = []
    /// The latest `now` a claim call was made at.
    private(set) var lastClaimAt: Timestamp?
    /// Deliveries handed out again because their lease ended before the attempt was recorded.
    private(set) var reclaimed: [String] = []

    func add(_ delivery: WebhookDelivery) {
        deliveries[delivery.id] = delivery
    }

    func claimDue(now: Timestamp, limit: Int, lease: Duration) async throws -> [WebhookDelivery] {
        claimCalls += 1
        leases.append(lease)
        lastClaimAt = now
        let due = deliveries.values
            .filter { !finished.contains($0.id) && !isClaimed($0.id, at: now) && $0.nextAttemptAt <= now }
            .sorted { ($0.nextAttemptAt, $0.id) < ($1.nextAttemptAt, $1.id) }
            .prefix(limit)
        for delivery in due {
            if claimed[delivery.id] != nil { reclaimed.append(delivery.id) }
            claimed[delivery.id] = now.adding(lease)
        }
        return Array(due)
    }

    private func isClaimed(_ id: String, at now: Timestamp) -> Bool {
        claimed[id].map { now < $0 } ?? false
    }

    func record(_ attempt: DeliveryAttempt, for delivery: WebhookDelivery) async throws {
        if claimed[delivery.id] == nil {
            Issue.record("recorded an attempt of \(delivery.id), which is not claimed (its lease ended or another attempt was recorded first)")
        }
        claimed[delivery.id] = nil
        attempts.append(attempt)
        var updated = delivery
        updated.attempt = attempt.attemptNumber
        if let next = attempt.nextRetryAt { updated.nextAttemptAt = next }
        deliveries[delivery.id] = updated
        if attempt.outcome.isFinal { finished.insert(delivery.id) }
        if attempt.stopsSubscription { stoppedJobs.insert(delivery.jobID) }
    }

    func nextDueTime(now: Timestamp) async throws -> Timestamp? {
        nextDueQueries += 1
        return deliveries.values
            .filter { !finished.contains($0.id) }
            .map { delivery in claimed[delivery.id].map { max($0, delivery.nextAttemptAt) } ?? delivery.nextAttemptAt }
            .min()
    }

    func attempts(of deliveryID: String) -> [DeliveryAttempt] {
        attempts.filter { $0.deliveryID == deliveryID }
    }

    func isFinished(_ deliveryID: String) -> Bool { finished.contains(deliveryID) }
}

/// What the receiver answers to one request.
struct Reply: Sendable {
    var status: Int = 200
    var retryAfter: String? = nil
    var body: String = "ok"
    /// Hold the request this long before answering.
    var delay: Duration = .zero
    /// Hold the request until the test releases the receiver (at most 10 s).
    var hang = false
}

/// One request the receiver saw.
struct ReceivedRequest: Sendable {
    var headers: [(name: String, value: String)]
    var body: [UInt8]
    var at: ContinuousClock.Instant

    func header(_ name: String) -> String? {
        headers.first { $0.name.lowercased() == name }?.value
    }
}

/// A loopback Hummingbird receiver answering `POST /hook` from a script indexed by request number.
final class Receiver: Sendable {
    private let script: @Sendable (Int) -> Reply
    private let state = Mutex<(requests: [ReceivedRequest], inFlight: Int, maxInFlight: Int)>(([], 0, 0))
    private let released = Atomic<Bool>(false)

    init(_ script: @escaping @Sendable (Int) -> Reply) {
        self.script = script
    }

    var requests: [ReceivedRequest] { state.withLock { $0.requests } }
    var maxInFlight: Int { state.withLock { $0.maxInFlight } }

    /// Lets every hanging request answer.
    func release() { released.store(true, ordering: .releasing) }

    func handle(_ request: Request) async throws -> Response {
        let body = try await request.body.collect(upTo: 1 << 20)
        var headers: [(name: String, value: String)] = []
        for field in request.headers { headers.append((field.name.canonicalName, field.value)) }
        let received = ReceivedRequest(headers: headers, body: Array(buffer: body), at: .now)
        let index = state.withLock { state -> Int in
            state.requests.append(received)
            state.inFlight += 1
            state.maxInFlight = max(state.maxInFlight, state.inFlight)
            return state.requests.count - 1
        }
        defer { state.withLock { $0.inFlight -= 1 } }
        let reply = script(index)
        if reply.delay > .zero { try? await Task.sleep(for: reply.delay) }
        if reply.hang {
            let deadline = ContinuousClock.now + .seconds(10)
            while !released.load(ordering: .acquiring), ContinuousClock.now < deadline {
                try? await Task.sleep(for: .milliseconds(10))
            }
        }
        var fields = HTTPFields()
        fields[.contentType] = "text/plain"
        if let retryAfter = reply.retryAfter { fields[.retryAfter] = retryAfter }
        return Response(
            status: .init(code: reply.status),
            headers: fields,
            body: ResponseBody(byteBuffer: ByteBuffer(string: reply.body))
        )
    }
}

/// Runs a receiver on 127.0.0.1 with an OS-chosen port for the duration of `body`, then stops it.
func withReceiver<R: Sendable>(
    _ receiver: Receiver,
    _ body: @Sendable (_ hookURL: String) async throws -> R
) async throws -> R {
    let router = Router()
    router.post("hook") { request, _ in try await receiver.handle(request) }
    let (ports, portContinuation) = AsyncStream.makeStream(of: Int.self)
    let app = Application(
        router: router,
        configuration: .init(address: .hostname("127.0.0.1", port: 0)),
        onServerRunning: { channel in
            portContinuation.yield(channel.localAddress?.port ?? 0)
            portContinuation.finish()
        },
        logger: quietLogger
    )
    // Stopped gracefully, never cancelled: cancelling a NIO server that holds an accepted, unserved
    // connection traps in NIO.
    let services = ServiceGroup(services: [app], logger: quietLogger)
    return try await withThrowingTaskGroup(of: Void.self) { group in
        group.addTask {
            defer { portContinuation.finish() }
            try await services.run()
        }
        var iterator = ports.makeAsyncIterator()
        guard let port = await iterator.next(), port > 0 else {
            await services.triggerGracefulShutdown()
            throw TestFailure("the receiver did not start")
        }
        let result: Result<R, any Error>
        do {
            result = .success(try await body("http://127.0.0.1:\(port)/hook"))
        } catch {
            result = .failure(error)
        }
        receiver.release()
        await services.triggerGracefulShutdown()
        try? await group.waitForAll()
        return try result.get()
    }
}

/// Runs a sender in a `ServiceGroup` during `body`, then shuts it down gracefully and waits for it.
///
/// `now` is the sender's wall clock (real time unless a test moves it); `allowRemoteAddress` is the
/// transport's filter of connected addresses.
func withSender<R: Sendable>(
    outbox: InMemoryOutbox,
    configuration: WebhookSenderConfiguration,
    policy: WebhookURLPolicy = WebhookURLPolicy(allowInsecureLoopback: true),
    now: @escaping @Sendable () -> Timestamp = { Timestamp.now() },
    allowRemoteAddress: (@Sendable (String) -> Bool)? = nil,
    _ body: @Sendable (WebhookSender<ContinuousClock>) async throws -> R
) async throws -> R {
    let client = try CurlHTTPClient(
        configuration: .init(connectTimeout: .seconds(2), allowRemoteAddress: allowRemoteAddress),
        logger: quietLogger
    )
    defer { client.shutdown() }
    let sender = WebhookSender(
        outbox: outbox,
        transport: client,
        policy: policy,
        configuration: configuration,
        clock: ContinuousClock(),
        now: now,
        logger: quietLogger
    )
    let services = ServiceGroup(services: [sender], logger: quietLogger)
    return try await withThrowingTaskGroup(of: Void.self) { group in
        group.addTask { try await services.run() }
        do {
            let result = try await body(sender)
            await services.triggerGracefulShutdown()
            try await group.waitForAll()
            return result
        } catch {
            group.cancelAll()
            throw error
        }
    }
}

/// A wall clock that stands still until the test moves it.
final class ManualWallClock: Sendable {
    private let current: Mutex<Timestamp>

    init(_ start: Timestamp) { current = Mutex(start) }

    var now: Timestamp { current.withLock { $0 } }

    func advance(by duration: Duration) { current.withLock { $0 = $0.adding(duration) } }

    func set(_ time: Timestamp) { current.withLock { $0 = time } }
}

/// A delivery of a small JSON event to `url`.
func makeDelivery(
    url: String,
    secret: WebhookSecret? = WebhookSecret.generate(),
    maxAttempts: Int = 5,
    due: Timestamp = .now(),
    key: String = "batch.completed"
) -> WebhookDelivery {
    let eventID = Identifier.make(prefix: "evt")
    let jobID = Identifier.make(prefix: "bat")
    let data = Array(#"{"id":"\#(jobID)","object":"batch","lifecycle_status":"completed","metadata":{"note":"caf\#u{e9}"}}"#.utf8)
    return WebhookDelivery(
        id: Identifier.make(prefix: "dlv"),
        jobID: jobID,
        tenant: "acme",
        deliveryKey: key,
        eventType: "batch.completed",
        eventID: eventID,
        createdAt: Timestamp(milliseconds: 1_767_225_600_123),
        url: url,
        secret: secret?.encoded,
        data: data,
        attempt: 0,
        maxAttempts: maxAttempts,
        nextAttemptAt: due
    )
}

/// Fast settings: tiny backoff without jitter, short timeout.
func fastConfiguration(
    timeout: Duration = .seconds(10),
    initialBackoff: Duration = .milliseconds(20),
    maxBackoff: Duration = .milliseconds(200),
    concurrency: Int = 8
) -> WebhookSenderConfiguration {
    var configuration = WebhookSenderConfiguration()
    configuration.timeout = timeout
    configuration.initialBackoff = initialBackoff
    configuration.maxBackoff = maxBackoff
    configuration.jitter = .none
    configuration.concurrency = concurrency
    configuration.maxIdleInterval = .seconds(30)
    return configuration
}
