import BatchGateCore
import HTTPTypes
import Hummingbird
import HummingbirdCore
import HummingbirdWebSocket
import NIOWebSocket
import ServiceLifecycle
import Synchronization

extension TaggerSimulator {
    /// What a new socket is to do, decided under the lock in one step with its subscription, so no
    /// message falls between the catchup and the live stream.
    enum SocketPlan: Sendable {
        /// Send the error JSON, then close with 1008.
        case refuse(String)
        /// Send nothing and wait for the client to leave.
        case stall
        /// Send these messages, then close normally: the job had ended.
        case replay([String])
        /// Send the catchup, then whatever the stream brings.
        case follow(catchup: String, subscriber: Int, stream: AsyncStream<Outbound>, dropAfter: Int?)

        var sends: Bool {
            switch self {
            case .refuse, .replay, .follow: true
            case .stall: false
            }
        }
    }

    /// One socket, from upgrade to close. The sender and a reader of the client's frames run side by side.
    ///
    /// The socket always ends with the close frame written before the reader is cancelled: cancelling a
    /// read of the inbound stream closes the connection, and a close frame written after that is lost.
    /// When the job ends the sender closes normally and the reader ends with the client's answer; on a
    /// graceful shutdown the WebSocket library sends the normal close itself. A client that does not
    /// answer a close within `closeGrace` is cut off.
    func serveSocket(
        inbound: WebSocketInboundStream,
        outbound: WebSocketOutboundWriter,
        context: WebSocketRouterContext<TaggerRequestContext>
    ) async throws {
        let jobID = context.requestContext.parameters.get("job_id") ?? ""
        let request = context.request
        let bearer = request.headers[.authorization].flatMap { $0.hasPrefix("Bearer ") ? String($0.dropFirst(7)) : nil }
        let token = request.uri.queryParameters.get("token") ?? bearer
        let plan = connect(jobID: jobID, token: token)
        defer {
            if case .refuse = plan {} else { disconnect(jobID: jobID, plan: plan) }
        }
        if configuration.firstMessageDelay > .zero { try await Task.sleep(for: configuration.firstMessageDelay) }
        if case .refuse(let error) = plan {
            try await outbound.writeTextMessage(error)
            try await outbound.close(.policyViolation, reason: nil)
            return
        }
        let dropConnection = context.requestContext.dropConnection
        let drop: @Sendable () -> Void = {
            self.state.withLock { $0.jobs[jobID]?.socketsDropped += 1 }
            dropConnection()
        }
        do {
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await Self.drain(inbound) }
                group.addTask {
                    try await gracefulShutdown()
                    try await Task.sleep(for: Self.closeGrace)
                }
                // A stalled socket sends nothing: it stays open until the client leaves or the shutdown.
                if plan.sends { group.addTask { try await Self.send(plan, to: outbound, drop: drop) } }
                try await group.next()
                group.cancelAll()
            }
        } catch is CancellationError {}
    }

    /// How long a client has to answer a close frame before its connection is cut.
    static let closeGrace: Duration = .seconds(2)

    /// Sends what a replaying or following socket is to send, then closes normally and gives the client
    /// `closeGrace` to answer; returns at once after dropping the connection.
    private static func send(
        _ plan: SocketPlan,
        to outbound: WebSocketOutboundWriter,
        drop: @escaping @Sendable () -> Void
    ) async throws {
        switch plan {
        case .refuse, .stall:
            return
        case .replay(let messages):
            for message in messages { try await outbound.writeTextMessage(message) }
        case .follow(let catchup, _, let stream, let dropAfter):
            if try await send(catchup: catchup, stream: stream, to: outbound, dropAfter: dropAfter, drop: drop) { return }
        }
        try await outbound.close(.normalClosure, reason: nil)
        try await Task.sleep(for: closeGrace)
    }

    /// Sends the catchup, then what the stream brings until the job ends; with `dropAfter`, drops the
    /// connection after that many progress messages.
    private static func send(
        catchup: String,
        stream: AsyncStream<Outbound>,
        to outbound: WebSocketOutboundWriter,
        dropAfter: Int?,
        drop: @Sendable () -> Void
    ) async throws -> Bool {
        try await outbound.writeTextMessage(catchup)
        if dropAfter == 0 {
            drop()
            return true
        }
        var progressSent = 0
        for await item in stream {
            switch item {
            case .text(let text, let progress):
                try await outbound.writeTextMessage(text)
                guard progress, let dropAfter else { continue }
                progressSent += 1
                if progressSent >= dropAfter {
                    drop()
                    return true
                }
            case .finish:
                return false
            }
        }
        return false
    }

    /// Reads the client's frames until it closes or goes away; the service ignores what clients send.
    private static func drain(_ inbound: WebSocketInboundStream) async throws {
        for try await _ in inbound {}
    }

    private func connect(jobID: String, token: String?) -> SocketPlan {
        let now = ContinuousClock.now
        return state.withLock { state -> SocketPlan in
            state.requestCounts[Route.webSocket, default: 0] += 1
            state.jobs[jobID]?.socketsOpened += 1
            if state.faults.rejectToken || token != configuration.token {
                return .refuse(Self.encode(["error": "Authentication required", "job_id": .string(jobID)]))
            }
            // An unknown job is refused like a bad token, with 1008 (policy violation): it is the client's
            // mistake, and 1011 (internal error) would invite a retry that cannot succeed.
            guard var record = state.jobs[jobID] else {
                return .refuse(Self.encode(["error": "Job not found", "job_id": .string(jobID)]))
            }
            if record.openSockets > 0 { record.overlappingSockets += 1 }
            record.openSockets += 1
            defer { state.jobs[jobID] = record }
            if state.faults.stallSockets > 0 {
                state.faults.stallSockets -= 1
                return .stall
            }
            var snapshot = record.job.catchup
            if state.faults.shortCatchups > 0, case .array(let rows)? = snapshot["results"], !rows.isEmpty,
                case .object(var fields) = snapshot
            {
                state.faults.shortCatchups -= 1
                fields["results"] = .array(Array(rows.dropLast(max(0, state.faults.shortCatchupRows))))
                snapshot = .object(fields)
            }
            let catchup = Self.encode(snapshot)
            if let final = record.job.finalMessage(live: false) {
                return .replay([catchup, Self.encode(final)])
            }
            var dropAfter: Int?
            if state.faults.dropSockets > 0 {
                state.faults.dropSockets -= 1
                dropAfter = max(0, state.faults.dropAfterMessages)
            }
            let (stream, continuation) = AsyncStream.makeStream(of: Outbound.self)
            let id = state.nextSubscriber
            state.nextSubscriber += 1
            record.subscribers[id] = Subscriber(continuation: continuation, lastSent: now)
            return .follow(catchup: catchup, subscriber: id, stream: stream, dropAfter: dropAfter)
        }
    }

    private func disconnect(jobID: String, plan: SocketPlan) {
        let continuation = state.withLock { state -> AsyncStream<Outbound>.Continuation? in
            state.jobs[jobID]?.openSockets -= 1
            guard case .follow(_, let id, _, _) = plan else { return nil }
            return state.jobs[jobID]?.subscribers.removeValue(forKey: id)?.continuation
        }
        continuation?.finish()
    }
}
