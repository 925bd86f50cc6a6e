/// Checks of the URLs `providers.yaml` holds, without resolving anything.
enum URLText {
    /// Why a text is not an acceptable URL.
    struct Problem: Error, Hashable, Sendable {
        var message: String
        /// The text holds credentials, so it must not be printed.
        var revealsSecret: Bool = false
    }

    /// An absolute `http`/`https` URL with a host, an optional port and path, and no credentials, query or
    /// fragment. Returns it with trailing slashes removed.
    static func httpURL(_ text: String) -> Result<String, Problem> {
        let expected = "expected an http or https URL like https://api.example.com"
        guard let separator = text.firstRange(of: "://") else { return .failure(Problem(message: expected)) }
        let scheme = text[..<separator.lowerBound].lowercased()
        guard scheme == "http" || scheme == "https" else { return .failure(Problem(message: expected)) }
        let rest = text[separator.upperBound...]
        let authorityEnd = rest.firstIndex { $0 == "/" || $0 == "?" || $0 == "#" } ?? rest.endIndex
        let authority = rest[..<authorityEnd]
        let tail = rest[authorityEnd...]
        if authority.contains("@") {
            return .failure(Problem(message: "must not contain credentials (user:password@); give them as provider options", revealsSecret: true))
        }
        if tail.contains("?") || tail.contains("#") {
            return .failure(Problem(message: "must not have a query or fragment"))
        }
        if tail.contains(where: { $0.isWhitespace || $0.asciiValue.map { $0 < 0x20 || $0 == 0x7F } == true }) {
            return .failure(Problem(message: "must not contain spaces or control characters"))
        }
        guard let hostPort = HostPort.parse(authority, portRequired: false) else {
            return .failure(Problem(message: "\(expected) (the host or port is not valid)"))
        }
        guard hostPort.port.map({ $0 > 0 }) ?? true else {
            return .failure(Problem(message: "port must be between 1 and 65535"))
        }
        var url = text
        while url.hasSuffix("/") { url.removeLast() }
        return .success(url)
    }

    /// Whether `text` is a `postgres://` or `postgresql://` URL.
    static func isPostgresURL(_ text: String) -> Bool {
        let lowered = text.lowercased()
        return (lowered.hasPrefix("postgres://") && lowered.count > "postgres://".count)
            || (lowered.hasPrefix("postgresql://") && lowered.count > "postgresql://".count)
    }
}

/// `host:port`, with an IPv6 host in brackets (`[::1]:8080`). The host is kept without brackets.
struct HostPort: Hashable, Sendable {
    var host: String
    var port: Int?

    /// Parses `text`; nil when the host is empty or has characters no host name or address has, or the port
    /// is not a number in 0–65535.
    static func parse(_ text: Substring, portRequired: Bool) -> HostPort? {
        let host: Substring
        let portText: Substring?
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]") else { return nil }
            host = text[text.index(after: text.startIndex)..<close]
            let after = text[text.index(after: close)...]
            guard host.contains(":"), host.allSatisfy({ $0.isHexDigit || $0 == ":" || $0 == "." || $0 == "%" }) else { return nil }
            if after.isEmpty {
                portText = nil
            } else if after.hasPrefix(":") {
                portText = after.dropFirst()
            } else {
                return nil
            }
        } else if let colon = text.lastIndex(of: ":") {
            host = text[..<colon]
            portText = text[text.index(after: colon)...]
        } else {
            host = text
            portText = nil
        }
        guard !host.isEmpty else { return nil }
        if !text.hasPrefix("[") {
            guard host.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == "." || $0 == "_") }) else { return nil }
        }
        guard let portText else { return portRequired ? nil : HostPort(host: String(host), port: nil) }
        guard !portText.isEmpty, portText.count <= 5, portText.allSatisfy({ $0.isASCII && $0.isNumber }),
            let port = Int(portText), port <= 65_535
        else { return nil }
        return HostPort(host: String(host), port: port)
    }
}
