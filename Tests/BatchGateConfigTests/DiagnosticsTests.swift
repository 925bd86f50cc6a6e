import BatchGateCore
import Testing

@testable import BatchGateConfig

@Suite("Diagnostics")
struct DiagnosticsTests {
    @Test("a file with three different mistakes yields exactly three diagnostics, in file order")
    func threeMistakes() {
        let yaml = """
            server:
              listen: "127.0.0.1:8080"
            auth:
              api_keys:
                - {tenant: acme, key: k-1}
            providers:
              airops:
                kind: olostep-airops
                base_url: https://api.olostep.com
                token: t-1
                pol_interval: 15s
              tagger:
                kind: doc-tagging-ws
                base_url: http://localhost:8000
                token: t-2
                timeout: fast
            routes:
              scrape:
                kind: url_batch
                targets:
                  - provider: airops
                  - provider: aitronos
            """
        #expect(
            diagnostics(yaml) == [
                "providers.yaml:11:5: providers.airops.pol_interval: unknown key \"pol_interval\" (did you mean \"poll_interval\"?); allowed keys: base_url, kind, poll_interval, timeout, token",
                "providers.yaml:16:14: providers.tagger.timeout: expected a duration like 200ms, 15s or 10m, got \"fast\"",
                "providers.yaml:22:19: routes.scrape.targets[1].provider: unknown provider \"aitronos\"; configured providers: airops, tagger",
            ]
        )
    }

    @Test("a YAML syntax error is one diagnostic with libyaml's mark")
    func syntaxError() {
        #expect(
            diagnostics("providers:\n  airops: {kind: x\nroutes: {}\n") == [
                "providers.yaml:3:7: YAML syntax error: did not find expected ',' or '}' (while parsing a flow mapping at 2:11)"
            ]
        )
    }

    @Test("a duplicate key is refused with both places")
    func duplicateKey() {
        let yaml = withDefaults(
            """
            webhooks:
              timeout: 10s
              max_attempts: 3
              timeout: 20s
            """
        )
        #expect(diagnostics(yaml) == ["providers.yaml:4:3: webhooks.timeout: duplicate key \"timeout\" (first given at 2:3)"])
    }

    /// Each rule of the loader, as (the file's first lines, every diagnostic expected). Sections a case does
    /// not give are filled in with valid defaults after it.
    @Test(
        "rules",
        arguments: [
            // Top level.
            (
                "servers: {}",
                [
                    "providers.yaml:1:1: servers: unknown key \"servers\" (did you mean \"server\"?); allowed keys: auth, providers, routes, server, store, telemetry, webhooks"
                ]
            ),
            // server
            ("server: {listen: \"0.0.0.0:9090\"}", []),
            ("server: {listen: \"[::1]:8080\"}", []),
            (
                "server: {listen: localhost}",
                ["providers.yaml:1:18: server.listen: expected host:port like 127.0.0.1:8080 or [::1]:8080, got \"localhost\""]
            ),
            (
                "server: {listen: \"::1:8080\"}",
                ["providers.yaml:1:18: server.listen: expected host:port like 127.0.0.1:8080 or [::1]:8080, got \"::1:8080\""]
            ),
            (
                "server: {listen: \"host:70000\"}",
                ["providers.yaml:1:18: server.listen: expected host:port like 127.0.0.1:8080 or [::1]:8080, got \"host:70000\""]
            ),
            (
                "server: {public_url: \"ftp://x\"}",
                ["providers.yaml:1:22: server.public_url: expected an http or https URL like https://api.example.com, got \"ftp://x\""]
            ),
            (
                "server: {public_url: \"https://x.example/?a=1\"}",
                ["providers.yaml:1:22: server.public_url: must not have a query or fragment, got \"https://x.example/?a=1\""]
            ),
            (
                "server: {max_body_bytes: 0}",
                ["providers.yaml:1:26: server.max_body_bytes: must be between 1024 bytes (1 KiB) and 1073741824 bytes (1 GiB), got 0"]
            ),
            (
                "server: {max_body_bytes: \"1024\"}",
                ["providers.yaml:1:26: server.max_body_bytes: expected an integer, got \"1024\"; quoted values are strings: remove the quotes"]
            ),
            ("server: {max_body_bytes: [1]}", ["providers.yaml:1:26: server.max_body_bytes: expected an integer, got a sequence"]),
            (
                "server: {port: 80}",
                ["providers.yaml:1:10: server.port: unknown key \"port\"; allowed keys: listen, log_format, max_body_bytes, public_url"]
            ),
            ("server: {log_format: xml}", ["providers.yaml:1:22: server.log_format: expected text or json, got \"xml\""]),
            ("server: 8080", ["providers.yaml:1:9: server: expected a mapping, got 8080"]),
            // telemetry
            ("telemetry: {sampling: 0.5}", ["providers.yaml:1:12: telemetry: missing required key \"traces_endpoint\""]),
            (
                "telemetry: {traces_endpoint: \"grpc://collector:4317\"}",
                [
                    "providers.yaml:1:30: telemetry.traces_endpoint: expected an http or https URL like https://api.example.com, got \"grpc://collector:4317\""
                ]
            ),
            (
                "telemetry: {traces_endpoint: \"http://c:4318/v1/traces\", sampling: 1.5}",
                ["providers.yaml:1:67: telemetry.sampling: expected a number from 0 to 1, got 1.5"]
            ),
            (
                "telemetry: {traces_endpoint: \"http://c:4318/v1/traces\", sampling: \"all\"}",
                ["providers.yaml:1:67: telemetry.sampling: expected a number from 0 to 1, got \"all\""]
            ),
            (
                "telemetry: {traces_endpoint: \"http://c:4318/v1/traces\", protocol: grpc}",
                ["providers.yaml:1:67: telemetry.protocol: expected http/protobuf or http/json, got \"grpc\""]
            ),
            (
                "telemetry: {traces_endpoint: \"http://c:4318/v1/traces\", exporter: otlp}",
                [
                    "providers.yaml:1:57: telemetry.exporter: unknown key \"exporter\"; allowed keys: protocol, sampling, service_name, traces_endpoint"
                ]
            ),
            // store
            ("store: {}", ["providers.yaml:1:8: store: expected one of sqlite or postgres"]),
            ("store: {sqlite: a.db, postgres: \"postgres://h/db\"}", ["providers.yaml:1:23: store: give either sqlite or postgres, not both"]),
            ("store: {sqlite: \"\"}", ["providers.yaml:1:17: store.sqlite: must not be empty"]),
            (
                "store: {postgres: \"mysql://h/db\"}",
                ["providers.yaml:1:19: store.postgres: expected a postgres:// or postgresql:// URL (value not shown)"]
            ),
            (
                "store: {mysql: x}",
                [
                    "providers.yaml:1:8: store: expected one of sqlite or postgres",
                    "providers.yaml:1:9: store.mysql: unknown key \"mysql\"; allowed keys: pool_size, postgres, sqlite, statement_timeout",
                ]
            ),
            ("store: {sqlite: a.db, pool_size: 5}", ["providers.yaml:1:23: store.pool_size: applies to store.postgres only"]),
            (
                "store: {postgres: \"postgres://h/db\", pool_size: 0}",
                ["providers.yaml:1:49: store.pool_size: must be between 1 and 500, got 0"]
            ),
            (
                "store: {postgres: \"postgres://h/db\", statement_timeout: 2h}",
                ["providers.yaml:1:57: store.statement_timeout: must be between 100ms and 1h, got \"2h\""]
            ),
            // auth
            ("auth: {api_keys: []}", ["providers.yaml:1:18: auth.api_keys: at least one API key is required"]),
            ("auth: {}", ["providers.yaml:1:7: auth: missing required key \"api_keys\""]),
            ("auth: {api_keys: [{tenant: acme}]}", ["providers.yaml:1:19: auth.api_keys[0]: missing required key \"key\""]),
            ("auth: {api_keys: [{tenant: \"\", key: k}]}", ["providers.yaml:1:28: auth.api_keys[0].tenant: must not be empty"]),
            (
                "auth: {api_keys: [{tenant: a, key: k, role: admin}]}",
                ["providers.yaml:1:39: auth.api_keys[0].role: unknown key \"role\"; allowed keys: key, tenant"]
            ),
            (
                "auth:\n  api_keys:\n    - {tenant: a, key: same}\n    - {tenant: b, key: same}",
                ["providers.yaml:4:24: auth.api_keys[1].key: the same key is already given at auth.api_keys[0].key; each key must be unique"]
            ),
            ("auth: {api_keys: {tenant: a, key: k}}", ["providers.yaml:1:18: auth.api_keys: expected a sequence, got a mapping"]),
            // webhooks
            ("webhooks: {max_attempts: 101}", ["providers.yaml:1:26: webhooks.max_attempts: must be between 1 and 100, got 101"]),
            ("webhooks: {max_attempts: 0}", ["providers.yaml:1:26: webhooks.max_attempts: must be between 1 and 100, got 0"]),
            (
                "webhooks: {initial_backoff: 5m, max_backoff: 1m}",
                ["providers.yaml:1:46: webhooks.max_backoff: must be at least initial_backoff (5m), got 1m"]
            ),
            (
                "webhooks: {max_backoff: 500ms}",
                ["providers.yaml:1:25: webhooks.max_backoff: must be at least initial_backoff (default 1s), got 500ms"]
            ),
            ("webhooks: {initial_backoff: 1h}", ["providers.yaml:1:29: webhooks.initial_backoff: must be at most max_backoff (default 10m), got 1h"]),
            ("webhooks: {timeout: 0s}", ["providers.yaml:1:21: webhooks.timeout: must be longer than zero, got \"0s\""]),
            ("webhooks: {timeout: 30}", ["providers.yaml:1:21: webhooks.timeout: expected a duration like 200ms, 15s or 10m, got 30"]),
            (
                "webhooks: {allow_insecure_loopback: yes}",
                ["providers.yaml:1:37: webhooks.allow_insecure_loopback: expected true or false, got \"yes\""]
            ),
            (
                "webhooks: {allow_insecure_loopback: \"true\"}",
                [
                    "providers.yaml:1:37: webhooks.allow_insecure_loopback: expected true or false, got \"true\"; quoted values are strings: remove the quotes"
                ]
            ),
            (
                "webhooks: {retries: 3}",
                [
                    "providers.yaml:1:12: webhooks.retries: unknown key \"retries\"; allowed keys: allow_insecure_loopback, defaults, initial_backoff, max_attempts, max_backoff, timeout"
                ]
            ),
            // providers
            (
                "providers: {}",
                [
                    "providers.yaml:1:12: providers: at least one provider is required",
                    "providers.yaml:6:50: routes.scrape.targets[0].provider: unknown provider \"airops\"; configured providers: none",
                ]
            ),
            (
                "providers:\n  AirOps: {kind: olostep-airops, base_url: \"https://a.example\", token: t}\nroutes: {r: {kind: url_batch, targets: [{provider: AirOps}]}}",
                [
                    "providers.yaml:2:3: providers.AirOps: provider name must match [a-z0-9][a-z0-9_-]* (lowercase letters, digits, _ and -)"
                ]
            ),
            (
                "providers:\n  airops: {base_url: \"https://a.example\", token: t}",
                [
                    "providers.yaml:2:11: providers.airops: missing required key \"kind\""
                ]
            ),
            (
                "providers:\n  airops: {kind: olostep-airops, token: t}",
                [
                    "providers.yaml:2:11: providers.airops: missing required key \"base_url\""
                ]
            ),
            (
                "providers:\n  airops: {kind: olostep, base_url: \"https://a.example\", anything: 1}",
                [
                    "providers.yaml:2:18: providers.airops.kind: unknown provider kind \"olostep\"; known kinds: aitronos-scrape, doc-tagging-ws, olostep-airops"
                ]
            ),
            (
                "providers:\n  airops: {kind: olostep-airops, base_url: \"https://a.example\"}",
                [
                    "providers.yaml:2:11: providers.airops: missing required key \"token\" (kind olostep-airops needs it)"
                ]
            ),
            (
                "providers:\n  airops: {kind: olostep-airops, base_url: \"https://a.example\", token: t, api_key: k}",
                [
                    "providers.yaml:2:75: providers.airops.api_key: unknown key \"api_key\"; allowed keys: base_url, kind, poll_interval, timeout, token"
                ]
            ),
            (
                "providers:\n  airops: {kind: olostep-airops, base_url: \"api.olostep.com\", token: t}",
                [
                    "providers.yaml:2:44: providers.airops.base_url: expected an http or https URL like https://api.example.com, got \"api.olostep.com\""
                ]
            ),
            (
                "providers:\n  airops: {kind: olostep-airops, base_url: \"https://a.example\", token: t, poll_interval: fast}",
                [
                    "providers.yaml:2:90: providers.airops.poll_interval: expected a duration like 200ms, 15s or 10m, got \"fast\""
                ]
            ),
            ("providers:\n  airops: [olostep-airops]", ["providers.yaml:2:11: providers.airops: expected a mapping, got a sequence"]),
            (
                "providers:\n  airops: {kind: olostep-airops, base_url: \"https://a.example\", token: t}\n  aitronos: {kind: aitronos-scrape, base_url: \"https://b.example\", api_key: k, auth: basic, max_urls_per_batch: many}",
                [
                    "providers.yaml:3:86: providers.aitronos.auth: expected one of bearer, x-api-key, got \"basic\"",
                    "providers.yaml:3:113: providers.aitronos.max_urls_per_batch: expected an integer, got \"many\"",
                ]
            ),
            (
                "providers:\n  airops: {kind: olostep-airops, base_url: \"https://a.example\", token: t}\n  tagger: {kind: doc-tagging-ws, base_url: \"http://t.example\", token: t, token_in: body, verify_tls: 1, heartbeat: 5}",
                [
                    "providers.yaml:3:84: providers.tagger.token_in: expected one of query, header, got a string (value not shown)",
                    "providers.yaml:3:102: providers.tagger.verify_tls: expected true or false, got 1",
                    "providers.yaml:3:116: providers.tagger.heartbeat: expected a duration like 200ms, 15s or 10m, got 5",
                ]
            ),
            // routes
            ("routes: {}", ["providers.yaml:1:9: routes: at least one route is required"]),
            (
                "routes: {scrape: {kind: batch, targets: [{provider: airops}]}}",
                ["providers.yaml:1:25: routes.scrape.kind: expected one of url_batch, document_tagging, got \"batch\""]
            ),
            ("routes: {scrape: {kind: url_batch}}", ["providers.yaml:1:18: routes.scrape: missing required key \"targets\""]),
            ("routes: {scrape: {kind: url_batch, targets: []}}", ["providers.yaml:1:45: routes.scrape.targets: at least one target is required"]),
            (
                "routes: {scrape: {kind: url_batch, targets: [{provider: airops, weight: 0}]}}",
                ["providers.yaml:1:73: routes.scrape.targets[0].weight: must be between 1 and 1000, got 0"]
            ),
            (
                "routes: {scrape: {kind: url_batch, targets: [{provider: airops, weight: 1001}]}}",
                ["providers.yaml:1:73: routes.scrape.targets[0].weight: must be between 1 and 1000, got 1001"]
            ),
            (
                "routes: {scrape: {kind: url_batch, targets: [{provider: airops}, {provider: airops}]}}",
                ["providers.yaml:1:77: routes.scrape.targets[1].provider: provider airops is already a target of this route (targets[0])"]
            ),
            (
                "routes: {tag: {kind: document_tagging, targets: [{provider: airops}]}}",
                ["providers.yaml:1:61: routes.tag.targets[0].provider: provider airops (olostep-airops) cannot serve document_tagging"]
            ),
            (
                "routes: {scrape: {kind: url_batch, targets: [{provider: airops}], fallback: [ghost, tagger, airops, airops]}}",
                [
                    "providers.yaml:1:78: routes.scrape.fallback[0]: unknown provider \"ghost\"; configured providers: airops, aitronos, tagger",
                    "providers.yaml:1:85: routes.scrape.fallback[1]: provider tagger (doc-tagging-ws) cannot serve url_batch",
                    "providers.yaml:1:101: routes.scrape.fallback[3]: provider airops is already in fallback (fallback[2])",
                ]
            ),
            (
                "routes: {scrape: {kind: url_batch, targets: [airops]}}",
                ["providers.yaml:1:46: routes.scrape.targets[0]: expected a mapping, got \"airops\""]
            ),
            (
                "routes: {scrape: {kind: url_batch, targets: [{provider: airops, share: 5}]}}",
                ["providers.yaml:1:65: routes.scrape.targets[0].share: unknown key \"share\"; allowed keys: provider, weight"]
            ),
        ]
    )
    func rules(yaml: String, expected: [String]) {
        #expect(diagnostics(withDefaults(yaml)) == expected)
    }

    @Test(
        "top level: a mapping with auth, providers and routes",
        arguments: [
            ("", ["providers.yaml:1:1: the file is empty; it needs at least auth, providers and routes"]),
            ("# only a comment\n", ["providers.yaml:1:1: the file is empty; it needs at least auth, providers and routes"]),
            ("- a\n- b\n", ["providers.yaml:1:1: expected a mapping, got a sequence"]),
            ("just text\n", ["providers.yaml:1:1: expected a mapping, got \"just text\""]),
            (
                "server: {}\n",
                [
                    "providers.yaml:1:1: missing required key \"auth\"",
                    "providers.yaml:1:1: missing required key \"providers\"",
                    "providers.yaml:1:1: missing required key \"routes\"",
                ]
            ),
        ]
    )
    func topLevel(yaml: String, expected: [String]) {
        #expect(diagnostics(yaml) == expected)
    }

    @Test("optional sections may be left empty and take their defaults")
    func nullSections() throws {
        let configuration = try load(withDefaults("server:\nstore:\nwebhooks: ~"))
        #expect(configuration.server == ServerSettings())
        #expect(configuration.store == .sqlite(path: "./batchgate.sqlite"))
        #expect(configuration.webhooks == WebhookSettings())
        #expect(configuration.telemetry == nil, "tracing is off unless the section is given")
    }

    @Test("telemetry turns tracing on; sampling, protocol and service name have defaults")
    func telemetry() throws {
        let defaults = try #require(try load(withDefaults("telemetry: {traces_endpoint: \"http://127.0.0.1:4318/v1/traces\"}")).telemetry)
        #expect(defaults == TelemetrySettings(tracesEndpoint: "http://127.0.0.1:4318/v1/traces"))
        #expect(defaults.sampling == 1 && defaults.traceProtocol == .httpProtobuf && defaults.serviceName == "batchgate")
        let yaml = "telemetry: {traces_endpoint: \"https://otel.example/v1/traces\", sampling: 0.01, protocol: http/json, service_name: gw-eu}"
        let given = try #require(try load(withDefaults(yaml)).telemetry)
        #expect(given.sampling == 0.01 && given.traceProtocol == .httpJSON && given.serviceName == "gw-eu")
        #expect(try load(withDefaults("telemetry: {traces_endpoint: \"http://c:4318\", sampling: 0}")).telemetry?.sampling == 0)
    }

    @Test(
        "listen sets host, port and the default public URL; public_url loses its trailing slash",
        arguments: [
            ("server: {listen: \"0.0.0.0:9090\"}", ServerSettings(host: "0.0.0.0", port: 9090, publicURL: "http://0.0.0.0:9090")),
            ("server: {listen: \"[::1]:8081\"}", ServerSettings(host: "::1", port: 8081, publicURL: "http://[::1]:8081")),
            (
                "server: {listen: \"127.0.0.1:0\", public_url: \"https://gw.example/base/\"}",
                ServerSettings(host: "127.0.0.1", port: 0, publicURL: "https://gw.example/base")
            ),
            (
                "server: {public_url: \"http://gw.example:8443/\", max_body_bytes: 2048}",
                ServerSettings(publicURL: "http://gw.example:8443", maxBodyBytes: 2048)
            ),
        ]
    )
    func server(yaml: String, expected: ServerSettings) throws {
        #expect(try load(withDefaults(yaml)).server == expected)
    }

    @Test("store, kind options, weights and fallbacks decode to their typed values")
    func typedValues() throws {
        let configuration = try load(
            """
            store: {postgres: "postgresql://gw:pw@db.internal/batchgate", pool_size: 25, statement_timeout: 5s}
            auth: {api_keys: [{tenant: acme, key: k-1}, {tenant: acme, key: k-2}, {tenant: beta, key: k-3}]}
            webhooks: {max_attempts: 3, initial_backoff: 250ms, max_backoff: 2s, timeout: 5s, allow_insecure_loopback: true}
            providers:
              aitronos: {kind: aitronos-scrape, base_url: "https://b.example/v1/", api_key: k, auth: x-api-key, max_urls_per_batch: 50, timeout: 1m}
              tagger: {kind: doc-tagging-ws, base_url: "http://t.example", token: t, token_in: header, verify_tls: false, heartbeat: 20s}
              tagger-2: {kind: doc-tagging-ws, base_url: "http://t2.example", token: t}
            routes:
              tag: {kind: document_tagging, targets: [{provider: tagger, weight: 1000}, {provider: tagger-2, weight: 3}], fallback: [tagger-2]}
              scrape: {kind: url_batch, targets: [{provider: aitronos}], fallback: []}
            """
        )
        #expect(
            configuration.store
                == .postgres(PostgresSettings(url: "postgresql://gw:pw@db.internal/batchgate", poolSize: 25, statementTimeout: .seconds(5)))
        )
        #expect(configuration.apiKeys.map(\.tenant) == ["acme", "acme", "beta"])
        #expect(
            configuration.webhooks
                == WebhookSettings(
                    maxAttempts: 3,
                    initialBackoff: .milliseconds(250),
                    maxBackoff: .seconds(2),
                    timeout: .seconds(5),
                    allowInsecureLoopback: true
                )
        )
        #expect(
            configuration.provider(named: "aitronos")
                == ProviderSettings(
                    name: "aitronos",
                    kind: "aitronos-scrape",
                    baseURL: "https://b.example/v1",
                    timeout: .seconds(60),
                    options: ["api_key": .string("k"), "auth": .string("x-api-key"), "max_urls_per_batch": .int(50)]
                )
        )
        #expect(
            configuration.provider(named: "tagger")?.options == [
                "token": .string("t"), "token_in": .string("header"), "verify_tls": .bool(false), "heartbeat": .duration(.seconds(20)),
            ]
        )
        #expect(configuration.routes.map(\.name) == ["tag", "scrape"])
        #expect(
            configuration.route(named: "tag")
                == RouteSettings(
                    name: "tag",
                    kind: .documentTagging,
                    targets: [RouteTarget(provider: "tagger", weight: 1000), RouteTarget(provider: "tagger-2", weight: 3)],
                    fallback: ["tagger-2"]
                )
        )
        #expect(configuration.route(named: "scrape")?.fallback == [])
    }

    @Test("every problem in a section is reported, not just the first")
    func collectsAll() {
        let found = diagnostics(
            withDefaults(
                """
                webhooks: {max_attempts: none, initial_backoff: soon, max_backoff: later, timeout: 0ms, allow_insecure_loopback: maybe}
                """
            )
        )
        #expect(
            found.map { $0.split(separator: ":")[3] } == [
                " webhooks.max_attempts", " webhooks.initial_backoff", " webhooks.max_backoff", " webhooks.timeout",
                " webhooks.allow_insecure_loopback",
            ]
        )
    }
}
