public import BatchGateCore

/// Which URLs may receive webhooks (CONTRACT §4): public `https` only; loopback, also over `http`,
/// only when `allowInsecureLoopback` is set; private, link-local, metadata, unspecified, multicast,
/// broadcast and reserved addresses never, including their IPv4-mapped IPv6 forms.
///
/// `validate` runs at create time without DNS; `resolveForSending` runs before every attempt and
/// refuses a host if any of its addresses is forbidden.
public struct WebhookURLPolicy: Sendable {
    /// `webhooks.allow_insecure_loopback`: lets loopback receivers through, over `http` too.
    public var allowInsecureLoopback: Bool
    /// Resolves host names at send time.
    public var resolver: any HostResolver
    /// The error field used in every refusal.
    public var field: String

    /// Host names refused whatever they resolve to.
    public static let metadataHostNames: Set<String> = [
        "metadata.google.internal", "metadata", "instance-data", "instance-data.ec2.internal",
    ]

    /// A policy; `resolver` defaults to the system resolver (`getaddrinfo` off the cooperative pool).
    public init(allowInsecureLoopback: Bool = false, resolver: any HostResolver = SystemHostResolver(), field: String = "webhook.url") {
        self.allowInsecureLoopback = allowInsecureLoopback
        self.resolver = resolver
        self.field = field
    }

    /// Checks syntax, scheme, literal addresses and special names; no DNS. For create time.
    ///
    /// Throws `GatewayError.invalid(field, …)` with a message naming the URL's origin (never its
    /// userinfo, path or query, which may hold tokens) and why it is refused.
    public func validate(_ url: String) throws(GatewayError) {
        _ = try check(url)
    }

    /// Validates, resolves the host and refuses if any resolved address is forbidden. For send time.
    ///
    /// The returned addresses are the ones that were checked; pin the connection to them so a second
    /// lookup cannot return something else. A host that does not resolve throws `unresolvable_host`
    /// (status 400, worth retrying later); a forbidden one throws `invalid_request`. The message says
    /// what kind of address the host resolves to, never the address itself: it reaches the tenant.
    public func resolveForSending(_ url: String) async throws(GatewayError) -> ResolvedTarget {
        switch await resolveForSendingNamingTheAddress(url) {
        case .success(let target): return target
        case .failure(let refusal): throw refusal.error
        }
    }

    /// `resolveForSending`, keeping the forbidden resolved address (for debug logs only) beside the error.
    func resolveForSendingNamingTheAddress(_ url: String) async -> Result<ResolvedTarget, Refusal> {
        let parsed: ParsedWebhookURL
        do {
            parsed = try check(url)
        } catch {
            return .failure(Refusal(error: error, resolvedAddress: nil))
        }
        if let literal = parsed.literal {
            return .success(ResolvedTarget(url: url, scheme: parsed.scheme, host: parsed.host, port: parsed.port, addresses: [literal]))
        }
        let addresses: [IPAddress]
        do {
            addresses = try await resolver.resolve(host: parsed.host, port: parsed.port)
        } catch {
            return .failure(Refusal(error: error, resolvedAddress: nil))
        }
        guard !addresses.isEmpty else {
            let error = GatewayError(
                status: 400,
                code: Self.unresolvableCode,
                message: "'\(parsed.origin)' did not resolve to any address.",
                field: field
            )
            return .failure(Refusal(error: error, resolvedAddress: nil))
        }
        for address in addresses {
            if let kind = forbiddenKind(of: address) {
                return .failure(Refusal(error: refusal(parsed, kind: kind, shown: nil), resolvedAddress: address))
            }
        }
        return .success(ResolvedTarget(url: url, scheme: parsed.scheme, host: parsed.host, port: parsed.port, addresses: addresses))
    }

    /// A send-time refusal, with the forbidden address the host resolved to when there was one.
    struct Refusal: Error {
        /// What the tenant sees: names the kind of address, not the address.
        var error: GatewayError
        /// The forbidden address, for debug logs.
        var resolvedAddress: IPAddress?
    }

    /// Whether a connection to this numeric address (as a transport reports it: `10.0.0.1`, `::1`) is allowed.
    ///
    /// Give it to the transport's remote-address filter so the address actually connected to is checked
    /// too, which closes the gap between `resolveForSending` and the transport's own lookup. Text that is
    /// not a numeric address is refused.
    public func allowsRemoteAddress(_ text: String) -> Bool {
        guard let address = Self.remoteAddress(text) else { return false }
        return forbiddenKind(of: address) == nil
    }

