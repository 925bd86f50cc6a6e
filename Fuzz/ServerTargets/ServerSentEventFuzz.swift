import BatchGateFuzzTargets
import BatchGateTransport

/// The `text/event-stream` parser `batchgate watch` reads the events stream with. The stream is fed
/// whole, then again in chunks whose sizes come from the input; both must give the same events, the
/// same last event id and the same retry (a line ending may be split across reads).
enum ServerSentEventFuzz {
    static let entry = FuzzEntry(
        name: "sse",
        summary: "ServerSentEventParser, fed whole and in input-chosen chunks, which must agree",
        steps: ["event", "comment"],
        run: run
    )

    static func run(_ body: [UInt8]) async -> Set<String> {
        var whole = ServerSentEventParser()
        let wholeItems = whole.feed(body)
        var chunked = ServerSentEventParser()
        var chunkedItems: [ServerSentEventItem] = []
        var offset = 0
        var step = 0
        while offset < body.count {
            let size = 1 + Int(body[step % body.count] % 16)
            let end = min(body.count, offset + size)
            chunkedItems += chunked.feed(body[offset..<end])
            offset = end
            step += 1
        }
        FuzzInvariant.require(wholeItems == chunkedItems, "chunking does not change the events parsed")
        FuzzInvariant.require(whole.lastEventID == chunked.lastEventID, "chunking does not change the last event id")
        FuzzInvariant.require(whole.retryMilliseconds == chunked.retryMilliseconds, "chunking does not change the retry")
        if let retry = whole.retryMilliseconds { FuzzInvariant.require(retry >= 0, "retry is not negative") }
        var accepted: Set<String> = []
        for item in wholeItems {
            switch item {
            case .event: accepted.insert("event")
            case .comment: accepted.insert("comment")
            }
        }
        return accepted
    }
}
