import BatchGateCore
import Testing

@testable import BatchGateTransport

struct InvalidRequestCase: Sendable, CustomTestStringConvertible {
    var name: String
    var request: OutgoingRequest
    /// Part of the message that says what is wrong.
    var mentions: String
    var testDescription: String { name }
}

private let secret = "s3cr3t-token"

private let invalidRequests: [InvalidRequestCase] = [
    .init(name: "ftp scheme", request: .init(url: "ftp://127.0.0.1/file"), mentions: "http:// or https://"),
    .init(name: "no scheme", request: .init(url: "127.0.0.1/path"), mentions: "absolute"),
    .init(name: "no host", request: .init(url: "http://"), mentions: "with a host"),
    .init(name: "credentials but no host", request: .init(url: "http://user:pw@/x"), mentions: "with a host"),
    .init(name: "space in host", request: .init(url: "http://exa mple.com/"), mentions: "spaces or control"),
    .init(name: "space in path", request: .init(url: "https://example.com/a b"), mentions: "spaces or control"),
    .init(name: "method with space", request: .init(method: "GE T", url: "http://h/"), mentions: "method"),
    .init(name: "empty method", request: .init(method: "", url: "http://h/"), mentions: "method"),
    .init(
        name: "header name with space",
        request: .init(url: "http://h/", headers: [("Bad Name", secret)]),
        mentions: "header #0 has an invalid name"
    ),
    .init(
        name: "header value with CRLF",
        request: .init(url: "http://h/", headers: [("Accept", "*/*"), ("Authorization", "\(secret)\r\nX-Evil: 1")]),
        mentions: "header \"Authorization\""
    ),
    .init(
        name: "header value with NUL",
        request: .init(url: "http://h/", headers: [("X-Key", "\(secret)\u{0}")]),
        mentions: "header \"X-Key\""
    ),
    .init(name: "zero timeout", request: .init(url: "http://h/", timeout: .zero), mentions: "timeout"),
    .init(name: "negative timeout", request: .init(url: "http://h/", timeout: .seconds(-1)), mentions: "timeout"),
    .init(name: "HEAD with a body", request: .init(method: "HEAD", url: "http://h/", body: [1]), mentions: "HEAD"),
]

@Suite("Request preparation and response parsing")
struct RequestConversionTests {
    @Test("invalid requests are refused with .invalidRequest, never echoing header values", arguments: invalidRequests)
    func invalidRequest(_ example: InvalidRequestCase) {
        do {
            _ = try PreparedRequest(example.request)
            Issue.record("accepted an invalid request")
        } catch {
            #expect(error.code == .invalidRequest)
            #expect(error.message.contains(example.mentions), "\(error.message)")
            #expect(!error.message.contains(secret))
        }
    }

    @Test("invalid requests fail in send without reaching the network")
    func invalidRequestThroughClient() async throws {
        try await CurlHTTPClient.withClient(logger: quietLogger) { client in
            do throws(TransportError) {
                _ = try await client.send(OutgoingRequest(url: "gopher://127.0.0.1/"))
                Issue.record("sent a gopher request")
            } catch {
                #expect(error.code == .invalidRequest)
            }
            #expect(client.activeTransferCount == 0)
        }
    }

    @Test("a valid request gets header lines that switch off libcurl's defaults")
    func headerLines() throws {
        let post = try PreparedRequest(
            OutgoingRequest(
                method: "POST",
                url: "HTTPS://Example.com:8443/p?q=1",
                headers: [("Authorization", "Bearer x"), ("X-Blank", "  ")],
                body: [1]
            )
        )
        #expect(post.headerLines == ["Authorization: Bearer x", "X-Blank;", "Expect:", "Content-Type:"])
        #expect(post.origin == "https://Example.com:8443")

        let typed = try PreparedRequest(
            OutgoingRequest(method: "PUT", url: "http://h/", headers: [("content-type", "text/plain"), ("Expect", "")])
        )
        #expect(typed.headerLines == ["content-type: text/plain", "Expect;"])
        #expect(typed.body == [])

        let get = try PreparedRequest(OutgoingRequest(url: "http://h/"))
        #expect(get.headerLines == ["Expect:"])
        #expect(get.body == nil)
        #expect(get.timeoutMilliseconds == 30_000)
    }

