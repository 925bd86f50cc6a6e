import BatchGateCore
import BatchGateTransport
import Foundation
import Synchronization
import Testing

/// What one connection to `GET /v1/batches/{id}/events` delivered.
struct ReceivedStream: Sendable {
    var status = 0
    var headers: [(name: String, value: String)] = []
    var items: [ServerSentEventItem] = []
    /// The raw body when the status was not 200.
    var body: [UInt8] = []
    /// The server ended the stream (as opposed to the reader stopping early).
    var ended = false

    var events: [ServerSentEvent] {
        items.compactMap { if case .event(let event) = $0 { return event } else { return nil } }
    }

    func header(_ name: String) -> String? {
        headers.first { $0.name.lowercased() == name.lowercased() }?.value
    }
}

extension GatewayHarness {
    /// Reads the events stream of batch `id` until the server ends it, `stop` returns true, or `timeout`
    /// passes (then `ended` is false).
    func readEvents(
        _ id: String,
        key: String? = nil,
        lastEventID: String? = nil,
        timeout: Duration = .seconds(20),
        using client: CurlHTTPClient? = nil,
        stop: @escaping @Sendable (ReceivedStream) -> Bool = { _ in false }
    ) async throws -> ReceivedStream {
        var headers: [(name: String, value: String)] = [("authorization", "Bearer \(key ?? apiKey)"), ("accept", "text/event-stream")]
        if let lastEventID { headers.append(("last-event-id", lastEventID)) }
        let request = HTTPRequest(url: baseURL + "/v1/batches/\(id)/events", headers: headers, timeout: timeout + .seconds(5))
        let client = client ?? transport
        let received = Locked(ReceivedStream())
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                try await client.stream(request) { parts in
                    var parser = ServerSentEventParser()
                    for try await part in parts {
                        let done = received.withLock { stream -> Bool in
                            switch part {
                            case .head(let status, let headers):
                                stream.status = status
                                stream.headers = headers
                            case .body(let bytes) where stream.status != 200:
                                stream.body += bytes
                            case .body(let bytes):
                                stream.items += parser.feed(bytes)
                            }
                            return stop(stream)
                        }
                        if done { return }
                    }
                    received.withLock { $0.ended = true }
                }
            }
            group.addTask { try await Task.sleep(for: timeout) }
            _ = try await group.next()
            group.cancelAll()
        }
        return received.withLock { $0 }
    }
}

/// A value shared between test tasks.
final class Locked<Value: Sendable>: Sendable {
    private let mutex: Mutex<Value>

    init(_ value: Value) { mutex = Mutex(value) }

    func withLock<R>(_ body: (inout Value) throws -> R) rethrows -> R {
        try mutex.withLock { try body(&$0) }
    }
}
