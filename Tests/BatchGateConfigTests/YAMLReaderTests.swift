import Testing

@testable import BatchGateConfig

@Suite("Reading YAML with libyaml")
struct YAMLReaderTests {
    func read(_ text: String) throws -> YAMLNode? {
        try YAMLReader().read(Array(text.utf8)).get()
    }

    func problems(_ text: String, limits: YAMLLimits = .standard) -> [String] {
        switch YAMLReader(limits: limits).read(Array(text.utf8)) {
        case .success: return []
        case .failure(let failure): return failure.problems.map { "\($0.mark): \($0.path): \($0.message)" }
        }
    }

    @Test("builds a tree with 1-based marks, ordered keys and scalar styles")
    func tree() throws {
        let node = try #require(
            try read(
                """
                b: plain
                a:
                  - 'single'
                  - "double"
                  - !!str 12
                  - |
                    literal
                """
            )
        )
        #expect(node.mark == YAMLMark(line: 1, column: 1))
        guard case .mapping(let entries) = node.content else {
            Issue.record("expected a mapping")
            return
        }
        #expect(entries.map(\.key) == ["b", "a"])
        #expect(entries[1].keyMark == YAMLMark(line: 2, column: 1))
        #expect(entries[0].value == YAMLNode(content: .scalar(YAMLScalar("plain")), mark: YAMLMark(line: 1, column: 4)))
        guard case .sequence(let items) = entries[1].value.content else {
            Issue.record("expected a sequence")
            return
        }
        #expect(
            items.map(\.content) == [
                .scalar(YAMLScalar("single", style: .singleQuoted)),
                .scalar(YAMLScalar("double", style: .doubleQuoted)),
                .scalar(YAMLScalar("12", style: .plain, tag: "tag:yaml.org,2002:str")),
                .scalar(YAMLScalar("literal", style: .literal)),
            ]
        )
        #expect(items.map(\.mark.line) == [3, 4, 5, 6])
        #expect(items[0].mark.column == 5)
    }

    @Test("an empty text or a text of comments is no document")
    func empty() throws {
        #expect(try read("") == nil)
        #expect(try read("# nothing here\n") == nil)
    }

    @Test("aliases are resolved to a copy of the anchored node, marked where the alias is")
    func aliases() throws {
        let node = try #require(
            try read(
                """
                base: &b {x: 1}
                copy: *b
                """
            )
        )
        guard case .mapping(let entries) = node.content else {
            Issue.record("expected a mapping")
            return
        }
        #expect(entries[1].value.content == entries[0].value.content)
        #expect(entries[1].value.mark == YAMLMark(line: 2, column: 7))
    }

    @Test(
        "refusals",
        arguments: [
            ("a: 1\na: 2\n", ["2:1: a: duplicate key \"a\" (first given at 1:1)"]),
            (
                "p:\n  x: 1\n  'x': 2\n  x: 3\n",
                ["3:3: p.x: duplicate key \"x\" (first given at 2:3)", "4:3: p.x: duplicate key \"x\" (first given at 2:3)"]
            ),
            ("a: 1\n---\nb: 2\n", ["2:1: : the file holds more than one YAML document; only one is allowed"]),
            ("a: *nothing\n", ["1:4: a: alias *nothing refers to no anchor defined before it"]),
            ("a: &loop [1, *loop]\n", ["1:14: a[1]: alias *loop refers to a node that contains it; recursive structures are not allowed"]),
            ("base: &b {x: 1}\nc:\n  <<: *b\n", ["3:3: c: merge keys (<<) are not supported; write the keys out"]),
            ("? [a, b]\n: 1\n", ["1:3: : a mapping key must be a scalar, not a sequence"]),
            ("a: !custom 1\n", ["1:4: a: unsupported tag !custom"]),
            ("a: !!set {x}\n", ["1:4: a: unsupported tag tag:yaml.org,2002:set"]),
        ]
    )
    func refusals(text: String, expected: [String]) {
        #expect(problems(text) == expected)
    }

    @Test("a billion-laughs document is refused at the alias that takes it past the node limit")
    func expansionLimit() {
        let text = """
            a: &a [x, x, x, x, x, x, x, x, x, x]
            b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]
            c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]
            d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]
            """
        // Keys count: 1 (root) + 12 (a) + 112 (b) + 1112 (c) + 2 (d and its sequence) = 1239, and each
        // *c repeats 1111 nodes, so the fourth one (d[3]) crosses 5000.
        #expect(
            problems(text, limits: YAMLLimits(maxExpandedNodes: 5_000)) == [
                "4:20: d[3]: alias *c repeats 1111 nodes, which takes the document past the limit of 5000 nodes once aliases are expanded"
            ]
        )
    }

    @Test(
        "syntax errors carry libyaml's problem and mark",
        arguments: [
            ("a: [1, 2\n", "2:1: : YAML syntax error: did not find expected ',' or ']' (while parsing a flow sequence at 1:4)"),
            ("a: b: c\n", "1:5: : YAML syntax error: mapping values are not allowed in this context"),
            ("a:\n  - 1\n  b: 2\n", "3:3: : YAML syntax error: did not find expected '-' indicator (while parsing a block collection at 2:3)"),
            ("a: \"unterminated\n", "2:1: : YAML syntax error: found unexpected end of stream (while scanning a quoted scalar at 1:4)"),
            ("a:\tb\n\tc: 1\n", "2:1: : YAML syntax error: found a tab character that violates indentation (while scanning a plain scalar at 1:4)"),
        ]
    )
    func syntaxErrors(text: String, expected: String) {
        #expect(problems(text) == [expected])
    }

    @Test("invalid UTF-8 is reported at its line and column")
    func invalidUTF8() {
        var bytes = Array("a: 1\nb: x".utf8)
        bytes.append(0xFF)
        switch YAMLReader().read(bytes) {
        case .success:
            Issue.record("invalid UTF-8 was accepted")
        case .failure(let failure):
            #expect(failure.problems.map(\.mark) == [YAMLMark(line: 2, column: 5)])
            #expect(failure.problems.first?.message.hasPrefix("cannot read the text: invalid leading UTF-8 octet") == true)
        }
    }
}

