import BatchGateCore
import BatchGateSimulators
import BatchGateTestSupport
import Foundation
import Testing

/// The operator page in a real browser: Tests/UI/browser_test.py drives headless Chromium (Debian's
/// `chromium` and `chromium-driver`) through PyPI's Selenium against a gateway running here with the
/// three vendor simulators. See the script for what it checks.
///
/// The script's Python is `BATCHGATE_UI_PYTHON` (scripts/test.sh makes a virtual environment with
/// Selenium). Without it, or without Chromium, the test is skipped with a note, unless
/// `BATCHGATE_REQUIRE_BROWSER=1` (CI). Screenshots go to `BATCHGATE_UI_SCREENSHOTS`, or a temporary
/// folder.
@Suite(.timeLimit(.minutes(4)))
struct OperatorPageBrowserTests {
    static var script: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("UI/browser_test.py")
    }

    @Test func signInWatchJobsFinishLiveCancelFromThePageAndEscapeHostileText() async throws {
        let environment = ProcessInfo.processInfo.environment
        let required = environment["BATCHGATE_REQUIRE_BROWSER"] == "1"
        guard let python = environment["BATCHGATE_UI_PYTHON"], !python.isEmpty,
            FileManager.default.isExecutableFile(atPath: "/usr/bin/chromium"),
            FileManager.default.isExecutableFile(atPath: "/usr/bin/chromedriver")
        else {
            if required {
                Issue.record("BATCHGATE_UI_PYTHON, /usr/bin/chromium or /usr/bin/chromedriver is missing, and BATCHGATE_REQUIRE_BROWSER=1")
            } else {
                print("skipped: set BATCHGATE_UI_PYTHON (scripts/test.sh does) and install chromium and chromium-driver")
            }
            return
        }
        let screenshots =
            environment["BATCHGATE_UI_SCREENSHOTS"]
            ?? FileManager.default.temporaryDirectory.appendingPathComponent("bg-ui-\(Identifier.secret(byteCount: 6))").path
        try FileManager.default.createDirectory(atPath: screenshots, withIntermediateDirectories: true)
        // Slow enough vendors that the page is open before the batches finish.
        let scenario = AirOpsSimulator.Scenario(
            queueDelay: .seconds(1),
            scrapingDuration: .seconds(3),
            analyzingDuration: .milliseconds(500),
            enrichingDuration: .seconds(2)
        )
        let tagger = GatewayHarness.TaggerSettings(scenario: .init(documentInterval: .milliseconds(1500)))
        try await GatewayHarness.run(scenario: scenario, aitronosURLDuration: .seconds(5), tagger: tagger) { gateway in
            let process = try ChildProcess(
                executable: python,
                arguments: [
                    Self.script.path, "--base", gateway.baseURL, "--key", gateway.apiKey, "--other-key", gateway.otherTenantKey,
                    "--screenshots", screenshots,
                ],
                environment: ["PATH": "/usr/bin:/bin", "HOME": FileManager.default.temporaryDirectory.path]
            )
            defer { if process.isRunning { process.signal(SIGKILL) } }
            try await eventually("the browser test to end", timeout: .seconds(200), interval: .milliseconds(200)) { !process.isRunning }
            let (stdout, stderr) = process.output()
            print(stdout)
            #expect(process.exitCode == 0, "browser test failed:\n\(stdout)\n\(stderr)")
            #expect(stdout.contains("ok: the rows changed without a reload"))
            #expect(stdout.contains("ok: the cancelled job shows cancelled"))
        }
    }
}
