import BatchGateFuzzServerTargets
import BatchGateFuzzTargets
import Foundation
import Testing

/// Replays every checked-in fuzz input (`Fuzz/corpus/<target>/`, `Fuzz/regressions/<target>/`) through
/// the fuzz entry points in an ordinary build: an input that once crashed the gateway crashes this test.
@Suite struct CorpusReplayTests {
    /// `Fuzz/` at the repository root.
    static let fuzzRoot = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fuzz")

    static func files(_ folder: String, _ target: String) throws -> [URL] {
        let directory = fuzzRoot.appendingPathComponent(folder).appendingPathComponent(target)
        guard FileManager.default.fileExists(atPath: directory.path) else { return [] }
        return try FileManager.default.contentsOfDirectory(at: directory, includingPropertiesForKeys: nil)
            .filter { !$0.lastPathComponent.hasPrefix(".") }
            .sorted { $0.lastPathComponent < $1.lastPathComponent }
    }

    static func subfolders(_ folder: String) throws -> [String] {
        let directory = fuzzRoot.appendingPathComponent(folder)
        guard FileManager.default.fileExists(atPath: directory.path) else { return [] }
        return try FileManager.default.contentsOfDirectory(atPath: directory.path).filter { !$0.hasPrefix(".") }.sorted()
    }

    @Test("every corpus input runs, and the seeds reach every step", arguments: ServerFuzzEntries.all.map(\.name))
    func replay(target: String) async throws {
        let entry = try #require(ServerFuzzEntries.all.first { $0.name == target })
        let corpus = try Self.files("corpus", target)
        #expect(!corpus.isEmpty, "Fuzz/corpus/\(target) has no seed inputs")
        var reached: Set<String> = []
        for file in corpus + (try Self.files("regressions", target)) {
            reached.formUnion(await entry.run(Array(try Data(contentsOf: file))))
        }
        #expect(reached == Set(entry.steps), "steps no seed of \(target) reaches: \(Set(entry.steps).subtracting(reached).sorted())")
    }

    @Test("every corpus and regression folder names a fuzz target")
    func foldersNameTargets() throws {
        let names = Set(ServerFuzzEntries.all.map(\.name))
        for folder in ["corpus", "regressions"] {
            for name in try Self.subfolders(folder) {
                #expect(names.contains(name), "Fuzz/\(folder)/\(name) is not a fuzz target; targets: \(names.sorted())")
            }
        }
        #expect(Set(try Self.subfolders("corpus")) == names, "every fuzz target has a seed corpus")
    }

    @Test("multi-part inputs split at lines of ---, and only there")
    func inputParts() async throws {
        let tagger = try #require(ServerFuzzEntries.all.first { $0.name == "tagger" })
        let keepalive = #"{"type": "keepalive", "status": "processing"}"#
        let completed = #"{"type": "completed", "processed_count": 2, "failed_count": 0}"#
        #expect(await tagger.run(Array("\(keepalive)\n---\n\(completed)".utf8)).isSuperset(of: ["keepalive", "completed"]))
        #expect(await tagger.run(Array("\(keepalive)\n--\n\(completed)".utf8)).isDisjoint(with: ["keepalive", "completed"]))
    }
}
