import BatchGateCore
import Synchronization
import Testing

@testable import BatchGateWebhooks

/// A resolver answering from a table, counting its calls.
final class TableResolver: HostResolver {
    let answers: [String: Result<[IPAddress], GatewayError>]
    let calls = Mutex<[String]>([])

    init(_ answers: [String: Result<[IPAddress], GatewayError>]) {
        self.answers = answers
    }

    func resolve(host: String, port: Int) async throws(GatewayError) -> [IPAddress] {
        calls.withLock { $0.append(host) }
        guard let answer = answers[host] else {
            throw GatewayError(
                status: 400,
                code: WebhookURLPolicy.unresolvableCode,
                message: "'\(host)' did not resolve: unknown.",
                field: "webhook.url"
            )
        }
        return try answer.get()
    }
}

private func ip(_ text: String) -> IPAddress {
    guard let address = IPAddress.parse(text) else { fatalError("bad test address \(text)") }
    return address
}

@Suite struct WebhookURLPolicyTests {
    /// URL, then a fragment the refusal message must contain.
    static let refusedWithoutFlag: [(String, String)] = [
        ("http://10.0.0.1/", "'http://10.0.0.1/' resolves to a private address (10.0.0.1); webhook URLs must be public https URLs"),
        ("https://10.255.255.255/x", "private address (10.255.255.255)"),
        ("https://172.16.5.4/", "private address"),
        ("https://172.31.255.255/", "private address"),
        ("https://192.168.1.1/", "private address"),
        ("https://100.64.0.1/", "private address"),
        ("https://169.254.169.254/latest/meta-data/", "cloud metadata address (169.254.169.254)"),
        ("https://169.254.10.10/", "link-local address"),
        ("https://[fe80::1]/", "link-local address (fe80::1)"),
        ("https://[fc00::1]/", "private address"),
        ("https://[fd12:3456::1]/", "private address"),
        ("https://[fd00:ec2::254]/", "cloud metadata address (fd00:ec2::254)"),
        ("https://metadata.google.internal/computeMetadata/v1/", "cloud metadata address (metadata.google.internal)"),
        ("https://METADATA.GOOGLE.INTERNAL./", "cloud metadata address"),
        ("https://metadata/", "cloud metadata address (metadata)"),
        ("https://0.0.0.0/", "unspecified address (0.0.0.0)"),
        ("https://[::]/", "unspecified address (::)"),
        ("https://224.0.0.1/", "multicast address"),
        ("https://[ff02::1]/", "multicast address"),
        ("https://255.255.255.255/", "broadcast address"),
        ("https://localhost/", "loopback address (localhost)"),
        ("https://LocalHost:8443/", "loopback address (localhost)"),
        ("https://api.localhost/hook", "loopback address (api.localhost)"),
        ("https://127.0.0.1/", "loopback address (127.0.0.1)"),
        ("https://127.8.9.10/", "loopback address"),
        ("https://[::1]/", "loopback address (::1)"),
        ("http://127.0.0.1:9000/hook", "webhooks.allow_insecure_loopback: true"),
        ("https://[::ffff:10.0.0.1]/", "private address (::ffff:10.0.0.1)"),
        ("https://[::ffff:127.0.0.1]/", "loopback address (::ffff:127.0.0.1)"),
        ("https://[::ffff:169.254.169.254]/", "cloud metadata address"),
        ("https://[::ffff:a9fe:a9fe]/", "cloud metadata address (::ffff:169.254.169.254)"),
        ("https://[::ffff:0.0.0.0]/", "unspecified address"),
        ("https://[64:ff9b::10.0.0.1]/", "private address (64:ff9b::a00:1, which embeds 10.0.0.1)"),
        ("https://[2002:c0a8:0101::1]/", "which embeds 192.168.1.1"),
        ("https://2130706433/", "loopback address (127.0.0.1)"),
        ("https://0x7f.1/", "loopback address (127.0.0.1)"),
        ("https://017700000001/", "loopback address (127.0.0.1)"),
        ("https://127.1/", "loopback address (127.0.0.1)"),
        ("https://0xa9fea9fe/", "cloud metadata address (169.254.169.254)"),
        ("http://example.com/hook", "'http://example.com/' uses http"),
        ("ftp://example.com/", "scheme 'ftp' is not https"),
        ("https://user:pass@example.com/", "contains credentials"),
        ("https://example.com@10.0.0.1/", "contains credentials"),
        ("https://example.com:0/", "port '0' is not a number from 1 to 65535"),
        ("https://example.com:99999/", "port"),
        ("https://example.com:/", "port"),
        ("https://example.com:8a/", "port"),
        ("https://exa mple.com/", "spaces, control or non-ASCII"),
        ("https://exämple.com/", "non-ASCII"),
        ("example.com/hook", "no scheme"),
        ("", "empty"),
        ("https:///path", "no host"),
        ("https://1.2.3.999/", "not a valid IPv4 address"),
        ("https://[fe80::1%25eth0]/", "not a valid IPv6 address"),
        ("https://[::1/", "no closing ']'"),
        ("https://evil.example\\@10.0.0.1/", "backslash"),
        ("https://a..b/", "empty or over-long label"),
        ("https://fe80::1/", "more than one ':'"),
        ("https://exa%6dple.com/", "characters a host name cannot have"),
    ]

