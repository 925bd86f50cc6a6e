import BatchGateCore
import BatchGateSimulators
import BatchGateTransport
import Foundation
import Testing

/// The events stream never sends two `batch` events in a row with the same data.
@Suite(.timeLimit(.minutes(2)))
struct EventStreamRepeatTests {
    /// Refused submits are retried with backoff; each retry stores a new version of the job that only
    /// counts the attempt, so the batch object renders the same. None of those versions is streamed.
    @Test func versionsThatRenderTheSameAreNotSentAgain() async throws {
        // Slow answers: the stream is open before the first refused submit is stored.
        let faults = AirOpsFaults(latency: .milliseconds(300), unavailableResponses: 3)
        try await GatewayHarness.run(faults: faults) { gateway in
            let created = try await gateway.createBatch(urls: ["https://example.com/a", "https://example.com/b"])
            let id = try #require(created["id"]?.stringValue)
            let stream = try await gateway.readEvents(id, timeout: .seconds(60))
            #expect(stream.ended, "the stream ends after the terminal event")
            let events = stream.events
            let batches = try events.map { try JSONDecoder().decode(JSONValue.self, from: Data($0.data.utf8)) }
            #expect(batches.first?["lifecycle_status"]?.stringValue == "pending")
            #expect(batches.last?["lifecycle_status"]?.stringValue == "completed")
            for (previous, next) in zip(events, events.dropFirst()) {
                #expect(previous.data != next.data, "events \(previous.lastEventID) and \(next.lastEventID) carry the same data")
            }
            let versions = events.compactMap { Int($0.lastEventID) }
            #expect(versions == versions.sorted() && Set(versions).count == versions.count, "versions increase: \(versions)")
            #expect(gateway.simulator.requestCount(AirOpsSimulator.Route.create) >= 4, "three refused submits, then one accepted")
        }
    }
}
