import BatchGateCore

/// A request checked on the caller's thread and ready to hand to the event thread.
///
/// Validation happens here so that bad input fails before any libcurl work, with a message that
/// names the offending part (a header by name, never by value).
struct PreparedRequest: Sendable {
    /// Upper-case method token as given.
    var method: String
    var url: String
    /// `Name: value` lines, plus the lines that switch off libcurl's own defaults.
    var headerLines: [String]
    var body: [UInt8]?
    var timeoutMilliseconds: Int
    /// `scheme://host:port` of the URL, without credentials, path or query: safe for messages.
    var origin: String

    init(_ request: HTTPRequest) throws(TransportError) {
        guard let origin = Self.origin(of: request.url) else {
            throw TransportError(
                .invalidRequest,
                "url must be an absolute http:// or https:// URL with a host"
            )
        }
        guard Self.isToken(request.method) else {
            throw TransportError(.invalidRequest, "method \"\(request.method)\" is not a valid HTTP method token")
        }
        guard !request.url.utf8.contains(where: { $0 <= 0x20 || $0 == 0x7F }) else {
            throw TransportError(.invalidRequest, "url for \(origin) contains spaces or control characters")
        }
        var body = request.body
        switch request.method {
        case "HEAD":
            guard body == nil else { throw TransportError(.invalidRequest, "a HEAD request cannot have a body") }
        case "POST", "PUT", "PATCH":
            // Sent with `Content-Length: 0` rather than without a length, which some servers refuse.
            if body == nil { body = [] }
        default:
            break
        }
        let timeout = Self.milliseconds(request.timeout)
        guard timeout > 0 else {
            throw TransportError(.invalidRequest, "timeout must be at least 1 ms (got \(request.timeout))")
        }

        var lines: [String] = []
        lines.reserveCapacity(request.headers.count + 2)
        var hasContentType = false
        var hasExpect = false
        for (index, header) in request.headers.enumerated() {
            guard Self.isToken(header.name) else {
                throw TransportError(
                    .invalidRequest,
                    "header #\(index) has an invalid name (must be a non-empty HTTP token)"
                )
            }
            guard Self.isValidHeaderValue(header.value) else {
                throw TransportError(
                    .invalidRequest,
                    "header \"\(header.name)\" has a value containing CR, LF or NUL"
                )
            }
            let lowered = header.name.lowercased()
            if lowered == "content-type" { hasContentType = true }
            if lowered == "expect" { hasExpect = true }
            let value = Self.trimmingWhitespace(header.value)
            // libcurl removes a header given as `Name:`; `Name;` sends it with an empty value.
            lines.append(value.isEmpty ? "\(header.name);" : "\(header.name): \(value)")
        }
        // libcurl would otherwise add `Expect: 100-continue` to larger bodies (a one-second stall
        // against servers that ignore it) and a form Content-Type to every POST.
        if !hasExpect { lines.append("Expect:") }
        if !hasContentType && body != nil { lines.append("Content-Type:") }

        self.method = request.method
        self.url = request.url
        self.headerLines = lines
        self.body = body
        self.timeoutMilliseconds = timeout
        self.origin = origin
    }

    /// Longest duration handed to libcurl: about 31 years, far beyond any real timeout.
    static let maximumMilliseconds = 1_000_000_000_000

    /// Whole milliseconds of a duration, capped at ``maximumMilliseconds`` (no overflow on huge
    /// values); zero or negative for non-positive durations.
    static func milliseconds(_ duration: Duration) -> Int {
        let (seconds, attoseconds) = duration.components
        guard seconds < Int64(maximumMilliseconds / 1000) else { return maximumMilliseconds }
        guard seconds > -Int64(maximumMilliseconds / 1000) else { return -maximumMilliseconds }
        return Int(seconds * 1000 + attoseconds / 1_000_000_000_000_000)
    }

    /// `scheme://host[:port]` of an absolute http(s) URL with credentials removed, or nil when the
    /// URL is not one.
    static func origin(of url: String) -> String? {
        let bytes = Array(url.utf8)
        let scheme: String
        let rest: ArraySlice<UInt8>
        if hasPrefix(bytes, "http://") {
            scheme = "http"
            rest = bytes[7...]
        } else if hasPrefix(bytes, "https://") {
            scheme = "https"
            rest = bytes[8...]
        } else {
            return nil
        }
        let authorityEnd = rest.firstIndex(where: { $0 == UInt8(ascii: "/") || $0 == UInt8(ascii: "?") || $0 == UInt8(ascii: "#") }) ?? rest.endIndex
        var authority = rest[rest.startIndex..<authorityEnd]
        if let at = authority.lastIndex(of: UInt8(ascii: "@")) {
            authority = authority[(at + 1)...]
        }
        guard !authority.isEmpty, authority.first != UInt8(ascii: ":") else { return nil }
        return "\(scheme)://\(String(decoding: authority, as: UTF8.self))"
    }

    private static func hasPrefix(_ bytes: [UInt8], _ prefix: String) -> Bool {
        let prefixBytes = Array(prefix.utf8)
        guard bytes.count >= prefixBytes.count else { return false }
        for (byte, expected) in zip(bytes, prefixBytes) {
            // ASCII case-insensitive: schemes are case-insensitive.
            let lowered = (byte >= 0x41 && byte <= 0x5A) ? byte | 0x20 : byte
            if lowered != expected { return false }
        }
        return true
    }

    /// An RFC 9110 token: one or more of `!#$%&'*+-.^_`|~`, digits and letters.
    static func isToken(_ text: String) -> Bool {
        guard !text.isEmpty else { return false }
        return text.utf8.allSatisfy { byte in
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                UInt8(ascii: "0")...UInt8(ascii: "9"):
                return true
            case UInt8(ascii: "!"), UInt8(ascii: "#"), UInt8(ascii: "$"), UInt8(ascii: "%"), UInt8(ascii: "&"),
                UInt8(ascii: "'"), UInt8(ascii: "*"), UInt8(ascii: "+"), UInt8(ascii: "-"), UInt8(ascii: "."),
                UInt8(ascii: "^"), UInt8(ascii: "_"), UInt8(ascii: "`"), UInt8(ascii: "|"), UInt8(ascii: "~"):
                return true
            default:
                return false
            }
        }
    }

    /// A header value must not carry CR, LF or NUL, which would split or truncate the header line.
    static func isValidHeaderValue(_ text: String) -> Bool {
        !text.utf8.contains { $0 == 0x0D || $0 == 0x0A || $0 == 0x00 }
    }

    private static func trimmingWhitespace(_ text: String) -> String {
        let bytes = Array(text.utf8)
        guard let first = bytes.firstIndex(where: { $0 != 0x20 && $0 != 0x09 }),
            let last = bytes.lastIndex(where: { $0 != 0x20 && $0 != 0x09 })
        else { return "" }
        if first == 0 && last == bytes.count - 1 { return text }
        return String(decoding: bytes[first...last], as: UTF8.self)
    }
}
