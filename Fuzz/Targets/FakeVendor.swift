import BatchGateCore
import BatchGateProviders
import Logging

/// An HTTP transport that answers every request from the fuzz input instead of a network: `answer`
/// maps the request to a status and body. Nothing leaves the process.
struct ScriptedHTTPTransport: HTTPTransport {
    let answer: @Sendable (HTTPRequest) -> HTTPResponse

    func send(_ request: HTTPRequest) async throws(TransportError) -> HTTPResponse {
        answer(request)
    }
}

/// A WebSocket transport whose connection delivers the given text messages in order, then closes
/// normally (code 1000), the way a vendor that sends and hangs up does.
struct ScriptedWebSocketTransport: WebSocketTransport {
    let messages: [String]

    func connect(
        _ request: WebSocketRequest,
        onText: @escaping @Sendable (String) async throws -> WebSocketNext
    ) async throws -> WebSocketClose {
        for message in messages {
            if try await onText(message) == .close { return WebSocketClose(code: 1000, byUs: true) }
        }
        return WebSocketClose(code: 1000)
    }
}

/// Pieces shared by the provider entries.
enum FuzzVendor {
    /// A logger that drops everything: the fuzzer runs millions of inputs.
    static let logger = Logger(label: "batchgate.fuzz") { _ in SwiftLogNoOpLogHandler() }

    /// A 200 answer with `body` as JSON.
    static func ok(_ body: [UInt8]) -> HTTPResponse {
        HTTPResponse(status: 200, headers: [("Content-Type", "application/json")], body: body)
    }

    /// Settings as the config loader would build them from `providers.yaml`.
    static func settings(name: String, kind: String, options: [String: ConfigValue]) -> ProviderSettings {
        ProviderSettings(name: name, kind: kind, baseURL: "http://127.0.0.1:9", options: options)
    }

    /// The URL batch the URL-batch entries submit: the URLs of the vendor docs and fixtures, so seed
    /// responses match items by URL; `customIDs` as the AirOps fixtures name them.
    static let urls = [
        "https://example.com/blog/launch", "https://example.com/missing", "https://example.com/pricing",
        "https://example.com/page1", "https://example.com/page2", "https://example.com/page3",
    ]
}
