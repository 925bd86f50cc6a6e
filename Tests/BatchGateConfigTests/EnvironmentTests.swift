import BatchGateCore
import Testing

@testable import BatchGateConfig

@Suite("${VAR} expansion")
struct EnvironmentTests {
    static let environment = ["HOST": "api.example.com", "EMPTY": "", "PORT": "9000", "N": "12"]

    @Test(
        "expands",
        arguments: [
            ("plain text", "plain text", [String]()),
            ("${HOST}", "api.example.com", ["HOST"]),
            ("https://${HOST}:${PORT}/v1", "https://api.example.com:9000/v1", ["HOST", "PORT"]),
            ("${MISSING:-fallback}", "fallback", ["MISSING"]),
            ("${EMPTY:-fallback}", "fallback", ["EMPTY"]),
            ("${HOST:-fallback}", "api.example.com", ["HOST"]),
            ("${MISSING:-}", "", ["MISSING"]),
            ("${EMPTY}", "", ["EMPTY"]),
            ("cost $5 and $$6", "cost $5 and $$6", []),
            ("$${HOST}", "${HOST}", []),
            ("a$", "a$", []),
            ("${MISSING:-a:-b}", "a:-b", ["MISSING"]),
        ]
    )
    func expands(text: String, expected: String, variables: [String]) throws {
        let result = try EnvironmentExpansion.expand(text, environment: Self.environment).get()
        #expect(result.text == expected)
        #expect(result.variables == variables)
    }

    @Test(
        "refuses",
        arguments: [
            ("${MISSING}", [EnvironmentExpansion.Failure.missing("MISSING")]),
            ("${A}-${B}", [.missing("A"), .missing("B")]),
            ("x${HOST", [.unterminated]),
            ("${}", [.invalidName("")]),
            ("${1ABC}", [.invalidName("1ABC")]),
            ("${A B}", [.invalidName("A B")]),
        ]
    )
    func refuses(text: String, failures: [EnvironmentExpansion.Failure]) {
        #expect(throws: EnvironmentExpansion.Failures(list: failures)) {
            try EnvironmentExpansion.expand(text, environment: Self.environment).get()
        }
    }

    @Test("an expanded plain scalar takes the type of its value; a quoted one stays a string")
    func typedAfterExpansion() throws {
        let yaml = withDefaults(
            """
            webhooks:
              max_attempts: ${N}
              timeout: ${T:-45s}
            server: {listen: "${HOST:-localhost}:${PORT}"}
            """
        )
        let configuration = try load(yaml, environment: Self.environment)
        #expect(configuration.webhooks.maxAttempts == 12)
        #expect(configuration.webhooks.timeout == .seconds(45))
        #expect(configuration.server.host == "api.example.com")
        #expect(configuration.server.port == 9000)
        #expect(configuration.server.publicURL == "http://api.example.com:9000")

        #expect(
            diagnostics(withDefaults("webhooks: {max_attempts: \"${N}\"}"), environment: Self.environment) == [
                "providers.yaml:1:26: webhooks.max_attempts: expected an integer, got a string from ${N} (value not shown); quoted values are strings: remove the quotes"
            ]
        )
    }

    @Test("values from the environment and secret keys are never printed")
    func secretsNotPrinted() {
        let secret = "hunter2-very-secret"
        let environment = ["SECRET": secret, "BAD_URL": "ftp://\(secret)", "PG": "mysql://root:\(secret)@db/x"]
        let yaml = """
            store: {postgres: "${PG}"}
            auth:
              api_keys:
                - {tenant: acme, key: [\(secret)]}
                - {tenant: beta, key: \(secret)}
                - {tenant: gamma, key: \(secret)}
            providers:
              airops: {kind: olostep-airops, base_url: "${BAD_URL}", token: 42, timeout: "${SECRET}"}
              aitronos: {kind: aitronos-scrape, base_url: "https://u:\(secret)@api.aitronos.com", api_key: a, auth: "${SECRET}"}
              tagger: {kind: doc-tagging-ws, base_url: "http://localhost:8000", token: {value: \(secret)}, token_in: \(secret)}
            routes:
              scrape: {kind: url_batch, targets: [{provider: "${SECRET}"}]}
            """
        let found = diagnostics(yaml, environment: environment)
        #expect(found.count == 10)
        for line in found {
            #expect(!line.contains(secret), "\(line)")
        }
        #expect(found.contains("providers.yaml:4:27: auth.api_keys[0].key: expected a string, got a sequence"))
        #expect(
            found.contains(
                "providers.yaml:12:50: routes.scrape.targets[0].provider: names no configured provider (got a string from ${SECRET}, value not shown); configured providers: airops, aitronos, tagger"
            )
        )
        #expect(
            found.contains(
                "providers.yaml:6:28: auth.api_keys[2].key: the same key is already given at auth.api_keys[1].key; each key must be unique"
            )
        )
    }
}
