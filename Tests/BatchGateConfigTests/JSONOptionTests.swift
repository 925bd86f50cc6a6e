import BatchGateCore
import Testing

@testable import BatchGateConfig

/// `.jsonObject` provider options: a YAML mapping read into a `JSONValue.object`.
@Suite("JSON object options")
struct JSONOptionTests {
    /// A kind declared only for these tests, with one JSON object option.
    static let kinds = testKinds.merging([
        "schema-scrape": ProviderKindSpec(
            kind: "schema-scrape",
            jobKinds: [.urlBatch],
            options: [ProviderOptionSpec("api_key", .string, required: true), ProviderOptionSpec("default_schema", .jsonObject)]
        )
    ]) { first, _ in first }

    static let header = """
        auth: {api_keys: [{tenant: acme, key: k-1}]}
        routes: {scrape: {kind: url_batch, targets: [{provider: scraper}]}}
        providers:
          scraper:
            kind: schema-scrape
            base_url: "https://s.example"
            api_key: k

        """

    func load(_ schema: String, environment: [String: String] = [:]) throws(ConfigErrors) -> ProviderSettings? {
        let configuration = try ConfigLoader.load(
            yaml: Self.header + schema,
            file: "providers.yaml",
            environment: environment,
            providerKinds: Self.kinds
        )
        return configuration.provider(named: "scraper")
    }

    func problems(_ schema: String, environment: [String: String] = [:]) -> [String] {
        do {
            _ = try load(schema, environment: environment)
            return []
        } catch {
            return error.diagnostics.map(\.description)
        }
    }

    @Test("nested mappings, sequences and scalars convert faithfully, by the YAML core schema")
    func converts() throws {
        let settings = try #require(
            try load(
                """
                    default_schema:
                      type: object
                      required: [title, price]
                      additionalProperties: false
                      properties:
                        title: {type: string, maxLength: 200, description: "${TITLE_HELP}"}
                        price: {type: number, minimum: 0.5, exclusiveMaximum: 1e6}
                        sku:
                          type: string
                          pattern: "^[0-9]+$"
                          examples: ["0042", 42, -7, yes, ~, !!str 7, 'true', 9007199254740993, 0x1F]
                        note:
                          $ref: "#/definitions/note"
                          text: |
                            two
                            lines
                          default: null
                """,
                environment: ["TITLE_HELP": "The page title"]
            )
        )
        let expected: JSONValue = .object([
            "type": .string("object"),
            "required": .array([.string("title"), .string("price")]),
            "additionalProperties": .bool(false),
            "properties": .object([
                "title": .object(["type": .string("string"), "maxLength": .integer(200), "description": .string("The page title")]),
                "price": .object(["type": .string("number"), "minimum": .number(0.5), "exclusiveMaximum": .number(1_000_000)]),
                "sku": .object([
                    "type": .string("string"),
                    "pattern": .string("^[0-9]+$"),
                    "examples": .array([
                        .string("0042"), .integer(42), .integer(-7), .string("yes"), .null, .string("7"), .string("true"),
                        .integer(9_007_199_254_740_993), .integer(31),
                    ]),
                ]),
                "note": .object(["$ref": .string("#/definitions/note"), "default": .null, "text": .string("two\nlines\n")]),
            ]),
        ])
        #expect(settings.json("default_schema") == expected)
        #expect(settings.options["default_schema"] == .json(expected))
        #expect(settings.json("api_key") == nil)
        #expect(settings.string("default_schema") == nil)

        // Whole numbers stay exact: 2^53 + 1 is not rounded to a Double.
        let examples = settings.json("default_schema")?["properties"]?["sku"]?["examples"]?.arrayValue ?? []
        guard examples.count == 9, case .integer(let exact) = examples[7] else {
            Issue.record("expected an exact integer, got \(examples)")
            return
        }
        #expect(exact == 9_007_199_254_740_993)
    }

    @Test("an empty mapping is an empty object; an absent option is nil")
    func emptyAndAbsent() throws {
        #expect(try load("    default_schema: {}\n")?.json("default_schema") == .object([:]))
        #expect(try load("")?.json("default_schema") == nil)
    }

    @Test(
        "what is not a mapping, or holds what JSON cannot, is refused at its place",
        arguments: [
            (
                "    default_schema: just-text\n",
                ["providers.yaml:8:21: providers.scraper.default_schema: expected a mapping (a JSON object), got \"just-text\""]
            ),
            (
                "    default_schema: [a, b]\n",
                ["providers.yaml:8:21: providers.scraper.default_schema: expected a mapping (a JSON object), got a sequence"]
            ),
            ("    default_schema:\n", ["providers.yaml:8:20: providers.scraper.default_schema: expected a mapping (a JSON object), got null"]),
            (
                "    default_schema: {a: [1, .inf], b: {c: .nan}}\n",
                [
                    "providers.yaml:8:29: providers.scraper.default_schema.a[1]: expected a JSON value, got .inf: JSON has no infinity or NaN (quote it to keep it as a string)",
                    "providers.yaml:8:43: providers.scraper.default_schema.b.c: expected a JSON value, got .nan: JSON has no infinity or NaN (quote it to keep it as a string)",
                ]
            ),
            (
                "    default_schema: {big: 1e400}\n",
                [
                    "providers.yaml:8:27: providers.scraper.default_schema.big: expected a JSON value, got 1e400: JSON has no infinity or NaN (quote it to keep it as a string)"
                ]
            ),
            (
                "    default_schema: {a: \"${MISSING}\"}\n",
                [
                    "providers.yaml:8:25: providers.scraper.default_schema.a: environment variable MISSING is not set (write ${MISSING:-default} to give a default)"
                ]
            ),
            (
                "    default_schema: {a: 1, a: 2}\n",
                ["providers.yaml:8:28: providers.scraper.default_schema.a: duplicate key \"a\" (first given at 8:22)"]
            ),
        ]
    )
    func refused(schema: String, expected: [String]) {
        #expect(problems(schema) == expected)
    }

    @Test("a value from ${VAR} that JSON cannot hold is not shown")
    func environmentValueNotShown() {
        #expect(
            problems("    default_schema:\n      limit: ${LIMIT}\n", environment: ["LIMIT": ".inf"]) == [
                "providers.yaml:9:14: providers.scraper.default_schema.limit: expected a JSON value, got a number from ${LIMIT} (value not shown): JSON has no infinity or NaN (quote it to keep it as a string)"
            ]
        )
    }

    @Test("a schema nested to the depth limit converts; one level deeper is refused by the reader")
    func depth() throws {
        // The root mapping and the mappings of `providers` and `scraper` take 3 levels; 61 more reach 64.
        let deepest = String(repeating: "{a: ", count: 61) + "1" + String(repeating: "}", count: 61)
        var expected: JSONValue = .integer(1)
        for _ in 0..<61 { expected = .object(["a": expected]) }
        #expect(try load("    default_schema: \(deepest)\n")?.json("default_schema") == expected)

        let tooDeep = String(repeating: "{a: ", count: 62) + "1" + String(repeating: "}", count: 62)
        let found = problems("    default_schema: \(tooDeep)\n")
        #expect(found.count == 1)
        #expect(found.first?.hasSuffix(": mappings and sequences are nested more than 64 levels deep here; the limit is 64") == true)
        #expect(found.first?.hasPrefix("providers.yaml:8:265: providers.scraper.default_schema.a.a.") == true)
    }
}
