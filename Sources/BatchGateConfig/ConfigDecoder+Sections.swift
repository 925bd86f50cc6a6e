import BatchGateCore

/// The sections of `providers.yaml` (CONTRACT §5).
extension ConfigDecoder {
    static let topLevelKeys = ["server", "store", "auth", "webhooks", "telemetry", "providers", "routes"]
    static let telemetryKeys = ["traces_endpoint", "sampling", "protocol", "service_name"]
    static let serverKeys = ["listen", "public_url", "max_body_bytes", "log_format"]
    static let storeKeys = ["sqlite", "postgres", "pool_size", "statement_timeout"]
    static let webhookKeys = ["max_attempts", "initial_backoff", "max_backoff", "timeout", "allow_insecure_loopback", "defaults"]
    static let commonProviderKeys = ["kind", "base_url", "poll_interval", "timeout"]
    static let routeKeys = ["kind", "targets", "fallback"]
    static let providerNameRule = "[a-z0-9][a-z0-9_-]*"

    /// The whole configuration; nil when any problem was reported.
    mutating func decode(_ root: YAMLNode?) -> GatewayConfiguration? {
        guard let root else {
            report(.start, .root, "the file is empty; it needs at least auth, providers and routes")
            return nil
        }
        guard let top = mapping(root, .root, allowed: Self.topLevelKeys, required: ["auth", "providers", "routes"]) else {
            return nil
        }
        var configuration = GatewayConfiguration()
        if let node = top["server"], !node.isNull {
            configuration.server = server(node, ConfigPath.root.appending("server"))
        }
        if let node = top["store"], !node.isNull {
            configuration.store = store(node, ConfigPath.root.appending("store")) ?? configuration.store
        }
        if let node = top["auth"] {
            configuration.apiKeys = apiKeys(node, ConfigPath.root.appending("auth"))
        }
        if let node = top["webhooks"], !node.isNull {
            configuration.webhooks = webhooks(node, ConfigPath.root.appending("webhooks"))
        }
        if let node = top["telemetry"], !node.isNull {
            configuration.telemetry = telemetry(node, ConfigPath.root.appending("telemetry"))
        }
        var declared = DeclaredProviders()
        if let node = top["providers"] {
            (configuration.providers, declared) = providers(node, ConfigPath.root.appending("providers"))
        }
        if let node = top["routes"] {
            configuration.routes = routes(node, ConfigPath.root.appending("routes"), declared: declared)
        }
        return problems.isEmpty ? configuration : nil
    }

    // MARK: server, store, auth, webhooks

    mutating func server(_ node: YAMLNode, _ path: ConfigPath) -> ServerSettings {
        var settings = ServerSettings()
        guard let server = mapping(node, path, allowed: Self.serverKeys) else { return settings }
        if let node = server["listen"], let text = stringScalar(node, path.appending("listen")) {
            if let hostPort = HostPort.parse(Substring(text.text), portRequired: true), let port = hostPort.port {
                settings.host = hostPort.host
                settings.port = port
                settings.publicURL = "http://\(text.text)"
            } else {
                report(
                    node.mark,
                    path.appending("listen"),
                    "expected host:port like 127.0.0.1:8080 or [::1]:8080, got \(describe(text, path.appending("listen")))"
                )
            }
        }
        if let node = server["public_url"], let url = httpURL(node, path.appending("public_url")) {
            settings.publicURL = url
        }
        if let node = server["log_format"], let text = string(node, path.appending("log_format")) {
            if let format = ServerSettings.LogFormat(rawValue: text) {
                settings.logFormat = format
            } else {
                report(node.mark, path.appending("log_format"), "expected text or json, got \"\(text)\"")
            }
        }
        if let node = server["max_body_bytes"],
            let bytes = int(node, path.appending("max_body_bytes"), in: ConfigBounds.maxBodyBytes, bound: ByteCount.format)
        {
            settings.maxBodyBytes = bytes
        }
        return settings
    }

