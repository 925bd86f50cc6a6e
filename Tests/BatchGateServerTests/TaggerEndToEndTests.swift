import BatchGateCore
import BatchGateSimulators
import Foundation
import Testing

/// The document-tagging adapter driven end to end: the gateway starts jobs over HTTP and observes
/// them over the simulator's WebSocket, with the socket dropped, stalled and refused.
// One test at a time: each runs a gateway and three simulators, and short keepalives make timing matter.
@Suite(.serialized, .timeLimit(.minutes(3)))
struct TaggerEndToEndTests {
    @Test func fiftyDocumentsWithTheSocketDroppedTwiceEndWithEveryRowOnce() async throws {
        var settings = GatewayHarness.TaggerSettings()
        // 50 documents take the vendor 7.5 s and each socket drops after 6 messages, so the second socket drops
        // too even when a loaded machine is slow to reconnect.
        settings.scenario = .init(documentInterval: .milliseconds(150), failEvery: 7)
        settings.faults = TaggerFaults(dropSockets: 2, dropAfterMessages: 6)
        try await GatewayHarness.run(tagger: settings) { gateway in
            let created = try await gateway.createTaggingBatch(documents: 50)
            let id = try #require(created["id"]?.stringValue)
            #expect(created["kind"]?.stringValue == "document_tagging")
            #expect(created["provider_kind"]?.stringValue == "doc-tagging-ws")
            #expect(created["cancel_url"]?.stringValue == "\(gateway.baseURL)/v1/batches/\(id)/cancel")

            let (batch, statuses) = try await gateway.waitForTerminal(id)
            #expect(statuses.last == "completed")
            #expect(batch["progress"]?["total"]?.intValue == 50)
            #expect(batch["progress"]?["failed"]?.intValue == 7)
            #expect(batch["progress"]?["succeeded"]?.intValue == 43)
            #expect(batch["progress"]?["pending"]?.intValue == 0)
            #expect(batch["progress"]?["percent"]?.intValue == 100)
            #expect(batch["cancel_url"] == .null)

            let rows = try await gateway.call("GET", "/v1/batches/\(id)/results?limit=100").body["data"]?.arrayValue ?? []
            #expect(rows.count == 50)
            #expect(rows.map { $0["index"]?.intValue } == (0..<50).map { $0 })
            #expect(rows.filter { $0["status"]?.stringValue == "failed" }.count == 7)
            #expect(rows.filter { $0["status"]?.stringValue == "succeeded" }.count == 43)
            let failed = try #require(rows.first { $0["status"]?.stringValue == "failed" })
            #expect(failed["error"]?["code"]?.stringValue == "model-error")
            let succeeded = try #require(rows.first { $0["status"]?.stringValue == "succeeded" })
            #expect(succeeded["data"]?["tags"]?.arrayValue.isEmpty == false)
            #expect(succeeded["key"]?.stringValue == "Document 0")

            let providerID = try #require(batch["provider_batch_id"]?.stringValue)
            // Each drop ends a socket and the rows after it need another. Under a heavy load the vendor can
            // finish before the gateway's second socket got its 6 messages, so the second drop may not happen.
            let drops = gateway.tagger.socketsDropped(jobID: providerID)
            #expect((1...2).contains(drops))
            #expect(gateway.tagger.socketsOpened(jobID: providerID) >= drops + 1, "\(drops) drops mean at least \(drops + 1) sockets")
        }
    }

    @Test func aCompletionReportingRowsNotReceivedWaitsForTheNextCatchup() async throws {
        var settings = GatewayHarness.TaggerSettings()
        settings.scenario = .init(documentInterval: .milliseconds(40), failEvery: 5)
        // The first socket drops; the second's catchup lacks its 3 newest rows (a lagging replica), so the
        // live `completed` reports more documents than the gateway has rows for.
        settings.faults = TaggerFaults(dropSockets: 1, dropAfterMessages: 16)
        try await GatewayHarness.run(tagger: settings) { gateway in
            let id = try #require(try await gateway.createTaggingBatch(documents: 30)["id"]?.stringValue)
            try await eventually("the first socket delivering rows", timeout: .seconds(20), interval: .milliseconds(5)) {
                (try await gateway.call("GET", "/v1/batches/\(id)").body["progress"]?["succeeded"]?.intValue ?? 0) >= 1
            }
            var faults = gateway.tagger.faults()
            #expect(faults.dropSockets == 0, "the first socket took the drop")
            faults.shortCatchups = 1
            faults.shortCatchupRows = 3
            gateway.tagger.setFaults(faults)
            let (batch, statuses) = try await gateway.waitForTerminal(id)
            #expect(statuses.last == "completed")
            #expect(batch["progress"]?["succeeded"]?.intValue == 24)
            #expect(batch["progress"]?["failed"]?.intValue == 6)
            let rows = try await gateway.call("GET", "/v1/batches/\(id)/results?limit=100").body["data"]?.arrayValue ?? []
            #expect(rows.count == 30)
            #expect(rows.allSatisfy { $0["status"]?.stringValue != "pending" })
            let providerID = try #require(batch["provider_batch_id"]?.stringValue)
            #expect(gateway.tagger.socketsOpened(jobID: providerID) >= 3, "the held completion reconnects for the full catchup")
            #expect(gateway.tagger.faults().shortCatchups == 0)
        }
    }

