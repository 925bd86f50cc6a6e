import BatchGateCore
import BatchGateSimulators
import BatchGateTestSupport
import Foundation
import Testing

/// `batchgate submit`, `status` and `watch` run as processes against a gateway in this process.
@Suite(.timeLimit(.minutes(2)))
struct WatchCommandTests {
    /// Runs the binary on a thread of its own (so the gateway keeps the cooperative pool); kills it after `timeout`.
    func run(
        _ arguments: [String],
        environment: [String: String] = [:],
        timeout: TimeInterval = 60
    ) async throws
        -> (status: Int32, stdout: String, stderr: String, timedOut: Bool)
    {
        try await withCheckedThrowingContinuation { continuation in
            Thread {
                continuation.resume(
                    with: Result {
                        let process = try ChildProcess(
                            executable: CrashRecoveryTests.binary,
                            arguments: arguments,
                            environment: ["PATH": "/usr/bin:/bin"].merging(environment) { _, new in new }
                        )
                        let killer = DispatchWorkItem { process.signal(SIGTERM) }
                        DispatchQueue.global().asyncAfter(deadline: .now() + timeout, execute: killer)
                        let status = process.waitUntilExit()
                        killer.cancel()
                        let (stdout, stderr) = process.output()
                        let timedOut = status & 0x7f != 0
                        return (
                            (status >> 8) & 0xff, stdout, stderr,
                            timedOut
                        )
                    }
                )
            }.start()
        }
    }

    @Test func watchFollowsThreeJobsToCompletionInPlainMode() async throws {
        try await GatewayHarness.run { gateway in
            let connection = ["--url", gateway.baseURL]
            let environment = ["BATCHGATE_API_KEY": gateway.apiKey]
            var ids: [String] = []
            for index in 0..<3 {
                let submitted = try await run(
                    ["submit", "--route", "scrape", "--urls", "https://example.com/\(index)/a,https://example.com/\(index)/b"] + connection,
                    environment: environment,
                    timeout: 30
                )
                #expect(submitted.status == 0, "\(submitted.stderr)")
                let id = submitted.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
                #expect(Identifier.isWellFormed(id, prefix: "bat"), "\(submitted.stdout)")
                ids.append(id)
            }

            let watch = try await run(["watch"] + ids + connection, environment: environment, timeout: 60)
            #expect(!watch.timedOut)
            #expect(watch.status == 0, "stdout: \(watch.stdout)\nstderr: \(watch.stderr)")
            let lines = watch.stdout.split(separator: "\n").map(String.init)
            for id in ids {
                #expect(lines.contains { $0.hasPrefix("\(id) ") }, "a line per event of \(id)")
                #expect(lines.contains { $0.hasPrefix("final \(id) completed 100% 2/0/2 ") }, "\(lines)")
            }
            #expect(!watch.stdout.contains("\u{1B}["), "no terminal escapes on a pipe")

            let status = try await run(["status", ids[0]] + connection, environment: environment, timeout: 30)
            #expect(status.status == 0)
            #expect(status.stdout.hasPrefix("\(ids[0]) completed 100% 2/0/2 "), "\(status.stdout)")
        }
    }

    @Test func watchShowsOneJobOnEachVendorMovingTo100Percent() async throws {
        var tagger = GatewayHarness.TaggerSettings()
        // 20 documents take the vendor 8 s: time for `watch` to start (three `submit` processes first) on a
        // loaded machine and still see the tagger's bar move.
        tagger.scenario = .init(documentInterval: .milliseconds(400))
        // Keepalives a loaded machine cannot mistake for a silent socket: this test is about the bar, not them.
        tagger.keepalive = .seconds(2)
        try await GatewayHarness.run(tagger: tagger) { gateway in
            let connection = ["--url", gateway.baseURL]
            let environment = ["BATCHGATE_API_KEY": gateway.apiKey]
            let directory = FileManager.default.temporaryDirectory.appendingPathComponent("bg-watch-\(Identifier.secret(byteCount: 6))")
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(at: directory) }
            let documents = directory.appendingPathComponent("documents.json").path
            try Data(
                JSONEncoder().encode(
                    JSONValue.array(
                        (0..<20).map { ["title": .string("Doc \($0)"), "file_path": .string("s3://b/\($0).pdf"), "file_source_type": "s3"] }
                    )
                )
            ).write(to: URL(fileURLWithPath: documents))
            let input = directory.appendingPathComponent("input.json").path
            try Data(
                #"{"urls": ["https://example.com/x/a", "https://example.com/x/b"], "schema": {"type": "object"}}"#.utf8
            ).write(to: URL(fileURLWithPath: input))

            var ids: [String] = []
            for arguments in [
                ["--route", "scrape", "--urls", "https://example.com/y/a,https://example.com/y/b"],
                ["--route", "scrape-aitronos", "--input-file", input],
                ["--route", "tag-documents", "--documents-file", documents],
            ] {
                let submitted = try await run(["submit"] + arguments + connection, environment: environment, timeout: 30)
                #expect(submitted.status == 0, "\(submitted.stderr)")
                ids.append(submitted.stdout.trimmingCharacters(in: .whitespacesAndNewlines))
            }

            let watch = try await run(["watch"] + ids + connection, environment: environment, timeout: 60)
            #expect(watch.status == 0, "stdout: \(watch.stdout)\nstderr: \(watch.stderr)")
            let lines = watch.stdout.split(separator: "\n").map(String.init)
            for id in ids {
                // `<id> <lifecycle> <percent>% <succeeded>/<failed>/<total> <elapsed>s`, percent never going down.
                let percents = lines.filter { $0.hasPrefix("\(id) ") }.compactMap { line -> Int? in
                    let fields = line.split(separator: " ")
                    return fields.count > 2 ? Int(fields[2].dropLast()) : nil
                }
                #expect(percents == percents.sorted(), "\(id): \(percents)")
                #expect(percents.last == 100, "\(id): \(percents)")
                #expect(lines.contains { $0.hasPrefix("final \(id) completed 100% ") }, "\(lines)")
            }
            let taggerPercents = lines.filter { $0.hasPrefix("\(ids[2]) ") }.compactMap { Int($0.split(separator: " ")[2].dropLast()) }
            #expect(Set(taggerPercents.filter { $0 > 0 && $0 < 100 }).count >= 3, "the tagger's bar moves: \(taggerPercents)")
            #expect(lines.contains { $0.hasPrefix("final \(ids[2]) completed 100% 20/0/20 ") }, "\(lines)")
        }
    }

    @Test func watchExitsOneWhenAJobDidNotComplete() async throws {
        try await GatewayHarness.run(scenario: .init(outcome: .scrapingFailure)) { gateway in
            let created = try await gateway.createBatch(urls: ["https://example.com/a"])
            let id = try #require(created["id"]?.stringValue)
            let watch = try await run(
                ["watch", id, "--url", gateway.baseURL, "--api-key", gateway.apiKey],
                timeout: 60
            )
            #expect(!watch.timedOut)
            #expect(watch.status == 1, "\(watch.stdout) \(watch.stderr)")
            #expect(watch.stdout.contains("final \(id) failed"), "\(watch.stdout)")
        }
    }
}