    mutating func store(_ node: YAMLNode, _ path: ConfigPath) -> StoreSettings? {
        guard let store = mapping(node, path, allowed: Self.storeKeys) else { return nil }
        switch (store["sqlite"], store["postgres"]) {
        case (nil, nil):
            report(node.mark, path, "expected one of sqlite or postgres")
        case (.some, .some):
            report(store.keyMark("postgres"), path, "give either sqlite or postgres, not both")
        case (.some(let node), nil):
            for key in ["pool_size", "statement_timeout"] where store[key] != nil {
                report(store.keyMark(key), path.appending(key), "applies to store.postgres only")
            }
            return string(node, path.appending("sqlite")).map { .sqlite(path: $0) }
        case (nil, .some(let node)):
            // A database URL usually holds a password: its value is never shown.
            guard let url = string(node, path.appending("postgres")) else { return nil }
            guard URLText.isPostgresURL(url) else {
                report(node.mark, path.appending("postgres"), "expected a postgres:// or postgresql:// URL (value not shown)")
                return nil
            }
            var settings = PostgresSettings(url: url)
            if let node = store["pool_size"], let size = int(node, path.appending("pool_size"), in: ConfigBounds.storePoolSize) {
                settings.poolSize = size
            }
            if let node = store["statement_timeout"],
                let timeout = duration(node, path.appending("statement_timeout"), in: ConfigBounds.storeStatementTimeout)
            {
                settings.statementTimeout = timeout
            }
            return .postgres(settings)
        }
        return nil
    }

    mutating func telemetry(_ node: YAMLNode, _ path: ConfigPath) -> TelemetrySettings? {
        guard let telemetry = mapping(node, path, allowed: Self.telemetryKeys, required: ["traces_endpoint"]),
            let endpointNode = telemetry["traces_endpoint"], let endpoint = httpURL(endpointNode, path.appending("traces_endpoint"))
        else { return nil }
        var settings = TelemetrySettings(tracesEndpoint: endpoint)
        if let node = telemetry["sampling"], let scalar = scalar(node, path.appending("sampling"), expected: "a number from 0 to 1") {
            switch scalar.value {
            case .int(let value) where (0...1).contains(value): settings.sampling = Double(value)
            case .float(let value) where (0...1).contains(value): settings.sampling = value
            default:
                report(node.mark, path.appending("sampling"), "expected a number from 0 to 1, got \(describe(scalar, path.appending("sampling")))")
            }
        }
        if let node = telemetry["protocol"], let text = string(node, path.appending("protocol")) {
            if let value = TelemetrySettings.TraceProtocol(rawValue: text) {
                settings.traceProtocol = value
            } else {
                report(node.mark, path.appending("protocol"), "expected http/protobuf or http/json, got \"\(text)\"")
            }
        }
        if let node = telemetry["service_name"], let name = string(node, path.appending("service_name")) {
            settings.serviceName = name
        }
        return settings
    }

    mutating func apiKeys(_ node: YAMLNode, _ path: ConfigPath) -> [APIKeySettings] {
        guard let auth = mapping(node, path, allowed: ["api_keys"], required: ["api_keys"]),
            let listNode = auth["api_keys"], let items = sequence(listNode, path.appending("api_keys"))
        else { return [] }
        if items.isEmpty {
            report(listNode.mark, path.appending("api_keys"), "at least one API key is required")
        }
        var keys: [APIKeySettings] = []
        var firstIndexOfKey: [String: Int] = [:]
        for (index, item) in items.enumerated() {
            let itemPath = path.appending("api_keys").appending(index: index)
            guard let entry = mapping(item, itemPath, allowed: ["tenant", "key"], required: ["tenant", "key"]) else { continue }
            let tenant = entry["tenant"].flatMap { string($0, itemPath.appending("tenant")) }
            var key: String?
            if let keyNode = entry["key"], let value = string(keyNode, itemPath.appending("key")) {
                if let first = firstIndexOfKey[value] {
                    report(
                        keyNode.mark,
                        itemPath.appending("key"),
                        "the same key is already given at \(path.appending("api_keys").appending(index: first).appending("key")); each key must be unique"
                    )
                } else {
                    firstIndexOfKey[value] = index
                    key = value
                }
            }
            if let tenant, let key { keys.append(APIKeySettings(tenant: tenant, key: key)) }
        }
        return keys
    }

