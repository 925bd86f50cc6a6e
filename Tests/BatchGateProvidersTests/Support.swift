import BatchGateCore
import Foundation
import Logging
import Testing

/// Reads a fixture from `Fixtures/` in the test bundle.
func fixture(_ path: String) throws -> [UInt8] {
    let base = try #require(Bundle.module.resourceURL, "the test bundle has no resources")
    return Array(try Data(contentsOf: base.appendingPathComponent("Fixtures").appendingPathComponent(path)))
}

/// A logger that discards everything.
let quietLogger = Logger(label: "batchgate.tests", factory: { _ in SwiftLogNoOpLogHandler() })

struct TimedOut: Error, CustomStringConvertible {
    var what: String
    var description: String { "timed out waiting for \(what)" }
}

/// Polls `condition` every `interval` until it holds; throws `TimedOut` after `timeout`.
func waitUntil(
    _ what: String,
    timeout: Duration = .seconds(30),
    interval: Duration = .milliseconds(10),
    _ condition: () async throws -> Bool
) async throws {
    let deadline = ContinuousClock.now.advanced(by: timeout)
    while ContinuousClock.now < deadline {
        if try await condition() { return }
        try await Task.sleep(for: interval)
    }
    if try await condition() { return }
    throw TimedOut(what: what)
}
