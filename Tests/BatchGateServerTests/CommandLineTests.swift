import BatchGateCore
import BatchGateTestSupport
import Foundation
import Testing

/// The `batchgate` binary's commands that need no server.
@Suite struct CommandLineTests {
    func run(_ arguments: [String]) throws -> (status: Int32, stdout: String, stderr: String) {
        let process = try ChildProcess(executable: CrashRecoveryTests.binary, arguments: arguments, environment: ["PATH": "/usr/bin:/bin"])
        let status = process.waitUntilExit()
        let (stdout, stderr) = process.output()
        return ((status >> 8) & 0xff, stdout, stderr)
    }

    /// `run` on a thread of its own, so a gateway in this process keeps every cooperative thread meanwhile.
    func runOffThePool(_ arguments: [String]) async throws -> (status: Int32, stdout: String, stderr: String) {
        try await withCheckedThrowingContinuation { continuation in
            Thread { continuation.resume(with: Result { try run(arguments) }) }.start()
        }
    }

    @Test func versionIsPrinted() throws {
        let result = try run(["--version"])
        #expect(result.status == 0)
        #expect(result.stdout == BatchGateVersion.current + "\n")
    }

    @Test func validatePrintsEveryMistakeWithItsPlaceAndExitsOne() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("bg-cli-\(Identifier.secret(byteCount: 6))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("bad.yaml").path
        try """
        server:
          listen: "127.0.0.1:8080"
          colour: blue
        auth:
          api_keys:
            - {tenant: acme, key: k1}
        providers:
          airops: {kind: olostep-airops, base_url: "https://api.olostep.com", token: t, poll_interval: fast}
        routes:
          scrape: {kind: url_batch, targets: [{provider: aitronos-missing}]}
        """.write(toFile: path, atomically: true, encoding: .utf8)
        let result = try run(["validate", "--config", path])
        #expect(result.status == 1)
        let lines = result.stderr.split(separator: "\n").map(String.init)
        #expect(lines.count == 3, "\(lines)")
        #expect(lines.allSatisfy { $0.hasPrefix(path + ":") })
        #expect(lines.contains { $0.hasPrefix("\(path):3:3: server.colour:") })
        #expect(lines.contains { $0.hasPrefix("\(path):8:") && $0.contains(": providers.airops.poll_interval: expected a duration") })
        #expect(lines.contains { $0.contains(": routes.scrape.targets[0].provider:") })

        let good = directory.appendingPathComponent("good.yaml").path
        try """
        auth: {api_keys: [{tenant: acme, key: k1}]}
        providers:
          airops: {kind: olostep-airops, base_url: "https://api.olostep.com", token: t}
        routes:
          scrape: {kind: url_batch, targets: [{provider: airops}]}
        """.write(toFile: good, atomically: true, encoding: .utf8)
        let ok = try run(["validate", "--config", good])
        #expect(ok.status == 0)
        #expect(ok.stdout.contains("OK"))
    }
}