    mutating func webhooks(_ node: YAMLNode, _ path: ConfigPath) -> WebhookSettings {
        var settings = WebhookSettings()
        guard let webhooks = mapping(node, path, allowed: Self.webhookKeys) else { return settings }
        if let node = webhooks["max_attempts"], let value = int(node, path.appending("max_attempts"), in: ConfigBounds.webhookMaxAttempts) {
            settings.maxAttempts = value
        }
        // How each backoff reads in the message comparing them: as written, or where it came from.
        var initialShown = "default " + DurationText.format(settings.initialBackoff)
        var initialValid = true
        if let node = webhooks["initial_backoff"] {
            if let value = durationScalar(node, path.appending("initial_backoff"), in: ConfigBounds.webhookInitialBackoff) {
                settings.initialBackoff = value.duration
                initialShown = value.scalar.variables.isEmpty ? DurationText.format(value.duration) : shown(value.scalar)
            } else {
                initialValid = false
            }
        }
        var maxShown = "default " + DurationText.format(settings.maxBackoff)
        var maxValid = true
        if let node = webhooks["max_backoff"] {
            if let value = durationScalar(node, path.appending("max_backoff"), in: ConfigBounds.webhookMaxBackoff) {
                settings.maxBackoff = value.duration
                maxShown = value.scalar.variables.isEmpty ? DurationText.format(value.duration) : shown(value.scalar)
            } else {
                maxValid = false
            }
        }
        if let node = webhooks["timeout"], let value = duration(node, path.appending("timeout"), in: ConfigBounds.webhookTimeout) {
            settings.timeout = value
        }
        if let node = webhooks["allow_insecure_loopback"], let value = bool(node, path.appending("allow_insecure_loopback")) {
            settings.allowInsecureLoopback = value
        }
        if let node = webhooks["defaults"], !node.isNull {
            settings.defaults = webhookDefaults(node, path.appending("defaults"))
        }
        if initialValid, maxValid, settings.maxBackoff < settings.initialBackoff {
            if let node = webhooks["max_backoff"] {
                report(node.mark, path.appending("max_backoff"), "must be at least initial_backoff (\(initialShown)), got \(maxShown)")
            } else if let node = webhooks["initial_backoff"] {
                report(node.mark, path.appending("initial_backoff"), "must be at most max_backoff (\(maxShown)), got \(initialShown)")
            }
        }
        return settings
    }

