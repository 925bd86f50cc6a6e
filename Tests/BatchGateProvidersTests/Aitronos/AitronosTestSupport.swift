import BatchGateCore
import BatchGateProviders
import Synchronization

/// Answers each request with what `respond` returns for it, and remembers the requests.
final class RoutedTransport: HTTPTransport {
    typealias Responder = @Sendable (HTTPRequest) async throws(TransportError) -> HTTPResponse

    private let respond: Responder
    private let sent = Mutex<[HTTPRequest]>([])

    init(_ respond: @escaping Responder) { self.respond = respond }

    /// Answers every request with the same status and body.
    convenience init(status: Int = 200, headers: [(name: String, value: String)] = [], body: [UInt8]) {
        self.init { _ throws(TransportError) in HTTPResponse(status: status, headers: headers, body: body) }
    }

    func send(_ request: HTTPRequest) async throws(TransportError) -> HTTPResponse {
        sent.withLock { $0.append(request) }
        return try await respond(request)
    }

    func requests() -> [HTTPRequest] { sent.withLock { $0 } }
}

enum AitronosFixtures {
    /// Settings for an adapter; `options` adds to or replaces `api_key`.
    static func settings(
        baseURL: String = "http://127.0.0.1:1",
        apiKey: String = "ait_key",
        timeout: Duration = .seconds(5),
        options: [String: ConfigValue] = [:]
    ) -> ProviderSettings {
        ProviderSettings(
            name: "aitronos",
            kind: "aitronos-scrape",
            baseURL: baseURL,
            pollInterval: .milliseconds(20),
            timeout: timeout,
            options: ["api_key": .string(apiKey)].merging(options) { _, new in new }
        )
    }

    static func provider(_ transport: any HTTPTransport, settings: ProviderSettings = settings()) -> AitronosProvider {
        AitronosProvider(settings: settings, context: ProviderContext(transport: transport, logger: quietLogger))
    }

    /// The schema of the vendor page's example.
    static let schema: JSONValue = [
        "type": "object", "properties": ["title": ["type": "string"], "content": ["type": "string"]],
    ]

    static func input(_ urls: [String], customIDs: [String]? = nil, schema: JSONValue? = schema, options: JSONValue? = nil) -> JobInput {
        .urlBatch(URLBatchInput(urls: urls, customIDs: customIDs, schema: schema, options: options))
    }
}