    /// The error to record when the transport refused the address it connected to (the filter built
    /// on `allowsRemoteAddress`), or nil when `error` is not that refusal.
    ///
    /// Like `resolveForSending`'s refusal, the message names the URL's origin and the kind of address
    /// (`resolves to a private address`), never the address: the transport's own message, which
    /// names it, is for debug logs only.
    public func refusal(ofConnectionFailure error: TransportError, url: String) -> GatewayError? {
        guard error.code == .connection, let marker = error.message.firstRange(of: Self.refusedAddressMarker),
            error.message.hasSuffix(Self.refusedAddressSuffix)
        else { return nil }
        let addressText = error.message[marker.upperBound...].dropLast(Self.refusedAddressSuffix.count)
        let kind = Self.remoteAddress(String(addressText))?.forbiddenKind
        guard let parsed = try? ParsedWebhookURL(url) else {
            return .invalid(field, "The webhook URL connected to an address webhooks may not be sent to; webhook URLs must be public https URLs.")
        }
        guard let kind else {
            return .invalid(
                field,
                "'\(parsed.origin)' connected to an address webhooks may not be sent to; webhook URLs must be public https URLs."
            )
        }
        return refusal(parsed, kind: kind, shown: nil)
    }

    /// How the transport words a refused remote address: `POST <origin>: remote address <address> is not allowed`.
    static let refusedAddressMarker = ": remote address "
    static let refusedAddressSuffix = " is not allowed"

    /// The forbidden kind of `address` under this policy (loopback is allowed with `allowInsecureLoopback`).
    private func forbiddenKind(of address: IPAddress) -> ForbiddenAddressKind? {
        guard let kind = address.forbiddenKind, !(kind == .loopback && allowInsecureLoopback) else { return nil }
        return kind
    }

    /// A numeric address as a transport reports it (`10.0.0.1`, `::1`, `[::1]`, `fe80::1%eth0`), or nil.
    private static func remoteAddress(_ text: String) -> IPAddress? {
        var candidate = Substring(text)
        if candidate.hasPrefix("["), candidate.hasSuffix("]") { candidate = candidate.dropFirst().dropLast() }
        if let zone = candidate.firstIndex(of: "%") { candidate = candidate[..<zone] }
        if candidate.contains(":") {
            return IPAddress.parseIPv6(candidate)
        }
        let parts = candidate.split(separator: ".", omittingEmptySubsequences: false)
        let isDottedQuad = parts.count == 4 && parts.allSatisfy { !$0.isEmpty && $0.count <= 3 && $0.allSatisfy { $0.isASCII && $0.isNumber } }
        return isDottedQuad ? IPAddress.parseIPv4(candidate) : nil
    }

    /// The error code of a host that did not resolve (as opposed to one that is refused).
    public static let unresolvableCode = "unresolvable_host"

    private func check(_ url: String) throws(GatewayError) -> ParsedWebhookURL {
        let parsed: ParsedWebhookURL
        do {
            parsed = try ParsedWebhookURL(url)
        } catch {
            throw .invalid(field, error.reason + "; webhook URLs must be public https URLs.")
        }
        let kind: ForbiddenAddressKind?
        let shown: String
        if let literal = parsed.literal {
            kind = literal.forbiddenKind
            shown = literal.explained
        } else if parsed.host == "localhost" || parsed.host.hasSuffix(".localhost") {
            kind = .loopback
            shown = parsed.host
        } else if Self.metadataHostNames.contains(parsed.host) {
            kind = .cloudMetadata
            shown = parsed.host
        } else {
            kind = nil
            shown = parsed.host
        }
        if let kind {
            if kind == .loopback && allowInsecureLoopback { return parsed }
            throw refusal(parsed, kind: kind, shown: shown)
        }
        if parsed.scheme != "https" {
            throw .invalid(
                field,
                "'\(parsed.origin)' uses http; webhook URLs must be public https URLs (plain http is allowed only for loopback receivers with webhooks.allow_insecure_loopback: true)."
            )
        }
        return parsed
    }

    /// The refusal of a forbidden host. `shown` explains what the URL itself says (a literal address
    /// or a special host name); it is nil for an address found by DNS, which is never shown.
    private func refusal(_ parsed: ParsedWebhookURL, kind: ForbiddenAddressKind, shown: String?) -> GatewayError {
        let detail = shown.map { " (\($0))" } ?? ""
        var message = "'\(parsed.origin)' resolves to \(kind.phrase)\(detail); webhook URLs must be public https URLs"
        if kind == .loopback {
            message += " (loopback receivers need webhooks.allow_insecure_loopback: true)"
        }
        return .invalid(field, message + ".")
    }
}

/// Where a webhook may be sent, as checked just before sending.
public struct ResolvedTarget: Sendable, Hashable {
    /// The URL exactly as given.
    public var url: String
    /// `https`, or `http` for an allowed loopback receiver.
    public var scheme: String
    /// The host, lowercased, without brackets or a trailing dot.
    public var host: String
    /// The explicit port, or the scheme's default.
    public var port: Int
    /// Every address the host resolved to; all passed the policy.
    public var addresses: [IPAddress]

    /// A libcurl `CURLOPT_RESOLVE` entry (`host:port:addr[,addr…]`) pinning the connection to `addresses`.
    public var curlResolveEntry: String {
        let hostPart = host.contains(":") ? "[\(host)]" : host
        let list = addresses.map { address -> String in
            if case .v6 = address { return "[\(address)]" }
            return address.description
        }
        return "\(hostPart):\(port):\(list.joined(separator: ","))"
    }
}

/// A webhook URL split into the parts the policy judges. Stricter than RFC 3986 on purpose:
/// anything a URL parser and libcurl might read differently is refused.
struct ParsedWebhookURL {
    struct Failure: Error {
        var reason: String
    }