    /// `webhooks.defaults`: tenant → `{url, secret?, events?}`, the subscription of jobs whose create
    /// request names none. The URL's address rules are checked when the gateway starts.
    mutating func webhookDefaults(_ node: YAMLNode, _ path: ConfigPath) -> [String: WebhookSubscription] {
        guard let tenants = mapping(node, path, allowed: nil) else { return [:] }
        var defaults: [String: WebhookSubscription] = [:]
        for entry in tenants.entries {
            let entryPath = path.appending(entry.key)
            guard let fields = mapping(entry.value, entryPath, allowed: ["url", "secret", "events"], required: ["url"]) else { continue }
            var url: String?
            if let urlNode = fields["url"], let text = string(urlNode, entryPath.appending("url")) {
                let lowered = text.lowercased()
                if lowered.hasPrefix("https://") || lowered.hasPrefix("http://") {
                    url = text
                } else {
                    report(urlNode.mark, entryPath.appending("url"), "expected an https URL like https://hooks.example.com/batchgate")
                }
            }
            var secret: String?
            if let secretNode = fields["secret"], let text = string(secretNode, entryPath.appending("secret")) {
                if text.hasPrefix("whsec_") {
                    secret = text
                } else {
                    report(secretNode.mark, entryPath.appending("secret"), "expected a whsec_<base64> secret (value not shown)")
                }
            }
            var events = WebhookEventType.defaultSubscription
            var eventsValid = true
            if let eventsNode = fields["events"], let items = sequence(eventsNode, entryPath.appending("events")) {
                events = []
                for (index, item) in items.enumerated() {
                    let itemPath = entryPath.appending("events").appending(index: index)
                    guard let name = stringScalar(item, itemPath) else {
                        eventsValid = false
                        continue
                    }
                    guard let type = WebhookEventType(rawValue: name.text) else {
                        report(
                            item.mark,
                            itemPath,
                            "unknown event \(describe(name, itemPath)); one of \(WebhookEventType.allCases.map(\.rawValue).joined(separator: ", "))"
                        )
                        eventsValid = false
                        continue
                    }
                    if !events.contains(type) { events.append(type) }
                }
                if items.isEmpty {
                    report(eventsNode.mark, entryPath.appending("events"), "must name at least one event")
                    eventsValid = false
                }
            }
            if let url, eventsValid {
                defaults[entry.key] = WebhookSubscription(url: url, secret: secret, events: events)
            }
        }
        return defaults
    }

    // MARK: providers

    /// Every provider name given under `providers:`, valid or not, so routes are checked against what the
    /// file says rather than against what survived decoding.
    struct DeclaredProviders {
        /// Names in file order.
        var names: [String] = []
        /// The same names, for lookups.
        var nameSet: Set<String> = []

        /// The names as a message lists them: the first few, then how many more.
        var listed: String {
            if names.isEmpty { return "none" }
            let shownCount = 20
            let more = names.count > shownCount ? ", and \(names.count - shownCount) more" : ""
            return names.prefix(shownCount).joined(separator: ", ") + more
        }
        /// The kind's spec when the provider's `kind` is known.
        var specs: [String: ProviderKindSpec] = [:]
    }

    mutating func providers(_ node: YAMLNode, _ path: ConfigPath) -> ([ProviderSettings], DeclaredProviders) {
        var declared = DeclaredProviders()
        guard let providers = mapping(node, path, allowed: nil) else { return ([], declared) }
        if providers.entries.isEmpty {
            report(node.mark, path, "at least one provider is required")
        }
        var settings: [ProviderSettings] = []
        for entry in providers.entries {
            let providerPath = path.appending(entry.key)
            declared.names.append(entry.key)
            declared.nameSet.insert(entry.key)
            if !Self.isValidProviderName(entry.key) {
                report(entry.keyMark, providerPath, "provider name must match \(Self.providerNameRule) (lowercase letters, digits, _ and -)")
            }
            if let (provider, spec) = self.provider(entry.key, entry.value, providerPath) {
                declared.specs[entry.key] = spec
                if let provider { settings.append(provider) }
            }
        }
        return (settings, declared)
    }

