public import BatchGateCore
public import Logging

/// What an adapter gets from the gateway when it is built.
public struct ProviderContext: Sendable {
    /// The HTTP client for vendor calls.
    public var transport: any HTTPTransport
    /// The WebSocket client for vendors that push over a socket; nil where none is available.
    public var webSocket: (any WebSocketTransport)?
    public var logger: Logger

    public init(transport: any HTTPTransport, webSocket: (any WebSocketTransport)? = nil, logger: Logger) {
        self.transport = transport
        self.webSocket = webSocket
        self.logger = logger
    }
}

/// The explicit table from a `providers.yaml` `kind` to its adapter. Adding a provider adds one entry here.
public struct ProviderRegistry: Sendable {
    /// Builds one adapter from its settings.
    public typealias Factory = @Sendable (ProviderSettings, ProviderContext) -> any BatchProvider

    /// One provider kind: what the config loader checks, and how to build it.
    public struct Entry: Sendable {
        public var spec: ProviderKindSpec
        public var factory: Factory

        public init(spec: ProviderKindSpec, factory: @escaping Factory) {
            self.spec = spec
            self.factory = factory
        }
    }

    public var entries: [String: Entry]

    public init(entries: [Entry]) {
        self.entries = Dictionary(uniqueKeysWithValues: entries.map { ($0.spec.kind, $0) })
    }

    /// Every provider kind BatchGate ships.
    public static let standard = ProviderRegistry(entries: [
        Entry(spec: AirOpsProvider.kindSpec) { AirOpsProvider(settings: $0, context: $1) },
        Entry(spec: AitronosProvider.kindSpec) { AitronosProvider(settings: $0, context: $1) },
        Entry(spec: TaggerProvider.kindSpec) { TaggerProvider(settings: $0, context: $1) },
    ])

    /// The specs the config loader validates `providers:` against.
    public var kindSpecs: [String: ProviderKindSpec] { entries.mapValues(\.spec) }

    /// Builds the adapter for one configured provider; nil for an unknown kind (the loader refuses those).
    public func makeProvider(_ settings: ProviderSettings, context: ProviderContext) -> (any BatchProvider)? {
        entries[settings.kind].map { $0.factory(settings, context) }
    }
}
