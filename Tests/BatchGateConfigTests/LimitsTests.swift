import BatchGateCore
import Foundation
import Testing

@testable import BatchGateConfig

/// Hostile files: each is refused by one `YAMLLimits` bound, with the position where it was crossed.
@Suite("YAML limits")
struct LimitsTests {
    /// The path of the `depth`-th collection of `[[[...` (an index `[0]` per enclosing sequence).
    static func nestedSequencePath(_ depth: Int) -> String { String(repeating: "[0]", count: depth - 1) }

    @Test("50,000 nested flow sequences are refused at the 65th, before anything deeper is read")
    func deepFlowSequences() {
        let depth = 50_000
        let yaml = String(repeating: "[", count: depth) + String(repeating: "]", count: depth) + "\n"
        #expect(
            diagnostics(yaml) == [
                "providers.yaml:1:65: \(Self.nestedSequencePath(65)): mappings and sequences are nested more than 64 levels deep here; the limit is 64"
            ]
        )
    }

    @Test("50,000 nested flow mappings are refused at the 65th")
    func deepFlowMappings() {
        let depth = 50_000
        let yaml = String(repeating: "{a: ", count: depth) + "1" + String(repeating: "}", count: depth) + "\n"
        let path = Array(repeating: "a", count: 64).joined(separator: ".")
        // The 65th `{` starts at column 4 * 64 + 1.
        #expect(
            diagnostics(yaml) == [
                "providers.yaml:1:257: \(path): mappings and sequences are nested more than 64 levels deep here; the limit is 64"
            ]
        )
    }

    @Test("50,000 nested block sequences on one line are refused at the 65th")
    func deepBlockSequences() {
        let yaml = String(repeating: "- ", count: 50_000) + "x\n"
        #expect(
            diagnostics(yaml) == [
                "providers.yaml:1:129: \(Self.nestedSequencePath(65)): mappings and sequences are nested more than 64 levels deep here; the limit is 64"
            ]
        )
    }

    @Test("a file nested 50,000 levels deep on disk is one diagnostic, as `batchgate validate` prints it")
    func deepFileOnDisk() throws {
        try withTemporaryFile(String(repeating: "[", count: 50_000) + String(repeating: "]", count: 50_000)) { path in
            #expect(
                throws: ConfigErrors(diagnostics: [
                    ConfigDiagnostic(
                        file: path,
                        line: 1,
                        column: 65,
                        keyPath: Self.nestedSequencePath(65),
                        message: "mappings and sequences are nested more than 64 levels deep here; the limit is 64"
                    )
                ])
            ) {
                try ConfigLoader.load(path: path, environment: [:], providerKinds: testKinds)
            }
        }
    }

    @Test("exactly the depth limit is read; one level more is refused")
    func depthBoundary() {
        let limits = YAMLLimits(maxDepth: 5)
        let atLimit = "a: {b: {c: {d: [x]}}}\n"
        switch YAMLReader(limits: limits).read(Array(atLimit.utf8)) {
        case .success(let node): #expect(node != nil)
        case .failure(let failure): Issue.record("refused at the limit: \(failure.problems)")
        }
        let pastLimit = "a: {b: {c: {d: [[x]]}}}\n"
        #expect(
            readerProblems(pastLimit, limits: limits) == [
                "1:17: a.b.c.d[0]: mappings and sequences are nested more than 5 levels deep here; the limit is 5"
            ]
        )
    }

    @Test("an alias that would nest its node past the depth limit is refused at the alias")
    func deepAlias() {
        let inner = String(repeating: "[", count: 40) + "x" + String(repeating: "]", count: 40)
        let yaml = "a: &deep \(inner)\nb: " + String(repeating: "[", count: 30) + "*deep" + String(repeating: "]", count: 30) + "\n"
        // `b` is 1 level (the root mapping) + 30 sequences deep where the alias stands; the alias adds 40.
        #expect(
            readerProblems(yaml) == [
                "2:34: b\(Self.nestedSequencePath(31)): alias *deep nests mappings and sequences 71 levels deep here; the limit is 64"
            ]
        )
    }

    @Test("a file over the size limit is refused unread, naming its size and the limit")
    func sizeLimit() throws {
        let oversized = "# " + String(repeating: "x", count: 1 << 20) + "\n"
        #expect(diagnostics(oversized) == ["providers.yaml:1:1: the file is 1048579 bytes; the limit is 1048576 bytes (1 MiB)"])

        let twoMiB = String(repeating: "#\n", count: 1 << 20)
        try withTemporaryFile(twoMiB) { path in
            #expect(
                throws: ConfigErrors(diagnostics: [
                    ConfigDiagnostic(
                        file: path,
                        line: 1,
                        column: 1,
                        keyPath: "",
                        message: "the file is 2097152 bytes (2 MiB); the limit is 1048576 bytes (1 MiB)"
                    )
                ])
            ) {
                try ConfigLoader.load(path: path, environment: [:], providerKinds: testKinds)
            }
        }
    }

    @Test("a stream with no size (a device) is read only until it passes the limit")
    func endlessStream() {
        switch ConfigLoader.readFile("/dev/zero", limit: 64 * 1024) {
        case .success(let bytes): Issue.record("read \(bytes.count) bytes of an endless stream")
        case .failure(let failure): #expect(failure.description == "the file is larger than its limit of 65536 bytes (64 KiB)")
        }
    }

    @Test("a billion-laughs file is refused at the alias whose expansion crosses 100,000 nodes")
    func billionLaughs() {
        let yaml = billionLaughsText(levels: 9)
        // Nodes before `e`'s items: 1 (root) + 12 (a) + 112 (b) + 1112 (c) + 11112 (d) + 2 (e and its
        // sequence) = 12351; each *d repeats 11111, so the 8th (e[7], column 8 + 7 * 4) crosses 100,000.
        #expect(
            diagnostics(yaml) == [
                "providers.yaml:5:36: e[7]: alias *d repeats 11111 nodes, which takes the document past the limit of 100000 nodes once aliases are expanded"
            ]
        )
    }

    @Test("a long string repeated by aliases is refused at the alias that crosses the text limit")
    func repeatedText() {
        let yaml = "a: &a \"\(String(repeating: "x", count: 100_000))\"\nb: [" + Array(repeating: "*a", count: 200).joined(separator: ", ") + "]\n"
        // 100,002 bytes of text before `b` (keys included); each *a repeats 100,000: the 83rd (b[82]) passes 8 MiB.
        #expect(
            diagnostics(yaml) == [
                "providers.yaml:2:333: b[82]: alias *a repeats 100000 bytes of text, which takes the document past the limit of 8388608 bytes (8 MiB) of text once aliases are expanded"
            ]
        )
    }

    @Test("a document of more nodes than the limit, without aliases, is refused at the first node past it")
    func manyNodes() {
        let yaml = "a: [" + Array(repeating: "1", count: 20).joined(separator: ", ") + "]\n"
        #expect(
            readerProblems(yaml, limits: YAMLLimits(maxExpandedNodes: 10)) == [
                "1:26: a[7]: the document holds more than 10 nodes; the limit is 10"
            ]
        )
    }

    @Test("a configuration with a few ordinary aliases loads")
    func ordinaryAliases() throws {
        let configuration = try load(
            """
            auth:
              api_keys:
                - {tenant: acme, key: &shared-tenant-key k-1}
                - {tenant: beta, key: k-2}
            providers:
              airops: {kind: olostep-airops, base_url: &airops-url "https://api.olostep.com", token: &token t-1}
              airops-2: {kind: olostep-airops, base_url: *airops-url, token: *token}
            routes:
              scrape: {kind: url_batch, targets: &targets [{provider: airops}, {provider: airops-2}]}
              scrape-again: {kind: url_batch, targets: *targets}
            """
        )
        #expect(configuration.provider(named: "airops-2")?.baseURL == "https://api.olostep.com")
        #expect(configuration.provider(named: "airops-2")?.string("token") == "t-1")
        #expect(configuration.route(named: "scrape-again")?.targets.map(\.provider) == ["airops", "airops-2"])
    }

    @Test("values read from the environment are bounded in total; the message shows no value")
    func environmentBudget() {
        let big = String(repeating: "s", count: 300_000)
        let yaml = withDefaults(
            """
            auth:
              api_keys:
                - {tenant: a, key: "${BIG}"}
                - {tenant: b, key: "${BIG}-2"}
                - {tenant: c, key: "${BIG}-3"}
                - {tenant: d, key: "${BIG}-4"}
                - {tenant: e, key: "${BIG}-5"}
            """
        )
        let found = diagnostics(yaml, environment: ["BIG": big])
        #expect(
            found == [
                "providers.yaml:6:24: auth.api_keys[3].key: the values read from the environment add up to more than 1048576 bytes (1 MiB) in this file; the limit is 1048576 bytes (1 MiB)"
            ]
        )
    }

    @Test(
        "byte counts name their binary unit when they have one",
        arguments: [
            (1, "1 byte"), (1_000, "1000 bytes"), (1_024, "1024 bytes (1 KiB)"), (1_048_576, "1048576 bytes (1 MiB)"),
            (1_048_577, "1048577 bytes"), (1 << 30, "1073741824 bytes (1 GiB)"),
        ]
    )
    func byteCounts(bytes: Int, expected: String) {
        #expect(ByteCount.format(bytes) == expected)
    }
}