    @Test(arguments: refusedWithoutFlag)
    func refusesAtCreateTime(url: String, fragment: String) {
        let policy = WebhookURLPolicy(resolver: TableResolver([:]))
        let error = #expect(throws: GatewayError.self) { try policy.validate(url) }
        #expect(error?.code == "invalid_request")
        #expect(error?.status == 400)
        #expect(error?.field == "webhook.url")
        #expect(error?.message.contains(fragment) == true, "message: \(error?.message ?? "none")")
        #expect(error?.message.contains("pass") == false)
    }

    static let allowedWithoutFlag = [
        "https://example.com/hook",
        "https://example.com:8443/hook?token=abc#frag",
        "https://hooks.example.com./x",
        "HTTPS://Example.COM/Hook",
        "https://93.184.216.34/",
        "https://172.32.0.1/",
        "https://100.128.0.1/",
        "https://11.0.0.1/",
        "https://[2606:2800:220:1:248:1893:25c8:1946]/",
        "https://[::ffff:93.184.216.34]/",
        "https://under_score.example.com/",
        "https://xn--exmple-cua.com/",
    ]

    @Test(arguments: allowedWithoutFlag)
    func allowsPublicHTTPSAtCreateTime(url: String) throws {
        try WebhookURLPolicy(resolver: TableResolver([:])).validate(url)
    }

    static let allowedWithFlag = [
        "http://127.0.0.1:9000/hook", "http://localhost:8080/x", "https://localhost/", "http://[::1]:9000/",
        "http://api.localhost/", "https://example.com/hook", "http://127.0.0.2/",
    ]

    @Test(arguments: allowedWithFlag)
    func allowsLoopbackWithTheFlag(url: String) throws {
        try WebhookURLPolicy(allowInsecureLoopback: true, resolver: TableResolver([:])).validate(url)
    }

    static let refusedWithFlag: [(String, String)] = [
        ("http://10.0.0.1/", "private address"),
        ("http://example.com/", "uses http"),
        ("https://169.254.169.254/", "cloud metadata address"),
        ("http://[::ffff:192.168.0.1]/", "private address"),
        ("http://0.0.0.0:9000/", "unspecified address"),
    ]

    @Test(arguments: refusedWithFlag)
    func refusesTheRestWithTheFlag(url: String, fragment: String) {
        let policy = WebhookURLPolicy(allowInsecureLoopback: true, resolver: TableResolver([:]))
        let error = #expect(throws: GatewayError.self) { try policy.validate(url) }
        #expect(error?.message.contains(fragment) == true, "message: \(error?.message ?? "none")")
    }

    @Test func refusalsNeverEchoPathQueryOrCredentials() {
        let policy = WebhookURLPolicy(resolver: TableResolver([:]))
        for url in ["http://10.0.0.1/secret-path?token=s3cr3t", "https://user:s3cr3t@10.0.0.1/", "http://example.com/secret-path?token=s3cr3t"] {
            let error = #expect(throws: GatewayError.self) { try policy.validate(url) }
            #expect(error?.message.contains("s3cr3t") == false)
            #expect(error?.message.contains("secret-path") == false)
        }
    }

    // MARK: send time

    @Test func resolvesAPublicHostAndReturnsItsAddresses() async throws {
        let resolver = TableResolver(["hooks.example.com": .success([ip("93.184.216.34"), ip("2606:2800:220:1::1")])])
        let target = try await WebhookURLPolicy(resolver: resolver).resolveForSending("https://Hooks.Example.com/in?x=1")
        #expect(target.host == "hooks.example.com")
        #expect(target.port == 443)
        #expect(target.scheme == "https")
        #expect(target.url == "https://Hooks.Example.com/in?x=1")
        #expect(target.addresses == [ip("93.184.216.34"), ip("2606:2800:220:1::1")])
        #expect(target.curlResolveEntry == "hooks.example.com:443:93.184.216.34,[2606:2800:220:1::1]")
        #expect(resolver.calls.withLock { $0 } == ["hooks.example.com"])
    }

