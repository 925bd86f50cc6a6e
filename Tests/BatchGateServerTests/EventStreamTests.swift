import BatchGateCore
import BatchGateSimulators
import BatchGateTransport
import Foundation
import Synchronization
import Testing

@testable import BatchGateServer

/// `GET /v1/batches/{id}/events` over loopback against the AirOps simulator.
@Suite(.timeLimit(.minutes(2)))
struct EventStreamTests {
    @Test func streamFollowsAJobFromPendingToCompletedAndEnds() async throws {
        try await GatewayHarness.run { gateway in
            let created = try await gateway.createBatch(urls: (0..<6).map { "https://example.com/page/\($0)" })
            let id = try #require(created["id"]?.stringValue)
            let stream = try await gateway.readEvents(id, timeout: .seconds(30))
            #expect(stream.status == 200)
            #expect(stream.header("content-type") == "text/event-stream")
            #expect(stream.header("cache-control") == "no-cache")
            #expect(stream.ended, "the stream ends after the terminal event")
            let events = stream.events
            #expect(events.count >= 2, "\(events.map(\.lastEventID))")
            #expect(events.allSatisfy { $0.type == "batch" })
            let versions = events.compactMap { Int($0.lastEventID) }
            #expect(versions.count == events.count)
            #expect(zip(versions, versions.dropFirst()).allSatisfy { $0 < $1 }, "versions strictly increase: \(versions)")
            let batches = try events.map { try JSONDecoder().decode(JSONValue.self, from: Data($0.data.utf8)) }
            #expect(batches.allSatisfy { $0["id"]?.stringValue == id })
            #expect(batches.last?["lifecycle_status"]?.stringValue == "completed")
            #expect(batches.dropLast().allSatisfy { ["pending", "running"].contains($0["lifecycle_status"]?.stringValue ?? "") })
            let percents = batches.compactMap { $0["progress"]?["percent"]?.intValue }
            #expect(percents == percents.sorted())

            // An event carries exactly the bytes GET answers at its version. (A finished job can still
            // take a later version from a late vendor event, so compare at the version now current.)
            let again = try await gateway.readEvents(id, timeout: .seconds(5))
            let current = try #require(again.events.last)
            #expect(again.ended && again.events.count == 1)
            let (status, _, response) = try await gateway.call("GET", "/v1/batches/\(id)")
            #expect(status == 200)
            #expect(Array(current.data.utf8) == response.body)
            if current.lastEventID == events.last!.lastEventID {
                #expect(events.last!.data == current.data)
            }
        }
    }

    @Test func firstEventIsTheCurrentStateWithTheBytesOfGet() async throws {
        // Long queue: after the submit the job stays unchanged for a while.
        try await GatewayHarness.run(scenario: .init(queueDelay: .seconds(30))) { gateway in
            let created = try await gateway.createBatch(urls: ["https://example.com/a"])
            let id = try #require(created["id"]?.stringValue)
            var current: [UInt8] = []
            try await eventually("submitted") {
                let (_, body, response) = try await gateway.call("GET", "/v1/batches/\(id)")
                current = response.body
                return body["provider_batch_id"]?.stringValue != nil
            }
            let stream = try await gateway.readEvents(id, timeout: .seconds(5)) { !$0.events.isEmpty }
            let first = try #require(stream.events.first)
            #expect(Array(first.data.utf8) == current)
            #expect(!stream.ended)
        }
    }

    @Test func lastEventIDResumesWithoutRepeats() async throws {
        try await GatewayHarness.run(scenario: .init(queueDelay: .seconds(2), scrapingDuration: .milliseconds(600))) { gateway in
            let created = try await gateway.createBatch(urls: (0..<4).map { "https://example.com/page/\($0)" })
            let id = try #require(created["id"]?.stringValue)
            let first = try await gateway.readEvents(id, timeout: .seconds(5)) { !$0.events.isEmpty }
            let seen = try #require(first.events.first.flatMap { Int($0.lastEventID) })

            // Resuming from the version just seen: the next event is a newer one, never `seen` again.
            let resumed = try await gateway.readEvents(id, lastEventID: String(seen), timeout: .seconds(30))
            #expect(resumed.ended)
            let versions = resumed.events.compactMap { Int($0.lastEventID) }
            #expect(!versions.isEmpty)
            #expect(versions.allSatisfy { $0 > seen }, "\(versions) after \(seen)")

            // The finished job may still take a version or two (late vendor events); wait until it is stable.
            var final = try #require(versions.last)
            try await eventually("final version stable", timeout: .seconds(10), interval: .milliseconds(300)) {
                let now = try await gateway.readEvents(id, timeout: .seconds(5))
                guard let version = now.events.last.flatMap({ Int($0.lastEventID) }) else { return false }
                defer { final = version }
                return version == final
            }

            // Already has the terminal version: nothing is sent and the stream ends.
            let upToDate = try await gateway.readEvents(id, lastEventID: String(final), timeout: .seconds(5))
            #expect(upToDate.ended)
            #expect(upToDate.events.isEmpty)

            // Missed the last change: the current state at once, then the end.
            let behind = try await gateway.readEvents(id, lastEventID: String(final - 1), timeout: .seconds(5))
            #expect(behind.ended)
            #expect(behind.events.map(\.lastEventID) == [String(final)])
            let (_, _, response) = try await gateway.call("GET", "/v1/batches/\(id)")
            #expect(Array(behind.events[0].data.utf8) == response.body)
        }
    }

