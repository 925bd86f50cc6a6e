/// An outgoing HTTP request to a vendor or a webhook receiver.
public struct HTTPRequest: Sendable {
    public var method: String
    public var url: String
    /// Header name/value pairs, sent in order.
    public var headers: [(name: String, value: String)]
    public var body: [UInt8]?
    /// The whole exchange (connect, send, receive) must finish within this.
    public var timeout: Duration

    public init(
        method: String = "GET",
        url: String,
        headers: [(name: String, value: String)] = [],
        body: [UInt8]? = nil,
        timeout: Duration = .seconds(30)
    ) {
        self.method = method
        self.url = url
        self.headers = headers
        self.body = body
        self.timeout = timeout
    }
}

/// A complete response.
public struct HTTPResponse: Sendable {
    public var status: Int
    /// Header name/value pairs as received (names in their original case).
    public var headers: [(name: String, value: String)]
    public var body: [UInt8]

    public init(status: Int, headers: [(name: String, value: String)] = [], body: [UInt8] = []) {
        self.status = status
        self.headers = headers
        self.body = body
    }

    /// The first value of a header, matched case-insensitively.
    public func header(_ name: String) -> String? {
        let lowered = name.lowercased()
        return headers.first { $0.name.lowercased() == lowered }?.value
    }
}

/// Why a request got no response.
public struct TransportError: Error, Sendable, Hashable, CustomStringConvertible {
    public enum Code: String, Sendable, Hashable {
        case timeout
        case cancelled
        /// DNS, refused, reset, closed mid-response, TLS.
        case connection
        case invalidRequest = "invalid_request"
    }

    public var code: Code
    public var message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { "\(code.rawValue): \(message)" }
}

/// Sends HTTP requests. The gateway's implementation drives libcurl; tests may use any other.
public protocol HTTPTransport: Sendable {
    /// Sends the request and returns the whole response. Throws `TransportError` when there is none;
    /// task cancellation aborts the transfer and throws `.cancelled`.
    func send(_ request: HTTPRequest) async throws(TransportError) -> HTTPResponse
}