    /// One provider; nil when it is not a mapping, else the settings (nil when invalid) and the kind's spec
    /// (nil when the kind is missing or unknown).
    private mutating func provider(_ name: String, _ node: YAMLNode, _ path: ConfigPath) -> (ProviderSettings?, ProviderKindSpec?)? {
        guard case .mapping(let entries) = node.content else {
            report(node.mark, path, "expected a mapping, got a \(node.content.kindName)")
            return nil
        }
        var spec: ProviderKindSpec?
        if let kindNode = entries.first(where: { $0.key == "kind" })?.value, let kind = stringScalar(kindNode, path.appending("kind")) {
            spec = providerKinds[kind.text]
            if spec == nil {
                let known = providerKinds.keys.sorted().joined(separator: ", ")
                report(
                    kindNode.mark,
                    path.appending("kind"),
                    "unknown provider kind \(describe(kind, path.appending("kind"))); known kinds: \(known)"
                )
            }
        }
        let optionSpecs = spec?.options.filter { !Self.commonProviderKeys.contains($0.name) } ?? []
        // With an unknown kind the allowed options are unknown too: only the common keys are checked.
        let allowed = spec.map { _ in Self.commonProviderKeys + optionSpecs.map(\.name) }
        guard let provider = mapping(node, path, allowed: allowed, required: ["kind", "base_url"]) else { return nil }

        let baseURL = provider["base_url"].flatMap { httpURL($0, path.appending("base_url")) }
        var pollInterval: Duration = .seconds(15)
        if let node = provider["poll_interval"], let value = duration(node, path.appending("poll_interval"), in: ConfigBounds.pollInterval) {
            pollInterval = value
        }
        var timeout: Duration = .seconds(30)
        if let node = provider["timeout"], let value = duration(node, path.appending("timeout"), in: ConfigBounds.providerTimeout) {
            timeout = value
        }
        var options: [String: ConfigValue] = [:]
        for option in optionSpecs {
            guard let node = provider[option.name] else {
                if option.required, let spec {
                    report(provider.node.mark, path, "missing required key \"\(option.name)\" (kind \(spec.kind) needs it)")
                }
                continue
            }
            if let value = optionValue(option, node, path.appending(option.name)) { options[option.name] = value }
        }
        guard let spec, let baseURL else { return (nil, spec) }
        return (ProviderSettings(name: name, kind: spec.kind, baseURL: baseURL, pollInterval: pollInterval, timeout: timeout, options: options), spec)
    }

    private mutating func optionValue(_ option: ProviderOptionSpec, _ node: YAMLNode, _ path: ConfigPath) -> ConfigValue? {
        switch option.type {
        case .int: return int(node, path, in: option.intRange ?? Int.min...Int.max).map { .int($0) }
        case .bool: return bool(node, path).map { .bool($0) }
        case .duration: return duration(node, path, in: option.durationRange ?? ConfigBounds.providerDurationOption).map { .duration($0) }
        case .jsonObject: return jsonObject(node, path).map { .json($0) }
        case .string:
            guard let scalar = stringScalar(node, path, nonEmpty: option.required) else { return nil }
            if !option.allowedValues.isEmpty, !option.allowedValues.contains(scalar.text) {
                report(node.mark, path, "expected one of \(option.allowedValues.joined(separator: ", ")), got \(describe(scalar, path))")
                return nil
            }
            return .string(scalar.text)
        }
    }

    static func isValidProviderName(_ name: String) -> Bool {
        guard let first = name.unicodeScalars.first, ("a"..."z").contains(first) || ("0"..."9").contains(first) else { return false }
        return name.unicodeScalars.allSatisfy { ("a"..."z").contains($0) || ("0"..."9").contains($0) || $0 == "_" || $0 == "-" }
    }

    // MARK: routes

    mutating func routes(_ node: YAMLNode, _ path: ConfigPath, declared: DeclaredProviders) -> [RouteSettings] {
        guard let routes = mapping(node, path, allowed: nil) else { return [] }
        if routes.entries.isEmpty {
            report(node.mark, path, "at least one route is required")
        }
        var settings: [RouteSettings] = []
        for entry in routes.entries {
            let routePath = path.appending(entry.key)
            if entry.key.isEmpty {
                report(entry.keyMark, routePath, "a route name must not be empty")
            }
            if let route = route(entry.key, entry.value, routePath, declared: declared) { settings.append(route) }
        }
        return settings
    }

