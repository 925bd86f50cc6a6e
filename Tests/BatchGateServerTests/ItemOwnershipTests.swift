import BatchGateCore
import BatchGateSimulators
import Foundation
import Testing

/// Every result row carries its own item's data and error, whatever order the vendor answers in.
///
/// The simulators name what each item's data belongs to (the URL, or the document title), answer
/// concurrent requests with random delays (so they complete out of order) and list jobs in random order;
/// these tests read every row back through the API and check its content against its input item.
@Suite(.timeLimit(.minutes(3)))
struct ItemOwnershipTests {
    static let schema: JSONValue = ["type": "object", "properties": ["title": ["type": "string"], "summary": ["type": "string"]]]

    /// `host/path` of a URL, as the Aitronos simulator writes it into the items it extracts.
    static func location(_ url: String) -> String {
        String(url.split(separator: "://", maxSplits: 1).last ?? "")
    }

    /// Checks one Aitronos row against the URL it must belong to.
    static func expectAitronosRow(_ row: JSONValue, index: Int, url: String, key: String) {
        #expect(row["index"]?.intValue == index)
        #expect(row["key"]?.stringValue == key, "row \(index)")
        if url.contains("/fail") {
            #expect(row["status"]?.stringValue == "failed", "row \(index): \(row)")
            // The vendor's own words, naming this row's URL.
            #expect(row["error"]?["message"]?.stringValue == "Failed to fetch \(url): HTTP 404 Not Found", "row \(index): \(row)")
            return
        }
        #expect(row["status"]?.stringValue == "succeeded", "row \(index): \(row)")
        let items = row["data"]?["extracted_data"]?.arrayValue ?? []
        #expect(!items.isEmpty, "row \(index) has no extracted data: \(row)")
        for item in items {
            // "Title 1 of example.com/page/3": ends with this row's location, not another's.
            #expect(item["title"]?.stringValue?.hasSuffix(" of \(location(url))") == true, "row \(index) holds \(item)")
        }
        #expect(row["data"]?["metadata"]?["engine_used"]?.stringValue != nil, "row \(index) lacks the job's metadata: \(row)")
        #expect(row["error"] == .null)
    }

    static func urls(_ count: Int) -> [String] {
        // Varied hosts and paths, some failing, so no two items' data look alike.
        (0..<count).map { index in
            let host = ["example.com", "shop.example.org", "news.example.net"][index % 3]
            return index % 5 == 3 ? "https://\(host)/fail/\(index)" : "https://\(host)/page/\(index)"
        }
    }

    @Test(arguments: [(6, false), (6, true), (120, false), (120, true)])
    func aitronosRowsCarryTheirOwnURLsDataWhenAnsweredOutOfOrder(count: Int, unlistedURLs: Bool) async throws {
        var faults = AitronosFaults()
        faults.jitter = .milliseconds(60)
        faults.shuffleJobs = true
        // Jobs listed in random order without their URLs: only each job's details say which item it is.
        faults.unlistedURLs = unlistedURLs
        try await GatewayHarness.run(aitronosFaults: faults) { gateway in
            let urls = Self.urls(count)
            let ids = urls.indices.map { "item-\($0)" }
            let created = try await gateway.createBatch(urls: urls, customIDs: ids, route: "scrape-aitronos", schema: Self.schema)
            let id = try #require(created["id"]?.stringValue)
            let (batch, _) = try await gateway.waitForTerminal(id, timeout: .seconds(60))
            #expect(batch["lifecycle_status"]?.stringValue == "completed")
            let failing = urls.filter { $0.contains("/fail") }.count
            #expect(batch["progress"]?["failed"]?.intValue == failing)
            #expect(batch["progress"]?["succeeded"]?.intValue == count - failing)
            let rows = try await gateway.call("GET", "/v1/batches/\(id)/results?limit=1000").body["data"]?.arrayValue ?? []
            try #require(rows.count == count)
            for (index, row) in rows.enumerated() {
                Self.expectAitronosRow(row, index: index, url: urls[index], key: ids[index])
            }
        }
    }

    @Test func airOpsRowsCarryTheirOwnURLsData() async throws {
        var faults = AirOpsFaults()
        faults.jitter = .milliseconds(40)
        try await GatewayHarness.run(faults: faults) { gateway in
            let urls = Self.urls(12)
            let ids = urls.indices.map { "item-\($0)" }
            let created = try await gateway.createBatch(urls: urls, customIDs: ids)
            let id = try #require(created["id"]?.stringValue)
            let (batch, _) = try await gateway.waitForTerminal(id, timeout: .seconds(60))
            #expect(batch["lifecycle_status"]?.stringValue == "completed")
            let rows = try await gateway.call("GET", "/v1/batches/\(id)/results?limit=1000").body["data"]?.arrayValue ?? []
            try #require(rows.count == urls.count)
            for (index, row) in rows.enumerated() {
                #expect(row["index"]?.intValue == index)
                #expect(row["key"]?.stringValue == ids[index])
                #expect(row["data"]?["url"]?.stringValue == urls[index], "row \(index): \(row)")
                if urls[index].contains("/fail") {
                    #expect(row["status"]?.stringValue == "failed")
                    #expect(row["error"]?["code"]?.stringValue == "SCRAPE_FAILED")
                    #expect(row["error"]?["message"]?.stringValue == "Failed to scrape \(urls[index]): HTTP 404 Not Found")
                } else {
                    #expect(row["status"]?.stringValue == "succeeded", "row \(index): \(row)")
                }
            }
        }
    }

