import BatchGateCore
import BatchGateFuzzTargets
import BatchGateProviders
import BatchGateServer
import BatchGateWebhooks
import Logging

/// `POST /v1/batches` bodies: `CreateRequest.parse` against the routes of a gateway with all three
/// vendors, then the check of the route's first provider (`validate`), as the engine runs it before
/// anything is stored.
enum CreateRequestFuzz {
    static let entry = FuzzEntry(
        name: "create-request",
        summary: "CreateRequest.parse (route, input, metadata, webhook) and the target provider's validate",
        steps: ["url_batch", "document_tagging", "refused"],
        run: run
    )

    /// The routes of the shipped `providers.yaml`, plus one per vendor.
    static let routes: [String: RouteSettings] = [
        "scrape": RouteSettings(name: "scrape", kind: .urlBatch, targets: [RouteTarget(provider: "airops", weight: 100)]),
        "scrape-aitronos": RouteSettings(name: "scrape-aitronos", kind: .urlBatch, targets: [RouteTarget(provider: "aitronos")]),
        "tag-documents": RouteSettings(name: "tag-documents", kind: .documentTagging, targets: [RouteTarget(provider: "tagger")]),
    ]

    static let providers: [String: any BatchProvider] = {
        let context = ProviderContext(
            transport: RefusingTransport(),
            logger: Logger(label: "batchgate.fuzz") { _ in SwiftLogNoOpLogHandler() }
        )
        let settings = [
            ProviderSettings(name: "airops", kind: "olostep-airops", baseURL: "http://127.0.0.1:9", options: ["token": .string("t")]),
            ProviderSettings(name: "aitronos", kind: "aitronos-scrape", baseURL: "http://127.0.0.1:9", options: ["api_key": .string("k")]),
            ProviderSettings(name: "tagger", kind: "doc-tagging-ws", baseURL: "http://127.0.0.1:9", options: ["token": .string("t")]),
        ]
        var providers: [String: any BatchProvider] = [:]
        for setting in settings {
            guard let provider = ProviderRegistry.standard.makeProvider(setting, context: context) else {
                fatalError("The fuzz harness has no adapter for kind \(setting.kind).")
            }
            providers[setting.name] = provider
        }
        return providers
    }()

    /// Webhook URLs are checked without DNS: every name fails to resolve.
    static let urlPolicy = WebhookURLPolicy(allowInsecureLoopback: false, resolver: UnresolvingResolver())

    static func run(_ body: [UInt8]) async -> Set<String> {
        let parsed: CreateRequest.Parsed
        do {
            parsed = try CreateRequest.parse(body, routes: routes, urlPolicy: urlPolicy)
        } catch {
            FuzzInvariant.require((400..<500).contains(error.status), "a bad body is a client error (\(error.status))")
            return ["refused"]
        }
        FuzzInvariant.require(parsed.input.kind == parsed.route.kind, "the input's kind is the route's kind")
        guard let target = parsed.route.targets.first, let provider = providers[target.provider] else {
            fatalError("The fuzz harness's route \(parsed.route.name) names no provider.")
        }
        do {
            try provider.validate(parsed.input)
        } catch {
            FuzzInvariant.require((400..<500).contains(error.status), "an input a vendor refuses is a client error (\(error.status))")
            return ["refused"]
        }
        return [parsed.route.kind.rawValue]
    }
}

/// A resolver that knows no name, so no fuzz input causes a DNS lookup.
struct UnresolvingResolver: HostResolver {
    func resolve(host: String, port: Int) async throws(GatewayError) -> [IPAddress] {
        throw GatewayError(status: 400, code: WebhookURLPolicy.unresolvableCode, message: "\(host) is not resolved while fuzzing.")
    }
}

/// A transport that never reaches a network.
struct RefusingTransport: HTTPTransport {
    func send(_ request: HTTPRequest) async throws(TransportError) -> HTTPResponse {
        throw TransportError(.connection, "no network while fuzzing")
    }
}