/// `a: &a [x × 10]`, `b: &b [*a × 10]`, ... with `levels` anchors: 10^levels nodes once expanded.
func billionLaughsText(levels: Int) -> String {
    let names = (0..<levels).map { String(UnicodeScalar(UInt8(ascii: "a") + UInt8($0))) }
    var lines = ["a: &a [" + Array(repeating: "x", count: 10).joined(separator: ", ") + "]"]
    for (previous, name) in zip(names, names.dropFirst()) {
        lines.append("\(name): &\(name) [" + Array(repeating: "*\(previous)", count: 10).joined(separator: ", ") + "]")
    }
    return lines.joined(separator: "\n") + "\n"
}

/// The reader's problems as `line:column: path: message`.
func readerProblems(_ text: String, limits: YAMLLimits = .standard) -> [String] {
    switch YAMLReader(limits: limits).read(Array(text.utf8)) {
    case .success: return []
    case .failure(let failure): return failure.problems.map { "\($0.mark): \($0.path): \($0.message)" }
    }
}

/// Runs `body` with the path of a fresh file holding `contents`, removed afterwards.
func withTemporaryFile(_ contents: String, _ body: (String) throws -> Void) throws {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("batchgate-config-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: directory) }
    let path = directory.appendingPathComponent("providers.yaml").path
    try Data(contents.utf8).write(to: URL(fileURLWithPath: path))
    try body(path)
}