    var scheme: String
    var host: String
    var literal: IPAddress?
    var port: Int
    /// `scheme://host[:port]/`, safe to show: no userinfo, path or query.
    var origin: String

    static let maximumLength = 2048

    init(_ url: String) throws(Failure) {
        guard !url.isEmpty else { throw Failure(reason: "The webhook URL is empty") }
        guard url.utf8.count <= Self.maximumLength else {
            throw Failure(reason: "The webhook URL is longer than \(Self.maximumLength) bytes")
        }
        guard url.unicodeScalars.allSatisfy({ $0.value > 0x20 && $0.value != 0x7f && $0.isASCII }) else {
            throw Failure(
                reason:
                    "The webhook URL contains spaces, control or non-ASCII characters (percent-encode them; use the xn-- form of international host names)"
            )
        }
        guard !url.contains("\\") else {
            throw Failure(reason: "The webhook URL contains a backslash")
        }
        guard let separator = url.firstRange(of: "://") else {
            throw Failure(reason: "The webhook URL has no scheme (expected https://host/path)")
        }
        let scheme = url[..<separator.lowerBound].lowercased()
        guard scheme == "https" || scheme == "http" else {
            throw Failure(reason: "The webhook URL's scheme '\(scheme.prefix(16))' is not https")
        }
        let afterScheme = url[separator.upperBound...]
        let authorityEnd = afterScheme.firstIndex { $0 == "/" || $0 == "?" || $0 == "#" } ?? afterScheme.endIndex
        let authority = afterScheme[..<authorityEnd]
        guard !authority.contains("@") else {
            throw Failure(reason: "The webhook URL contains credentials (userinfo before an @); use the webhook secret to authenticate instead")
        }

        var hostText: Substring
        var portText: Substring?
        if authority.hasPrefix("[") {
            guard let close = authority.firstIndex(of: "]") else {
                throw Failure(reason: "The webhook URL's IPv6 host has no closing ']'")
            }
            hostText = authority[authority.index(after: authority.startIndex)..<close]
            let rest = authority[authority.index(after: close)...]
            if !rest.isEmpty {
                guard rest.hasPrefix(":") else {
                    throw Failure(reason: "The webhook URL has text after its IPv6 host")
                }
                portText = rest.dropFirst()
            }
            guard IPAddress.parseIPv6(hostText) != nil else {
                throw Failure(reason: "The webhook URL's bracketed host is not a valid IPv6 address (zone ids are not accepted)")
            }
        } else {
            let colons = authority.filter { $0 == ":" }.count
            guard colons <= 1 else {
                throw Failure(reason: "The webhook URL's host has more than one ':' (IPv6 addresses go in brackets)")
            }
            if let colon = authority.firstIndex(of: ":") {
                hostText = authority[..<colon]
                portText = authority[authority.index(after: colon)...]
            } else {
                hostText = authority
            }
        }

        var port = scheme == "https" ? 443 : 80
        var explicitPort = false
        if let portText {
            guard !portText.isEmpty, portText.count <= 5, portText.allSatisfy({ $0.isASCII && $0.isNumber }),
                let value = Int(portText), (1...65_535).contains(value)
            else {
                throw Failure(reason: "The webhook URL's port '\(portText.prefix(8))' is not a number from 1 to 65535")
            }
            port = value
            explicitPort = true
        }

        var host = hostText.lowercased()
        if host.hasSuffix("."), !host.contains(":") { host.removeLast() }
        guard !host.isEmpty else { throw Failure(reason: "The webhook URL has no host") }

        var literal: IPAddress?
        var shownHost = host
        if host.contains(":") {
            literal = IPAddress.parseIPv6(host)
            if let literal { host = literal.description }
            shownHost = "[\(host)]"
        } else {
            guard host.utf8.count <= 253,
                host.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == "." || $0 == "_") })
            else {
                throw Failure(reason: "The webhook URL's host contains characters a host name cannot have")
            }
            let labels = host.split(separator: ".", omittingEmptySubsequences: false)
            guard labels.allSatisfy({ !$0.isEmpty && $0.count <= 63 }) else {
                throw Failure(reason: "The webhook URL's host has an empty or over-long label")
            }
            literal = IPAddress.parseIPv4(host)
            if literal == nil, let last = labels.last, Self.looksNumeric(last) {
                throw Failure(reason: "The webhook URL's host '\(host.prefix(64))' is not a valid IPv4 address")
            }
        }
        self.scheme = scheme
        self.host = host
        self.literal = literal
        self.port = port
        self.origin = "\(scheme)://\(shownHost)\(explicitPort ? ":\(port)" : "")/"
    }

    /// A last label that URL parsers treat as an IPv4 attempt: decimal digits or `0x…`.
    private static func looksNumeric(_ label: Substring) -> Bool {
        if label.allSatisfy({ $0.isASCII && $0.isNumber }) { return true }
        let lowered = label.lowercased()
        return lowered.hasPrefix("0x") && lowered.dropFirst(2).allSatisfy { $0.isASCII && $0.isHexDigit }
    }
}