@Suite("Scalar types")
struct ScalarTypeTests {
    @Test(
        "the YAML 1.2 core schema for plain scalars; quoted and !!str scalars stay strings",
        arguments: [
            ("42", YAMLScalarStyle.plain, String?.none, ResolvedScalar.Value.int(42)),
            ("-7", .plain, nil, .int(-7)),
            ("0x1F", .plain, nil, .int(31)),
            ("0o17", .plain, nil, .int(15)),
            ("1.5", .plain, nil, .float(1.5)),
            ("true", .plain, nil, .bool(true)),
            ("FALSE", .plain, nil, .bool(false)),
            ("yes", .plain, nil, .string("yes")),
            ("~", .plain, nil, .null),
            ("", .plain, nil, .null),
            ("null", .plain, nil, .null),
            ("15s", .plain, nil, .string("15s")),
            ("1_000", .plain, nil, .string("1_000")),
            ("42", .doubleQuoted, nil, .string("42")),
            ("true", .singleQuoted, nil, .string("true")),
            ("null", .literal, nil, .string("null")),
            ("42", .plain, "tag:yaml.org,2002:str", .string("42")),
            ("42", .plain, "!", .string("42")),
            ("42", .doubleQuoted, "tag:yaml.org,2002:int", .int(42)),
            ("true", .doubleQuoted, "tag:yaml.org,2002:bool", .bool(true)),
            ("3", .plain, "tag:yaml.org,2002:float", .float(3)),
        ]
    )
    func resolves(text: String, style: YAMLScalarStyle, tag: String?, expected: ResolvedScalar.Value) {
        #expect(ConfigDecoder.resolve(text, style: style, tag: tag) == expected)
    }

    @Test(
        "an explicit tag the text does not fit is refused",
        arguments: [
            ("abc", "tag:yaml.org,2002:int"), ("1", "tag:yaml.org,2002:bool"), ("x", "tag:yaml.org,2002:null"),
        ]
    )
    func tagMismatch(text: String, tag: String) {
        #expect(ConfigDecoder.resolve(text, style: .plain, tag: tag) == nil)
    }

    @Test("a mismatched tag in the file is a diagnostic")
    func tagMismatchInFile() {
        #expect(
            diagnostics(withDefaults("server: {max_body_bytes: !!int big}")) == [
                "providers.yaml:1:26: server.max_body_bytes: value \"big\" is not valid for its tag !!int"
            ]
        )
    }
}
