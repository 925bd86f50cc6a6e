/// The whole of `providers.yaml`, typed (CONTRACT §5). Built by `BatchGateConfig`.
public struct GatewayConfiguration: Sendable {
    public var server: ServerSettings
    public var store: StoreSettings
    public var apiKeys: [APIKeySettings]
    public var webhooks: WebhookSettings
    /// Providers in file order.
    public var providers: [ProviderSettings]
    /// Routes in file order.
    public var routes: [RouteSettings]
    /// Where traces are exported; nil (the default) when tracing is off.
    public var telemetry: TelemetrySettings?

    public init(
        server: ServerSettings = ServerSettings(),
        store: StoreSettings = .sqlite(path: "./batchgate.sqlite"),
        apiKeys: [APIKeySettings] = [],
        webhooks: WebhookSettings = WebhookSettings(),
        providers: [ProviderSettings] = [],
        routes: [RouteSettings] = []
    ) {
        self.server = server
        self.store = store
        self.apiKeys = apiKeys
        self.webhooks = webhooks
        self.providers = providers
        self.routes = routes
    }

    /// The provider with that name.
    public func provider(named name: String) -> ProviderSettings? { providers.first { $0.name == name } }
    /// The route with that name.
    public func route(named name: String) -> RouteSettings? { routes.first { $0.name == name } }
}

/// `telemetry:`: OpenTelemetry traces exported over OTLP/HTTP. Tracing is off unless the section is given.
public struct TelemetrySettings: Sendable, Hashable {
    /// `traces_endpoint`: the collector's OTLP/HTTP traces URL, such as `http://127.0.0.1:4318/v1/traces`.
    public var tracesEndpoint: String
    /// `sampling`: the fraction of new traces recorded, 0 to 1. A request whose `traceparent` says its
    /// trace is sampled is always recorded, one that says it is not never is (parent-based sampling).
    public var sampling: Double = 1
    /// `protocol`: how spans are encoded.
    public var traceProtocol: TraceProtocol = .httpProtobuf
    /// `service_name`: the `service.name` resource attribute of every span.
    public var serviceName: String = "batchgate"

    /// OTLP/HTTP's two encodings.
    public enum TraceProtocol: String, Sendable, Hashable, CaseIterable {
        case httpProtobuf = "http/protobuf"
        case httpJSON = "http/json"
    }

    public init(tracesEndpoint: String) {
        self.tracesEndpoint = tracesEndpoint
    }
}

/// `server:`
public struct ServerSettings: Sendable, Hashable {
    public var host: String = "127.0.0.1"
    public var port: Int = 8080
    /// Base of `polling_url`, `cancel_url` and of the webhook URLs given to vendors.
    public var publicURL: String = "http://127.0.0.1:8080"
    public var maxBodyBytes: Int = 1_048_576
    /// `log_format`: how log lines are written to standard error.
    public var logFormat: LogFormat = .text

    /// `text` (swift-log's default lines) or `json` (one object per line, for log shippers).
    public enum LogFormat: String, Sendable, Hashable, CaseIterable {
        case text, json
    }

    public init(host: String = "127.0.0.1", port: Int = 8080, publicURL: String = "http://127.0.0.1:8080", maxBodyBytes: Int = 1_048_576) {
        self.host = host
        self.port = port
        self.publicURL = publicURL
        self.maxBodyBytes = maxBodyBytes
    }
}

/// `store:`
public enum StoreSettings: Sendable, Hashable {
    case sqlite(path: String)
    case postgres(PostgresSettings)
}

/// `store: {postgres: URL, pool_size: N, statement_timeout: D}`.
public struct PostgresSettings: Sendable, Hashable {
    /// `postgres://user:password@host:port/database?sslmode=...`.
    public var url: String
    /// The most connections each replica opens (besides the one that listens for changes).
    public var poolSize: Int
    /// How long one statement may run before the server cancels it.
    public var statementTimeout: Duration

    public init(url: String, poolSize: Int = 10, statementTimeout: Duration = .seconds(30)) {
        self.url = url
        self.poolSize = poolSize
        self.statementTimeout = statementTimeout
    }
}

/// One entry of `auth.api_keys`.
public struct APIKeySettings: Sendable, Hashable {
    public var tenant: String
    public var key: String

    public init(tenant: String, key: String) {
        self.tenant = tenant
        self.key = key
    }
}

/// `webhooks:` (deliveries to clients).
public struct WebhookSettings: Sendable, Hashable {
    public var maxAttempts: Int = 8
    public var initialBackoff: Duration = .seconds(1)
    public var maxBackoff: Duration = .seconds(600)
    public var timeout: Duration = .seconds(30)
    public var allowInsecureLoopback: Bool = false
    /// Tenant → the subscription a job gets when its create request names no webhook.
    public var defaults: [String: WebhookSubscription] = [:]

    public init(
        maxAttempts: Int = 8,
        initialBackoff: Duration = .seconds(1),
        maxBackoff: Duration = .seconds(600),
        timeout: Duration = .seconds(30),
        allowInsecureLoopback: Bool = false,
        defaults: [String: WebhookSubscription] = [:]
    ) {
        self.maxAttempts = maxAttempts
        self.initialBackoff = initialBackoff
        self.maxBackoff = maxBackoff
        self.timeout = timeout
        self.allowInsecureLoopback = allowInsecureLoopback
        self.defaults = defaults
    }
}