    @Test func aJobFinishedBeforeTheGatewayConnectedCompletesFromTheCatchup() async throws {
        var settings = GatewayHarness.TaggerSettings()
        settings.scenario = .init(documentInterval: .milliseconds(5), failEvery: 4)
        settings.faults = TaggerFaults(finishInstantly: true)
        try await GatewayHarness.run(tagger: settings) { gateway in
            let id = try #require(try await gateway.createTaggingBatch(documents: 12)["id"]?.stringValue)
            let (batch, _) = try await gateway.waitForTerminal(id)
            #expect(batch["lifecycle_status"]?.stringValue == "completed")
            #expect(batch["progress"]?["succeeded"]?.intValue == 9)
            #expect(batch["progress"]?["failed"]?.intValue == 3)
            let rows = try await gateway.call("GET", "/v1/batches/\(id)/results?limit=100").body["data"]?.arrayValue ?? []
            #expect(rows.count == 12)
        }
    }

    /// Many finished jobs connected to at once: the vendor sends catchup, completion and close in one go,
    /// which the WebSocket client sometimes loses; the gateway reopens such silent sockets until the rows come.
    @Test func manyJobsFinishedBeforeTheGatewayConnectedAllEndWithEveryRow() async throws {
        var settings = GatewayHarness.TaggerSettings()
        settings.faults = TaggerFaults(finishInstantly: true)
        try await GatewayHarness.run(tagger: settings) { gateway in
            let ids = try await withThrowingTaskGroup(of: String.self) { group in
                for _ in 0..<30 {
                    group.addTask { try #require(try await gateway.createTaggingBatch(documents: 5)["id"]?.stringValue) }
                }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            for id in ids {
                let (batch, _) = try await gateway.waitForTerminal(id, timeout: .seconds(60))
                #expect(batch["lifecycle_status"]?.stringValue == "completed")
                #expect(try await gateway.call("GET", "/v1/batches/\(id)/results").body["data"]?.arrayValue.count == 5)
            }
        }
    }

    @Test func cancelThroughCancelURLEndsCancelled() async throws {
        var settings = GatewayHarness.TaggerSettings()
        settings.scenario = .init(documentInterval: .milliseconds(150))
        try await GatewayHarness.run(tagger: settings) { gateway in
            let created = try await gateway.createTaggingBatch(documents: 40)
            let id = try #require(created["id"]?.stringValue)
            try await eventually("some documents tagged", timeout: .seconds(20)) {
                (try await gateway.call("GET", "/v1/batches/\(id)").body["progress"]?["succeeded"]?.intValue ?? 0) >= 2
            }
            let cancelURL = try #require(created["cancel_url"]?.stringValue)
            let cancel = try await gateway.call("POST", String(cancelURL.dropFirst(gateway.baseURL.count)))
            #expect(cancel.status == 202)
            #expect(cancel.body["lifecycle_status"]?.stringValue == "running", "the vendor confirms the cancel later")
            let (batch, _) = try await gateway.waitForTerminal(id)
            #expect(batch["lifecycle_status"]?.stringValue == "cancelled")
            #expect(batch["cancel_url"] == .null)
            #expect((batch["progress"]?["succeeded"]?.intValue ?? 0) < 40)
            #expect(try await gateway.call("POST", "/v1/batches/\(id)/cancel").status == 409)
        }
    }

    @Test func aRefusedTokenFailsTheJobWithAnAuthenticationError() async throws {
        var settings = GatewayHarness.TaggerSettings()
        settings.faults = TaggerFaults(rejectToken: true)
        try await GatewayHarness.run(tagger: settings) { gateway in
            let id = try #require(try await gateway.createTaggingBatch(documents: 5)["id"]?.stringValue)
            let (batch, _) = try await gateway.waitForTerminal(id)
            #expect(batch["lifecycle_status"]?.stringValue == "failed")
            #expect(batch["error"]?["code"]?.stringValue == "provider_auth_failed")
            #expect(batch["error"]?["provider_code"]?.stringValue == "ws_close_1008")
            #expect(batch["error"]?["message"]?.stringValue?.contains("Authentication required") == true)
        }
    }

    @Test func aWrongTokenIsRefusedAtStartWithoutLeakingIt() async throws {
        var settings = GatewayHarness.TaggerSettings()
        settings.token = "not-the-token"
        try await GatewayHarness.run(tagger: settings) { gateway in
            let id = try #require(try await gateway.createTaggingBatch(documents: 2)["id"]?.stringValue)
            let (batch, _) = try await gateway.waitForTerminal(id)
            #expect(batch["lifecycle_status"]?.stringValue == "failed")
            #expect(batch["error"]?["code"]?.stringValue == "submit_rejected")
            #expect("\(batch)".contains("not-the-token") == false)
        }
    }

    @Test func theTokenMayGoInTheAuthorizationHeader() async throws {
        var settings = GatewayHarness.TaggerSettings()
        settings.tokenIn = "header"
        try await GatewayHarness.run(tagger: settings) { gateway in
            let id = try #require(try await gateway.createTaggingBatch(documents: 6)["id"]?.stringValue)
            let (batch, _) = try await gateway.waitForTerminal(id)
            #expect(batch["lifecycle_status"]?.stringValue == "completed")
            #expect(try await gateway.call("GET", "/v1/batches/\(id)/results").body["data"]?.arrayValue.count == 6)
        }
    }

    @Test func aSilentSocketIsReopened() async throws {
        var settings = GatewayHarness.TaggerSettings()
        settings.scenario = .init(documentInterval: .milliseconds(30))
        settings.faults = TaggerFaults(stallSockets: 1)
        try await GatewayHarness.run(tagger: settings) { gateway in
            let id = try #require(try await gateway.createTaggingBatch(documents: 20)["id"]?.stringValue)
            let (batch, _) = try await gateway.waitForTerminal(id)
            #expect(batch["lifecycle_status"]?.stringValue == "completed")
            #expect(try await gateway.call("GET", "/v1/batches/\(id)/results?limit=100").body["data"]?.arrayValue.count == 20)
            let providerID = try #require(batch["provider_batch_id"]?.stringValue)
            #expect(gateway.tagger.socketsOpened(jobID: providerID) >= 2)
        }
    }

    @Test func aJobWhoseSocketCannotBeReopenedEndsThroughTheStatusEndpoint() async throws {
        var settings = GatewayHarness.TaggerSettings()
        settings.scenario = .init(documentInterval: .milliseconds(20))
        settings.keepalive = .milliseconds(100)
        settings.pollInterval = .milliseconds(100)
        settings.faults = TaggerFaults(stallSockets: 1_000)
        try await GatewayHarness.run(tagger: settings) { gateway in
            let id = try #require(try await gateway.createTaggingBatch(documents: 10)["id"]?.stringValue)
            let (batch, _) = try await gateway.waitForTerminal(id, timeout: .seconds(40))
            #expect(batch["lifecycle_status"]?.stringValue == "completed")
            #expect(batch["progress"]?["succeeded"]?.intValue == 10)
            #expect(gateway.tagger.requestCount(TaggerSimulator.Route.status) >= 1)
        }
    }

    @Test func pauseAndResume() async throws {
        var settings = GatewayHarness.TaggerSettings()
        settings.scenario = .init(documentInterval: .milliseconds(60))
        try await GatewayHarness.run(tagger: settings) { gateway in
            let id = try #require(try await gateway.createTaggingBatch(documents: 20)["id"]?.stringValue)
            try await eventually("tagging under way", timeout: .seconds(20)) {
                (try await gateway.call("GET", "/v1/batches/\(id)").body["progress"]?["succeeded"]?.intValue ?? 0) >= 1
            }
            let paused = try await gateway.call("POST", "/v1/batches/\(id)/pause")
            #expect(paused.status == 202)
            try await eventually("the vendor reporting paused", timeout: .seconds(10)) {
                try await gateway.call("GET", "/v1/batches/\(id)").body["provider_status"]?.stringValue == "paused"
            }
            let during = try await gateway.call("GET", "/v1/batches/\(id)").body
            #expect(during["lifecycle_status"]?.stringValue == "running")
            let stored = try await gateway.call("GET", "/v1/batches/\(id)/results?limit=100").body["data"]?.arrayValue ?? []
            #expect(stored.filter { $0["status"]?.stringValue == "succeeded" }.count >= 1, "rows are stored as they arrive")
            #expect(try await gateway.call("POST", "/v1/batches/\(id)/resume").status == 202)
            let (batch, _) = try await gateway.waitForTerminal(id)
            #expect(batch["lifecycle_status"]?.stringValue == "completed")
            #expect(batch["progress"]?["succeeded"]?.intValue == 20)

            // AirOps cannot pause.
            let airops = try #require(try await gateway.createBatch(urls: ["https://example.com/a"])["id"]?.stringValue)
            let refused = try await gateway.call("POST", "/v1/batches/\(airops)/pause")
            #expect(refused.status == 409)
            #expect(refused.body["error"]?["code"]?.stringValue == "not_pausable")
        }
    }

    @Test func rateLimitedDocumentsAreRetriedAndNeverCountedFailed() async throws {
        var settings = GatewayHarness.TaggerSettings()
        settings.scenario = .init(documentInterval: .milliseconds(20), rateLimitEvery: 3)
        try await GatewayHarness.run(tagger: settings) { gateway in
            let id = try #require(try await gateway.createTaggingBatch(documents: 12)["id"]?.stringValue)
            var failedSeen = 0
            try await eventually("the batch completed", timeout: .seconds(20)) {
                let batch = try await gateway.call("GET", "/v1/batches/\(id)").body
                failedSeen = max(failedSeen, batch["progress"]?["failed"]?.intValue ?? 0)
                return batch["lifecycle_status"]?.stringValue == "completed"
            }
            #expect(failedSeen == 0, "a document the vendor retries is pending, not failed")
            let rows = try await gateway.call("GET", "/v1/batches/\(id)/results?limit=100").body["data"]?.arrayValue ?? []
            #expect(rows.count == 12)
            #expect(rows.allSatisfy { $0["status"]?.stringValue == "succeeded" })
            #expect(rows.contains { $0["data"]?["retry_count"]?.intValue == 2 }, "the retried rows keep their retry count")
        }
    }

    @Test func aJobMigratedToAnotherTaggerEndsThereWithOnlyItsRows() async throws {
        var settings = GatewayHarness.TaggerSettings()
        settings.scenario = .init(documentInterval: .milliseconds(40), failEvery: 10)
        try await GatewayHarness.run(tagger: settings) { gateway in
            let id = try #require(try await gateway.createTaggingBatch(documents: 30)["id"]?.stringValue)
            try await eventually("rows from the first provider", timeout: .seconds(20)) {
                (try await gateway.call("GET", "/v1/batches/\(id)").body["progress"]?["succeeded"]?.intValue ?? 0) >= 3
            }
            let moved = try await gateway.call("POST", "/v1/batches/\(id)/migrate", json: ["provider": "tagger-b"])
            #expect(moved.status == 200, "\(moved.body)")
            #expect(moved.body["provider"]?.stringValue == "tagger-b")

            let (batch, _) = try await gateway.waitForTerminal(id)
            #expect(batch["lifecycle_status"]?.stringValue == "completed")
            #expect(batch["provider"]?.stringValue == "tagger-b")
            #expect(batch["provider_batch_id"]?.stringValue == "\(id)-1", "the second attempt has its own vendor job id")
            #expect(batch["progress"]?["succeeded"]?.intValue == 27)
            #expect(batch["progress"]?["failed"]?.intValue == 3)
            #expect(batch["history"]?.arrayValue.first?["provider"]?.stringValue == "tagger")
            let rows = try await gateway.call("GET", "/v1/batches/\(id)/results?limit=100").body["data"]?.arrayValue ?? []
            #expect(rows.count == 30)
            #expect(rows.filter { $0["status"]?.stringValue == "failed" }.count == 3)
            try await eventually("the first attempt cancelled at the vendor", timeout: .seconds(10)) {
                gateway.tagger.jobStatus(id)?.status == "cancelled"
            }
        }
    }

    @Test func badDocumentsAreRefusedBeforeAnythingIsSent() async throws {
        try await GatewayHarness.run { gateway in
            let body: JSONValue = [
                "route": "tag-documents",
                "input": ["documents": [["title": "A", "file_path": "a.pdf", "file_source_type": "ftp"]], "config": ["num_tags": 40]],
            ]
            let (status, answer, _) = try await gateway.call("POST", "/v1/batches", json: body)
            #expect(status == 400)
            #expect(answer["error"]?["field"]?.stringValue == "input.documents[0].file_source_type")
            #expect(gateway.tagger.requestCount(TaggerSimulator.Route.start) == 0)
        }
    }
}

extension GatewayHarness {
    /// Creates a document-tagging batch of `documents` documents on route `tag-documents`.
    func createTaggingBatch(documents: Int) async throws -> JSONValue {
        let items: [JSONValue] = (0..<documents).map { index in
            ["title": .string("Document \(index)"), "file_path": .string("https://files.example/doc-\(index).pdf"), "file_source_type": "url"]
        }
        let (status, body, _) = try await call(
            "POST",
            "/v1/batches",
            json: ["route": "tag-documents", "input": ["documents": .array(items), "config": ["num_tags": 4]]]
        )
        #expect(status == 201, "create answered \(status): \(body)")
        return body
    }
}