    private mutating func route(_ name: String, _ node: YAMLNode, _ path: ConfigPath, declared: DeclaredProviders) -> RouteSettings? {
        guard let route = mapping(node, path, allowed: Self.routeKeys, required: ["kind", "targets"]) else { return nil }
        var kind: JobKind?
        if let node = route["kind"], let scalar = stringScalar(node, path.appending("kind")) {
            kind = JobKind(rawValue: scalar.text)
            if kind == nil {
                let kinds = JobKind.allCases.map(\.rawValue).joined(separator: ", ")
                report(node.mark, path.appending("kind"), "expected one of \(kinds), got \(describe(scalar, path.appending("kind")))")
            }
        }
        var targets: [RouteTarget] = []
        if let targetsNode = route["targets"], let items = sequence(targetsNode, path.appending("targets")) {
            if items.isEmpty {
                report(targetsNode.mark, path.appending("targets"), "at least one target is required")
            }
            var firstIndex: [String: Int] = [:]
            for (index, item) in items.enumerated() {
                let itemPath = path.appending("targets").appending(index: index)
                guard let target = mapping(item, itemPath, allowed: ["provider", "weight"], required: ["provider"]) else { continue }
                var weight: Int? = 1
                if let node = target["weight"] {
                    weight = int(node, itemPath.appending("weight"), in: ConfigBounds.routeWeight)
                }
                guard let providerNode = target["provider"],
                    let provider = routeProvider(providerNode, itemPath.appending("provider"), kind: kind, declared: declared)
                else { continue }
                if let first = firstIndex[provider.text] {
                    report(
                        providerNode.mark,
                        itemPath.appending("provider"),
                        "provider \(shown(provider)) is already a target of this route (targets[\(first)])"
                    )
                    continue
                }
                firstIndex[provider.text] = index
                if let weight { targets.append(RouteTarget(provider: provider.text, weight: weight)) }
            }
        }
        var fallback: [String] = []
        if let fallbackNode = route["fallback"], !fallbackNode.isNull, let items = sequence(fallbackNode, path.appending("fallback")) {
            var firstIndex: [String: Int] = [:]
            for (index, item) in items.enumerated() {
                let itemPath = path.appending("fallback").appending(index: index)
                guard let provider = routeProvider(item, itemPath, kind: kind, declared: declared) else { continue }
                if let first = firstIndex[provider.text] {
                    report(item.mark, itemPath, "provider \(shown(provider)) is already in fallback (fallback[\(first)])")
                    continue
                }
                firstIndex[provider.text] = index
                fallback.append(provider.text)
            }
        }
        guard let kind else { return nil }
        return RouteSettings(name: name, kind: kind, targets: targets, fallback: fallback)
    }

    /// A provider name a route refers to: it must be declared and, when its kind is known, serve `kind`.
    private mutating func routeProvider(_ node: YAMLNode, _ path: ConfigPath, kind: JobKind?, declared: DeclaredProviders) -> ResolvedScalar? {
        guard let scalar = stringScalar(node, path) else { return nil }
        let name = scalar.text
        guard declared.nameSet.contains(name) else {
            let configured = declared.listed
            if scalar.variables.isEmpty {
                report(node.mark, path, "unknown provider \(Self.quoted(name)); configured providers: \(configured)")
            } else {
                let source = scalar.variables.map { "${\($0)}" }.joined(separator: ", ")
                report(
                    node.mark,
                    path,
                    "names no configured provider (got a string from \(source), value not shown); configured providers: \(configured)"
                )
            }
            return nil
        }
        if let kind, let spec = declared.specs[name], !spec.jobKinds.contains(kind) {
            report(node.mark, path, "provider \(shown(scalar)) (\(spec.kind)) cannot serve \(kind.rawValue)")
            return nil
        }
        return scalar
    }
}

extension YAMLNode {
    /// Whether this is a plain null scalar (`~`, `null` or nothing at all).
    var isNull: Bool {
        guard case .scalar(let scalar) = content, scalar.tag == nil || scalar.tag == "tag:yaml.org,2002:null" else { return false }
        return scalar.style == .plain && ConfigDecoder.isNull(scalar.text)
    }
}