    @Test(
        "durations become whole milliseconds without overflow",
        arguments: [
            (Duration.zero, 0), (.milliseconds(1), 1), (.microseconds(1500), 1), (.seconds(30), 30_000),
            (.seconds(-5), -5000), (.seconds(Int64.max), PreparedRequest.maximumMilliseconds),
            (.seconds(Int64.min), -PreparedRequest.maximumMilliseconds),
        ]
    )
    func milliseconds(duration: Duration, expected: Int) {
        #expect(PreparedRequest.milliseconds(duration) == expected)
    }

    @Test(
        "origin keeps scheme, host and port only",
        arguments: [
            ("https://user:pass@example.com:8443/p?token=abc", "https://example.com:8443"),
            ("http://127.0.0.1:8080", "http://127.0.0.1:8080"),
            ("http://[::1]:80/x", "http://[::1]:80"),
            ("HTTP://host?x=1", "http://host"),
            ("http://host#frag", "http://host"),
            ("ftp://host/", nil),
            ("http:///path", nil),
            ("http://:80/", nil),
            ("https:/host", nil),
        ] as [(String, String?)]
    )
    func origin(url: String, expected: String?) {
        #expect(PreparedRequest.origin(of: url) == expected)
    }

    @Test(
        "raw header lines become name/value pairs of the final response",
        arguments: [
            (["HTTP/1.1 200 OK\r\n", "Content-Type: text/plain\r\n", "\r\n"], ["Content-Type=text/plain"]),
            (
                ["HTTP/1.1 100 Continue\r\n", "X-A: 1\r\n", "\r\n", "HTTP/1.1 200 OK\r\n", "X-B: 2\r\n", "\r\n"],
                ["X-B=2"]
            ),
            (["HTTP/2 204 \r\n", "x-lower: v\r\n"], ["x-lower=v"]),
            (["X-Spaces:   padded value \t\r\n"], ["X-Spaces=padded value"]),
            (["X-Empty:\r\n"], ["X-Empty="]),
            (["X-Long: first\r\n", "  second  \r\n"], ["X-Long=first second"]),
            (["  orphan continuation\r\n"], []),
            (["garbage line\r\n", ": no name\r\n"], []),
            (["Location: http://h:1/p\r\n"], ["Location=http://h:1/p"]),
            (["X-A: 1\n"], ["X-A=1"]),
            (["Set-Cookie: a=1\r\n", "Set-Cookie: b=2\r\n"], ["Set-Cookie=a=1", "Set-Cookie=b=2"]),
            (["X-Utf8: wörld\r\n"], ["X-Utf8=wörld"]),
        ] as [([String], [String])]
    )
    func headerParsing(lines: [String], expected: [String]) {
        var headers: [(name: String, value: String)] = []
        for line in lines {
            Array(line.utf8).withUnsafeBytes { ResponseHeaderParser.consume($0, into: &headers) }
        }
        #expect(headers.map { "\($0.name)=\($0.value)" } == expected)
    }

    @Test(
        "configuration problems name the property",
        arguments: [
            (CurlHTTPClient.Configuration(connectTimeout: .zero), "connectTimeout"),
            (CurlHTTPClient.Configuration(maxConnectionsPerHost: 0), "maxConnectionsPerHost"),
            (CurlHTTPClient.Configuration(maxConnectionsPerHost: 8, maxTotalConnections: 4), "maxTotalConnections"),
            (CurlHTTPClient.Configuration(maxResponseBytes: -1), "maxResponseBytes"),
            (CurlHTTPClient.Configuration(userAgent: "a\r\nb"), "userAgent"),
        ]
    )
    func configurationValidation(configuration: CurlHTTPClient.Configuration, property: String) {
        do {
            let client = try CurlHTTPClient(configuration: configuration, logger: quietLogger)
            client.shutdown()
            Issue.record("accepted an invalid configuration")
        } catch {
            #expect(error.code == .invalidRequest)
            #expect(error.message.contains("Configuration.\(property)"), "\(error.message)")
        }
    }
}