    @Test func taggerRowsCarryTheirOwnDocumentsData() async throws {
        var settings = GatewayHarness.TaggerSettings()
        settings.scenario = TaggerSimulator.Scenario(documentInterval: .milliseconds(15), failEvery: 4, rateLimitEvery: 3)
        settings.faults.jitter = .milliseconds(30)
        try await GatewayHarness.run(tagger: settings) { gateway in
            let count = 14
            let id = try #require(try await gateway.createTaggingBatch(documents: count)["id"]?.stringValue)
            let (batch, _) = try await gateway.waitForTerminal(id, timeout: .seconds(60))
            #expect(batch["lifecycle_status"]?.stringValue == "completed")
            let rows = try await gateway.call("GET", "/v1/batches/\(id)/results?limit=1000").body["data"]?.arrayValue ?? []
            try #require(rows.count == count)
            for (index, row) in rows.enumerated() {
                let title = "Document \(index)"
                #expect(row["index"]?.intValue == index)
                #expect(row["key"]?.stringValue == title)
                #expect(row["data"]?["title"]?.stringValue == title, "row \(index): \(row)")
                #expect(row["data"]?["row_number"]?.intValue == index + 1, "row \(index): \(row)")
                if (index + 1) % 4 == 0 {
                    #expect(row["status"]?.stringValue == "failed", "row \(index): \(row)")
                    #expect(row["error"]?["message"]?.stringValue == "The model returned no usable tags for \(title)")
                    #expect(row["error"]?["code"]?.stringValue == "model-error")
                } else {
                    #expect(row["status"]?.stringValue == "succeeded", "row \(index): \(row)")
                    #expect((row["data"]?["tags"]?.arrayValue.count ?? 0) == 4, "row \(index): \(row)")
                }
            }
        }
    }
}

/// Vendors answering nonsense cannot crash the gateway or corrupt a job: the answers are provider errors,
/// the job keeps being polled with backoff, and once the vendor answers sensibly again it ends right.
@Suite(.serialized, .timeLimit(.minutes(5)))
struct HostileVendorTests {
    static let vendors = ["airops", "aitronos", "tagger"]

    @Test(arguments: vendors, HostileAnswer.allCases)
    func aJobSurvivesHostileAnswersAndEndsRight(vendor: String, answer: HostileAnswer) async throws {
        var airops = AirOpsFaults()
        var aitronos = AitronosFaults()
        var tagger = GatewayHarness.TaggerSettings()
        switch vendor {
        case "airops": (airops.hostile, airops.hostileResponses) = (answer, 3)
        case "aitronos": (aitronos.hostile, aitronos.hostileResponses) = (answer, 3)
        default: (tagger.faults.hostile, tagger.faults.hostileResponses) = (answer, 3)
        }
        try await GatewayHarness.run(faults: airops, aitronosFaults: aitronos, tagger: tagger) { gateway in
            let id: String
            let count: Int
            switch vendor {
            case "tagger":
                count = 4
                id = try #require(try await gateway.createTaggingBatch(documents: count)["id"]?.stringValue)
            default:
                let urls = ItemOwnershipTests.urls(5)
                count = urls.count
                let created = try await gateway.createBatch(
                    urls: urls,
                    route: vendor == "airops" ? "scrape" : "scrape-aitronos",
                    schema: ItemOwnershipTests.schema
                )
                id = try #require(created["id"]?.stringValue)
            }
            let (batch, _) = try await gateway.waitForTerminal(id, timeout: .seconds(90))
            #expect(batch["lifecycle_status"]?.stringValue == "completed", "\(batch)")
            #expect(batch["provider"]?.stringValue == vendor)
            let progress = batch["progress"]
            #expect(progress?["total"]?.intValue == count)
            #expect((progress?["succeeded"]?.intValue ?? -1) + (progress?["failed"]?.intValue ?? -1) == count, "\(batch)")
            let rows = try await gateway.call("GET", "/v1/batches/\(id)/results?limit=100").body["data"]?.arrayValue ?? []
            #expect(rows.count == count)
            #expect(rows.allSatisfy { $0["status"]?.stringValue != "pending" })
            let health = try await gateway.call("GET", "/healthz")
            #expect(health.status == 200)
        }
    }
}
