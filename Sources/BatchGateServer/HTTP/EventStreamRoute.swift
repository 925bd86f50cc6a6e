import BatchGateCore
import HTTPTypes
import Hummingbird
import NIOCore
import ServiceLifecycle
import Synchronization

/// `GET /v1/batches/{id}/events`: the batch object as Server-Sent Events.
///
/// One `batch` event per change of the batch object (`id:` is the job's version, `data:` the same bytes
/// as `GET /v1/batches/{id}` at that version), the current state first, a `: heartbeat` comment every
/// ``heartbeat``, and the end of the stream after the event of a terminal status. A version whose
/// rendering equals the last event sent (a change to internal state only, such as a submit retry
/// count) is not sent: no two events in a row carry the same data. A `Last-Event-ID` header (a version
/// number) skips every version up to and including it; anything else there is refused with a 400. A
/// slow client skips intermediate versions (each event is the whole object, so the newest supersedes
/// the rest); it never holds up the engine. Open streams end when the server shuts down gracefully.
struct EventStreamRoute: Sendable {
    /// The heartbeat period of streams served by routes registered in this task (tests shorten it).
    @TaskLocal static var defaultHeartbeat: Duration = .seconds(15)

    let reads: BatchReads
    var heartbeat: Duration = EventStreamRoute.defaultHeartbeat

    func register(on group: RouterGroup<GatewayRequestContext>) {
        group.get(":id/events") { request, context in try await stream(request, context) }
    }

    private enum Wake: Sendable {
        case changed
        case heartbeat
    }

    private func stream(_ request: Request, _ context: GatewayRequestContext) async throws -> Response {
        let id = try context.parameters.require("id")
        let tenant = try context.requireTenant()
        _ = try QueryParameters(request, allowed: [])
        let lastEventID = try Self.lastEventID(request.headers[values: HTTPField.Name("Last-Event-ID")!])
        let found = try await reads.job(id, tenant: tenant)
        // Subscribed before reading the current state again, so no version stored in between is missed.
        let changes = reads.changes(id)
        let current = reads.newest(found)
        let reads = reads
        let heartbeat = heartbeat
        let body = ResponseBody { writer in
            let newest = NewestJob(current)
            let (wakes, wake) = AsyncStream.makeStream(of: Wake.self, bufferingPolicy: .bufferingNewest(1))
            wake.yield(.changed)
            try await withGracefulShutdownHandler {
                try await withThrowingTaskGroup(of: Void.self) { group in
                    group.addTask {
                        for await job in changes {
                            newest.offer(job)
                            wake.yield(.changed)
                        }
                        wake.finish()
                    }
                    group.addTask {
                        while !Task.isCancelled {
                            try await Task.sleep(for: heartbeat)
                            wake.yield(.heartbeat)
                        }
                    }
                    // An id from the future (another server, a bogus header) resends the current state.
                    var sent = lastEventID.map { $0 <= current.version ? $0 : 0 } ?? 0
                    var lastData: ByteBuffer?
                    for await reason in wakes {
                        if let job = newest.take(newerThan: sent) {
                            let data = try await reads.rendered(job)
                            sent = job.version
                            // Equal data means the previous event already showed this state (terminal included).
                            if data != lastData {
                                try await writer.write(Self.event(id: job.version, data: data))
                                lastData = data
                            }
                            if !job.isActive { break }
                        } else if reason == .heartbeat {
                            try await writer.write(ByteBuffer(string: ": heartbeat\n\n"))
                        } else if current.version <= sent && !current.isActive {
                            // The client already has the terminal version.
                            break
                        }
                    }
                    group.cancelAll()
                }
            } onGracefulShutdown: {
                wake.finish()
            }
            try await writer.finish(nil)
        }
        return Response(
            status: .ok,
            headers: [.contentType: "text/event-stream", .cacheControl: "no-cache"],
            body: body
        )
    }

    /// The `Last-Event-ID` header from its values: absent or empty (no resume), or one version number.
    static func lastEventID(_ values: [String]) throws(GatewayError) -> Int? {
        guard let text = values.first else { return nil }
        guard values.count == 1 else { throw .invalid("Last-Event-ID", "Send one Last-Event-ID header, not \(values.count).") }
        if text.isEmpty { return nil }
        guard text.utf8.count <= 18, text.utf8.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }), let version = Int(text) else {
            throw .invalid(
                "Last-Event-ID",
                "Last-Event-ID must be the id of an event this stream sent (a version number), not '\(QueryParameters.shown(text))'."
            )
        }
        return version
    }

    /// One `batch` event; `data` is split into one `data:` line per line, so a client joining them
    /// with newlines gets the bytes back.
    static func event(id: Int, data: ByteBuffer) -> ByteBuffer {
        var buffer = ByteBuffer()
        buffer.reserveCapacity(data.readableBytes + 64)
        buffer.writeString("event: batch\nid: \(id)\n")
        let bytes = data.readableBytesView
        var start = bytes.startIndex
        while true {
            let end = bytes[start...].firstIndex(of: UInt8(ascii: "\n")) ?? bytes.endIndex
            buffer.writeString("data: ")
            buffer.writeBytes(bytes[start..<end])
            buffer.writeString("\n")
            guard end < bytes.endIndex else { break }
            start = bytes.index(after: end)
        }
        buffer.writeString("\n")
        return buffer
    }
}

/// The newest version of a job a stream has not sent yet: at most one, whatever the client's pace.
private final class NewestJob: Sendable {
    private let job: Mutex<Job?>

    init(_ job: Job) { self.job = Mutex(job) }

    /// Keeps `job` unless a newer version is already waiting.
    func offer(_ job: Job) {
        self.job.withLock { stored in
            if stored.map({ $0.version < job.version }) ?? true { stored = job }
        }
    }

    /// The waiting version if it is newer than `version`, taking it out.
    func take(newerThan version: Int) -> Job? {
        job.withLock { stored in
            guard let job = stored, job.version > version else { return nil }
            stored = nil
            return job
        }
    }
}