/// A typed value of a provider's kind-specific option.
public enum ConfigValue: Sendable, Hashable {
    /// A `.string` option.
    case string(String)
    /// An `.int` option.
    case int(Int)
    /// A `.bool` option.
    case bool(Bool)
    /// A `.duration` option.
    case duration(Duration)
    /// A `.jsonObject` option: always a `JSONValue.object`.
    case json(JSONValue)
}

/// The type a provider option must have.
public enum ConfigValueType: String, Sendable, Hashable {
    /// Any scalar, kept as written; `ProviderOptionSpec.allowedValues` may restrict it.
    case string
    /// A whole number, within `ProviderOptionSpec.intRange` when given.
    case int
    /// `true` or `false`.
    case bool
    /// `200ms`, `15s`, `10m` or `1h`, within `ProviderOptionSpec.durationRange` when given.
    case duration
    /// A YAML mapping, converted to a JSON object: nested mappings and sequences become objects and
    /// arrays, plain scalars that are numbers, booleans or null (YAML core schema) become those, and every
    /// other scalar a string.
    case jsonObject
}

/// One provider option a kind accepts.
public struct ProviderOptionSpec: Sendable, Hashable {
    /// The option's key under the provider in `providers.yaml`.
    public var name: String
    /// The type its value must have.
    public var type: ConfigValueType
    /// Whether a provider of this kind must give it.
    public var required: Bool
    /// Allowed values for a string option; empty: any.
    public var allowedValues: [String]
    /// The range an `.int` option must fall in; nil: any integer.
    public var intRange: ClosedRange<Int>?
    /// The range a `.duration` option must fall in; nil: the loader's general bound for duration options.
    public var durationRange: ClosedRange<Duration>?

    /// An option named `name` (its YAML key) of type `type`; the ranges apply to `.int` and `.duration` options.
    public init(
        _ name: String,
        _ type: ConfigValueType,
        required: Bool = false,
        allowedValues: [String] = [],
        intRange: ClosedRange<Int>? = nil,
        durationRange: ClosedRange<Duration>? = nil
    ) {
        self.name = name
        self.type = type
        self.required = required
        self.allowedValues = allowedValues
        self.intRange = intRange
        self.durationRange = durationRange
    }
}

/// What the config loader needs to know of a provider kind: its options and the job kinds it serves.
public struct ProviderKindSpec: Sendable, Hashable {
    /// The `kind:` name, e.g. `aitronos-scrape`.
    public var kind: String
    /// The job kinds a provider of this kind serves; routes of other kinds cannot target it.
    public var jobKinds: Set<JobKind>
    /// Options beyond the common ones (`kind`, `base_url`, `poll_interval`, `timeout`).
    public var options: [ProviderOptionSpec]

    /// A kind named `kind` serving `jobKinds`, with `options` beyond the common ones.
    public init(kind: String, jobKinds: Set<JobKind>, options: [ProviderOptionSpec]) {
        self.kind = kind
        self.jobKinds = jobKinds
        self.options = options
    }
}

/// One entry of `providers:`.
public struct ProviderSettings: Sendable, Hashable {
    public var name: String
    public var kind: String
    public var baseURL: String
    public var pollInterval: Duration
    /// Per request to the vendor.
    public var timeout: Duration
    /// Kind-specific options, e.g. `token`, `api_key`, `auth`.
    public var options: [String: ConfigValue]

    public init(
        name: String,
        kind: String,
        baseURL: String,
        pollInterval: Duration = .seconds(15),
        timeout: Duration = .seconds(30),
        options: [String: ConfigValue] = [:]
    ) {
        self.name = name
        self.kind = kind
        self.baseURL = baseURL
        self.pollInterval = pollInterval
        self.timeout = timeout
        self.options = options
    }

    /// A string option, or nil.
    public func string(_ name: String) -> String? {
        if case .string(let value) = options[name] { return value }
        return nil
    }

    /// An integer option, or nil.
    public func int(_ name: String) -> Int? {
        if case .int(let value) = options[name] { return value }
        return nil
    }

    /// A boolean option, or nil.
    public func bool(_ name: String) -> Bool? {
        if case .bool(let value) = options[name] { return value }
        return nil
    }

    /// A duration option, or nil.
    public func duration(_ name: String) -> Duration? {
        if case .duration(let value) = options[name] { return value }
        return nil
    }

    /// A `.jsonObject` option (always a `JSONValue.object`), or nil.
    public func json(_ name: String) -> JSONValue? {
        if case .json(let value) = options[name] { return value }
        return nil
    }
}

/// One weighted target of a route.
public struct RouteTarget: Sendable, Hashable {
    public var provider: String
    public var weight: Int

    public init(provider: String, weight: Int = 1) {
        self.provider = provider
        self.weight = weight
    }
}

/// One entry of `routes:`.
public struct RouteSettings: Sendable, Hashable {
    public var name: String
    public var kind: JobKind
    public var targets: [RouteTarget]
    /// Providers tried in order when a submit to the chosen target fails with a retryable error.
    public var fallback: [String]

    public init(name: String, kind: JobKind, targets: [RouteTarget], fallback: [String] = []) {
        self.name = name
        self.kind = kind
        self.targets = targets
        self.fallback = fallback
    }
}
