/// One event of a Server-Sent Events stream.
public struct ServerSentEvent: Sendable, Equatable {
    /// The `event:` field; `message` when the event has none.
    public var type: String
    /// The `data:` lines joined with newlines.
    public var data: String
    /// The last `id:` seen in the stream so far (it carries over to later events), or empty.
    public var lastEventID: String

    /// Creates an event.
    public init(type: String = "message", data: String, lastEventID: String = "") {
        self.type = type
        self.data = data
        self.lastEventID = lastEventID
    }
}

/// What a Server-Sent Events stream delivers: events, and comment lines (`: heartbeat`).
public enum ServerSentEventItem: Sendable, Equatable {
    /// A dispatched event.
    case event(ServerSentEvent)
    /// A comment line's text after the colon (one leading space removed).
    case comment(String)
}

/// Parses a `text/event-stream` body per the WHATWG HTML "Server-sent events" rules: lines end with
/// CRLF, LF or CR (also when split across chunks), a leading BOM is dropped, `data:` lines are joined
/// with newlines, a blank line dispatches (an event without data is dropped), `id:` persists (and is
/// ignored if it contains NUL), `retry:` takes only digits, unknown fields are ignored.
///
/// Pure and incremental: feed chunks as they arrive; an unterminated last line waits for more.
public struct ServerSentEventParser: Sendable {
    private var line: [UInt8] = []
    private var lastWasCR = false
    private var atStart = true
    private var data = ""
    private var hasData = false
    private var type = ""
    /// The last event id seen, which a client sends as `Last-Event-ID` when it reconnects.
    public private(set) var lastEventID = ""
    /// The reconnection time the server asked for with `retry:`, in milliseconds.
    public private(set) var retryMilliseconds: Int?

    /// Creates a parser at the start of a stream.
    public init() {}

    /// Consumes a chunk and returns the items it completes, in order.
    public mutating func feed(_ bytes: some Sequence<UInt8>) -> [ServerSentEventItem] {
        var items: [ServerSentEventItem] = []
        for byte in bytes {
            if lastWasCR {
                lastWasCR = false
                if byte == 0x0A { continue }
            }
            switch byte {
            case 0x0D:
                lastWasCR = true
                finishLine(into: &items)
            case 0x0A:
                finishLine(into: &items)
            default:
                line.append(byte)
            }
        }
        return items
    }

    private mutating func finishLine(into items: inout [ServerSentEventItem]) {
        var bytes = line[...]
        line.removeAll(keepingCapacity: true)
        if atStart {
            atStart = false
            if bytes.starts(with: [0xEF, 0xBB, 0xBF]) { bytes = bytes.dropFirst(3) }
        }
        if bytes.isEmpty {
            dispatch(into: &items)
            return
        }
        let text = String(decoding: bytes, as: UTF8.self)
        let field: Substring
        var value: Substring
        if let colon = text.firstIndex(of: ":") {
            field = text[..<colon]
            value = text[text.index(after: colon)...]
            if value.first == " " { value = value.dropFirst() }
        } else {
            field = text[...]
            value = ""
        }
        switch field {
        case "":
            items.append(.comment(String(value)))
        case "event":
            type = String(value)
        case "data":
            if hasData { data += "\n" }
            data += value
            hasData = true
        case "id":
            if !value.contains("\u{0}") { lastEventID = String(value) }
        case "retry":
            if !value.isEmpty, value.allSatisfy({ $0.isASCII && $0.isNumber }), let milliseconds = Int(value) {
                retryMilliseconds = milliseconds
            }
        default:
            break
        }
    }

    private mutating func dispatch(into items: inout [ServerSentEventItem]) {
        defer {
            data = ""
            hasData = false
            type = ""
        }
        guard hasData else { return }
        items.append(.event(ServerSentEvent(type: type.isEmpty ? "message" : type, data: data, lastEventID: lastEventID)))
    }
}