    @Test func anotherTenantGets404AndNoKeyGets401() async throws {
        try await GatewayHarness.run { gateway in
            let created = try await gateway.createBatch(urls: ["https://example.com/a"])
            let id = try #require(created["id"]?.stringValue)
            let other = try await gateway.readEvents(id, key: gateway.otherTenantKey, timeout: .seconds(5))
            #expect(other.status == 404)
            #expect(other.events.isEmpty)
            let error = try JSONDecoder().decode(JSONValue.self, from: Data(other.body))
            #expect(error["error"]?["code"]?.stringValue == "not_found")
            #expect(try await gateway.readEvents("bat_garbage", timeout: .seconds(5)).status == 404)
            #expect(try await gateway.readEvents(id, key: "wrong", timeout: .seconds(5)).status == 401)
        }
    }

    @Test func heartbeatArrivesWhileNothingChanges() async throws {
        try await EventStreamRoute.$defaultHeartbeat.withValue(.milliseconds(100)) {
            try await GatewayHarness.run(scenario: .init(queueDelay: .seconds(30))) { gateway in
                let created = try await gateway.createBatch(urls: ["https://example.com/a"])
                let id = try #require(created["id"]?.stringValue)
                let stream = try await gateway.readEvents(id, timeout: .seconds(5)) { stream in
                    stream.items.filter { $0 == .comment("heartbeat") }.count >= 2
                }
                #expect(stream.items.filter { $0 == .comment("heartbeat") }.count >= 2, "\(stream.items)")
                #expect(!stream.events.isEmpty)
            }
        }
    }

    @Test func gracefulShutdownEndsOpenStreams() async throws {
        let reader = try CurlHTTPClient()
        defer { reader.shutdown() }
        let outcome = Locked<ReceivedStream?>(nil)
        let connected = Locked(false)
        try await withThrowingTaskGroup(of: Void.self) { group in
            try await GatewayHarness.run(scenario: .init(queueDelay: .seconds(60))) { gateway in
                let created = try await gateway.createBatch(urls: ["https://example.com/a"])
                let id = try #require(created["id"]?.stringValue)
                group.addTask {
                    let stream = try await gateway.readEvents(id, timeout: .seconds(40), using: reader) { stream in
                        if !stream.events.isEmpty { connected.withLock { $0 = true } }
                        return false
                    }
                    outcome.withLock { $0 = stream }
                }
                try await eventually("stream open") { connected.withLock { $0 } }
                // Returning starts the gateway's graceful shutdown with the stream still open.
            }
            try await group.waitForAll()
        }
        let stream = try #require(outcome.withLock { $0 })
        #expect(stream.ended, "the server ended the stream")
        #expect(!stream.events.isEmpty)
        #expect(stream.events.allSatisfy { !$0.data.contains("\"lifecycle_status\":\"completed\"") })
    }

    @Test func slowSubscriberDoesNotBlockPublishingAndUnsubscribes() async throws {
        let feed = JobChangeFeed()
        let job = Job(
            id: "bat_01",
            tenant: "t",
            kind: .urlBatch,
            route: "r",
            provider: "p",
            providerKind: "k",
            state: JobState(progress: BatchProgress(total: 1)),
            createdAt: .now(),
            metadata: .object([:]),
            inboundSecret: "s"
        )
        let stream = feed.subscribe(job.id)
        #expect(feed.subscriberCount(job.id) == 1)
        for version in 1...1000 {
            var next = job
            next.version = version
            feed.publish(next)
        }
        var iterator = stream.makeAsyncIterator()
        #expect(await iterator.next()?.version == 1000, "only the newest version is kept")
        feed.finishAll()
        #expect(await iterator.next() == nil)
        #expect(feed.subscriberCount(job.id) == 0)
    }
}