    /// (resolved addresses, the exact refusal). The message names the kind of address, never the
    /// address: it reaches the tenant, and the resolved address is internal.
    static let rebindingAnswers: [([String], String)] = [
        (["93.184.216.34", "10.1.2.3"], "'https://hooks.example.com/' resolves to a private address; webhook URLs must be public https URLs."),
        (
            ["2606:2800:220:1::1", "::ffff:192.168.0.1"],
            "'https://hooks.example.com/' resolves to a private address; webhook URLs must be public https URLs."
        ),
        (["169.254.169.254"], "'https://hooks.example.com/' resolves to a cloud metadata address; webhook URLs must be public https URLs."),
        (
            ["127.0.0.1"],
            "'https://hooks.example.com/' resolves to a loopback address; webhook URLs must be public https URLs (loopback receivers need webhooks.allow_insecure_loopback: true)."
        ),
        (["fe80::1"], "'https://hooks.example.com/' resolves to a link-local address; webhook URLs must be public https URLs."),
        (["0.0.0.0"], "'https://hooks.example.com/' resolves to an unspecified address; webhook URLs must be public https URLs."),
        (["fd00:ec2::254"], "'https://hooks.example.com/' resolves to a cloud metadata address; webhook URLs must be public https URLs."),
    ]

    @Test(arguments: rebindingAnswers)
    func refusesWhenAnyResolvedAddressIsForbiddenWithoutNamingIt(addresses: [String], expected: String) async {
        let resolver = TableResolver(["hooks.example.com": .success(addresses.map(ip))])
        let policy = WebhookURLPolicy(resolver: resolver)
        let error = await #expect(throws: GatewayError.self) {
            try await policy.resolveForSending("https://hooks.example.com/in")
        }
        #expect(error?.code == "invalid_request")
        #expect(error?.field == "webhook.url")
        #expect(error?.message == expected)
        for address in addresses {
            #expect(error?.message.contains(address) == false)
            #expect(error?.description.contains(address) == false)
        }

