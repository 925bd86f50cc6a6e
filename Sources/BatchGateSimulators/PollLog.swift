public import BatchGateCore
import Hummingbird
import Synchronization

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// When a simulator's status route was asked about each batch: the polls a gateway makes, as the vendor
/// sees them. Load tests read it from `GET /simulator/polls` to tell how late polls come.
public final class PollLog: Sendable {
    /// Times kept per batch; the older half is dropped when a batch reaches it.
    public static let capacityPerBatch = 1_024

    private let times = Mutex<[String: [Int64]]>([:])

    /// An empty log.
    public init() {}

    /// Notes a status request about `batchID` made at `time`.
    public func record(_ batchID: String, at time: Timestamp = .now()) {
        times.withLock { times in
            times[batchID, default: []].append(time.milliseconds)
            if let count = times[batchID]?.count, count > Self.capacityPerBatch {
                times[batchID]?.removeFirst(count / 2)
            }
        }
    }

    /// The request times per batch id, in milliseconds since the Unix epoch, oldest first.
    public func timesByBatch() -> [String: [Int64]] {
        times.withLock { $0 }
    }

    /// `{"batches": {"<batch id>": [<ms>, ...]}, "requests": <total>}`.
    func response() -> Response {
        let snapshot = timesByBatch()
        let body = PollLogBody(batches: snapshot, requests: snapshot.values.reduce(0) { $0 + $1.count })
        let bytes = (try? Array(JSONEncoder().encode(body))) ?? Array("{}".utf8)
        return Response(status: .ok, headers: [.contentType: "application/json"], body: ResponseBody(byteBuffer: ByteBuffer(bytes: bytes)))
    }

    /// The route that serves the log.
    static let path = "/simulator/polls"
}

private struct PollLogBody: Encodable {
    var batches: [String: [Int64]]
    var requests: Int
}