        // The forbidden address is kept beside the error, for debug logs.
        let result = await policy.resolveForSendingNamingTheAddress("https://hooks.example.com/in")
        guard case .failure(let refusal) = result else {
            Issue.record("expected a refusal, got \(result)")
            return
        }
        #expect(refusal.error == error)
        #expect(refusal.resolvedAddress.map { addresses.map(ip).contains($0) } == true)
        #expect(refusal.resolvedAddress?.forbiddenKind != nil)
    }

    /// A literal address or special name is the tenant's own text: the refusal may explain it.
    @Test(arguments: [
        ("https://10.0.0.1/", "'https://10.0.0.1/' resolves to a private address (10.0.0.1); webhook URLs must be public https URLs."),
        (
            "https://0xa9fea9fe/",
            "'https://0xa9fea9fe/' resolves to a cloud metadata address (169.254.169.254); webhook URLs must be public https URLs."
        ),
        ("https://metadata/", "'https://metadata/' resolves to a cloud metadata address (metadata); webhook URLs must be public https URLs."),
    ])
    func literalRefusalsExplainTheTenantsOwnText(url: String, expected: String) async {
        let policy = WebhookURLPolicy(resolver: TableResolver([:]))
        let atCreate = #expect(throws: GatewayError.self) { try policy.validate(url) }
        #expect(atCreate?.message == expected)
        let atSend = await #expect(throws: GatewayError.self) { try await policy.resolveForSending(url) }
        #expect(atSend?.message == expected)
    }

    @Test func aHostWithNoAddressIsUnresolvable() async {
        let policy = WebhookURLPolicy(resolver: TableResolver(["empty.example.com": .success([])]))
        let error = await #expect(throws: GatewayError.self) {
            try await policy.resolveForSending("https://empty.example.com/")
        }
        #expect(error?.code == WebhookURLPolicy.unresolvableCode)
    }

    @Test func literalAddressesAreNotLookedUp() async throws {
        let resolver = TableResolver([:])
        let target = try await WebhookURLPolicy(resolver: resolver).resolveForSending("https://93.184.216.34:8443/x")
        #expect(target.addresses == [ip("93.184.216.34")])
        #expect(target.port == 8443)
        #expect(resolver.calls.withLock { $0 }.isEmpty)
        let loopback = try await WebhookURLPolicy(allowInsecureLoopback: true, resolver: resolver)
            .resolveForSending("http://[::1]:9000/")
        #expect(loopback.addresses == [ip("::1")])
        #expect(loopback.curlResolveEntry == "[::1]:9000:[::1]")
    }

    @Test func sendTimeStillAppliesTheCreateTimeRules() async {
        let resolver = TableResolver([:])
        let error = await #expect(throws: GatewayError.self) {
            try await WebhookURLPolicy(resolver: resolver).resolveForSending("https://localhost/")
        }
        #expect(error?.message.contains("loopback") == true)
        #expect(resolver.calls.withLock { $0 }.isEmpty)
    }

    @Test func loopbackNamesResolveWithTheFlagThroughTheSystemResolver() async throws {
        let policy = WebhookURLPolicy(allowInsecureLoopback: true, resolver: SystemHostResolver(timeout: .seconds(5)))
        let target = try await policy.resolveForSending("http://localhost:9/hook")
        #expect(!target.addresses.isEmpty)
        #expect(target.addresses.allSatisfy { $0.forbiddenKind == .loopback }, "\(target.addresses)")
        #expect(target.port == 9)
    }

    @Test func theSystemResolverReportsUnknownHosts() async {
        let resolver = SystemHostResolver(timeout: .seconds(3))
        let error = await #expect(throws: GatewayError.self) {
            try await resolver.resolve(host: "no-such-host.invalid", port: 443)
        }
        #expect(error?.code == WebhookURLPolicy.unresolvableCode)
        #expect(error?.message.contains("no-such-host.invalid") == true)
    }

    // MARK: connection filter

    @Test(arguments: [
        ("93.184.216.34", false, true), ("10.0.0.1", false, false), ("127.0.0.1", false, false),
        ("127.0.0.1", true, true), ("::1", true, true), ("[::1]", false, false), ("::ffff:10.0.0.1", true, false),
        ("fe80::1%eth0", true, false), ("2606:2800:220:1::1", false, true), ("not-an-address", true, false),
        ("2130706433", true, false), ("169.254.169.254", true, false),
    ])
    func filtersConnectedAddresses(address: String, flag: Bool, allowed: Bool) {
        let policy = WebhookURLPolicy(allowInsecureLoopback: flag, resolver: TableResolver([:]))
        #expect(policy.allowsRemoteAddress(address) == allowed)
    }

    /// (transport error, expected refusal or nil): the transport's refusal of a connected address
    /// becomes a refusal that names the kind of address, never the address.
    static let connectionFailures: [(TransportError, String?)] = [
        (
            TransportError(.connection, "POST https://hooks.example.com/: remote address 10.9.8.7 is not allowed"),
            "'https://hooks.example.com/' resolves to a private address; webhook URLs must be public https URLs."
        ),
        (
            TransportError(.connection, "POST https://hooks.example.com/: remote address 169.254.169.254 is not allowed"),
            "'https://hooks.example.com/' resolves to a cloud metadata address; webhook URLs must be public https URLs."
        ),
        (
            TransportError(.connection, "POST https://hooks.example.com/: remote address fe80::1%eth0 is not allowed"),
            "'https://hooks.example.com/' resolves to a link-local address; webhook URLs must be public https URLs."
        ),
        (
            TransportError(.connection, "POST https://hooks.example.com/: remote address 127.0.0.1 is not allowed"),
            "'https://hooks.example.com/' resolves to a loopback address; webhook URLs must be public https URLs (loopback receivers need webhooks.allow_insecure_loopback: true)."
        ),
        (
            TransportError(.connection, "POST https://hooks.example.com/: remote address 203.0.113.300 is not allowed"),
            "'https://hooks.example.com/' connected to an address webhooks may not be sent to; webhook URLs must be public https URLs."
        ),
        (TransportError(.connection, "POST https://hooks.example.com/: Connection refused (curl error 7)"), nil),
        (TransportError(.timeout, "POST https://hooks.example.com/: remote address 10.9.8.7 is not allowed"), nil),
        (TransportError(.connection, "remote address 10.9.8.7 is not allowed yet"), nil),
    ]

    @Test(arguments: connectionFailures)
    func connectionRefusalsNameTheKindNotTheAddress(error: TransportError, expected: String?) {
        let policy = WebhookURLPolicy(resolver: TableResolver([:]))
        let refusal = policy.refusal(ofConnectionFailure: error, url: "https://hooks.example.com/in?token=s3cr3t")
        #expect(refusal?.message == expected)
        if let refusal {
            #expect(refusal.code == "invalid_request")
            #expect(refusal.field == "webhook.url")
            for leaked in ["10.9.8.7", "169.254.169.254", "fe80", "127.0.0.1", "203.0.113", "s3cr3t"] {
                #expect(!refusal.message.contains(leaked))
            }
        }
    }
}

@Suite struct IPAddressTests {
    @Test(arguments: [
        ("1.2.3.4", "1.2.3.4"), ("2130706433", "127.0.0.1"), ("0x7f.1", "127.0.0.1"), ("127.1", "127.0.0.1"),
        ("10.1.1", "10.1.0.1"), ("0177.0.0.1", "127.0.0.1"), ("1.2.3.4.", "1.2.3.4"), ("0x", "0.0.0.0"),
        ("255.255.255.255", "255.255.255.255"), ("0xffffffff", "255.255.255.255"),
    ])
    func parsesIPv4Forms(text: String, expected: String) {
        #expect(IPAddress.parseIPv4(text)?.description == expected)
    }

    @Test(arguments: ["256.1.1.1", "1.2.3.4.5", "4294967296", "08.1.1.1", "1..2.3", "", "a.b.c.d", "1.2.3.256", "1.2.65536", "１.2.3.4"])
    func refusesBadIPv4(text: String) {
        #expect(IPAddress.parseIPv4(text) == nil)
    }

    @Test(arguments: [
        ("2001:db8::1", "2001:db8::1"), ("0:0:0:0:0:0:0:1", "::1"), ("1:0:0:2:0:0:0:3", "1:0:0:2::3"), ("::", "::"),
        ("FE80::ABCD", "fe80::abcd"), ("::ffff:10.0.0.1", "::ffff:10.0.0.1"), ("::FFFF:A9FE:A9FE", "::ffff:169.254.169.254"),
        ("1:2:3:4:5:6:7:8", "1:2:3:4:5:6:7:8"),
        ("1::", "1::"), ("1:0:1:0:1:0:1:0", "1:0:1:0:1:0:1:0"),
    ])
    func parsesAndPrintsIPv6(text: String, expected: String) {
        #expect(IPAddress.parseIPv6(text)?.description == expected)
    }

    @Test(arguments: [
        "1:2:3:4:5:6:7:8:9", "1::2::3", ":1::", "1::2:", "12345::", "::ffff:1.2.3", "g::1", "1.2.3.4", "::1%eth0", "1:2:3:4:5:6:7", ":::",
    ])
    func refusesBadIPv6(text: String) {
        #expect(IPAddress.parseIPv6(text) == nil)
    }

    static let classifications: [(String, ForbiddenAddressKind?)] = [
        ("8.8.8.8", nil), ("10.0.0.1", .privateNetwork), ("172.15.255.255", nil),
        ("172.16.0.0", .privateNetwork), ("192.168.255.255", .privateNetwork), ("100.127.255.255", .privateNetwork),
        ("100.63.255.255", nil), ("169.254.0.1", .linkLocal), ("169.254.169.254", .cloudMetadata),
        ("127.0.0.1", .loopback), ("0.1.2.3", .unspecified), ("224.0.0.251", .multicast), ("239.255.255.255", .multicast),
        ("255.255.255.255", .broadcast), ("240.0.0.1", .reserved), ("198.18.0.1", .reserved), ("192.0.0.192", .cloudMetadata),
        ("::1", .loopback), ("::", .unspecified), ("fe80::1", .linkLocal), ("febf::1", .linkLocal), ("fec0::1", .privateNetwork),
        ("fc00::1", .privateNetwork), ("fdff::1", .privateNetwork), ("fd00:ec2::254", .cloudMetadata), ("ff00::1", .multicast),
        ("::ffff:8.8.8.8", nil), ("::ffff:127.0.0.1", .loopback), ("::10.0.0.1", .privateNetwork), ("2001:db8::1", .reserved),
        ("2606:4700::1111", nil), ("64:ff9b::8.8.8.8", nil), ("64:ff9b::169.254.169.254", .cloudMetadata),
        ("2002:0a00:0001::", .privateNetwork),
    ]

    @Test(arguments: classifications)
    func classifiesAddresses(text: String, kind: ForbiddenAddressKind?) {
        #expect(IPAddress.parse(text)?.forbiddenKind == kind, "\(text)")
        #expect(IPAddress.parse(text) != nil)
    }
}
