import BatchGateCore
import Testing

@testable import BatchGateProviders

@Suite struct AirOpsValidateTests {
    let provider = AirOpsStatusTests.provider

    struct Row: Sendable, CustomTestStringConvertible {
        var name: String
        var input: JobInput
        var field: String
        var testDescription: String { name }
    }

    static func urls(_ urls: [String], ids: [String]? = nil, brands: [String]? = nil, country: String? = nil) -> JobInput {
        .urlBatch(URLBatchInput(urls: urls, customIDs: ids, brands: brands, country: country))
    }

    @Test(arguments: [
        Row(name: "no URLs", input: urls([]), field: "input.urls"),
        Row(name: "relative URL", input: urls(["https://a.example/", "/path"]), field: "input.urls[1]"),
        Row(name: "ftp URL", input: urls(["ftp://a.example/file"]), field: "input.urls[0]"),
        Row(name: "no host", input: urls(["https://a.example", "https:///nohost"]), field: "input.urls[1]"),
        Row(name: "space in URL", input: urls(["https://a.example/a b"]), field: "input.urls[0]"),
        Row(name: "empty URL", input: urls(["https://a.example", "https://b.example", ""]), field: "input.urls[2]"),
        Row(name: "fewer custom ids", input: urls(["https://a.example", "https://b.example"], ids: ["x"]), field: "input.custom_ids"),
        Row(name: "empty custom id", input: urls(["https://a.example", "https://b.example"], ids: ["x", ""]), field: "input.custom_ids[1]"),
        Row(
            name: "custom id of 256",
            input: urls(
                ["https://a.example", "https://b.example", "https://c.example", "https://d.example"],
                ids: ["a", "b", "c", String(repeating: "z", count: 256)]
            ),
            field: "input.custom_ids[3]"
        ),
        Row(
            name: "duplicate custom id",
            input: urls(["https://a.example", "https://b.example", "https://c.example"], ids: ["a", "b", "a"]),
            field: "input.custom_ids[2]"
        ),
        Row(name: "empty brand", input: urls(["https://a.example"], brands: ["Acme", " "]), field: "input.brands[1]"),
        Row(name: "empty country", input: urls(["https://a.example"], country: ""), field: "input.country"),
        Row(
            name: "document tagging",
            input: .documentTagging(DocumentTaggingInput(documents: [TaggingDocument(title: "t", filePath: "p", fileSourceType: "url")])),
            field: "input"
        ),
    ])
    func rejects(_ row: Row) {
        do {
            try provider.validate(row.input)
            Issue.record("accepted \(row.name)")
        } catch {
            #expect(error.field == row.field)
            #expect(error.status == 400)
            #expect(error.code == "invalid_request")
            #expect(!error.message.isEmpty)
        }
    }

    @Test(arguments: [
        urls(["https://a.example/blog/post?x=1#frag"]),
        urls(["HTTP://A.EXAMPLE:8080/x", "https://b.example"], ids: ["a", String(repeating: "z", count: 255)]),
        urls(["https://a.example", "https://a.example"], brands: ["Acme"], country: "US"),
    ])
    func accepts(_ input: JobInput) throws {
        try provider.validate(input)
    }

    @Test func capabilitiesAndSpec() {
        #expect(AirOpsProvider.kindSpec.kind == "olostep-airops")
        #expect(AirOpsProvider.kindSpec.jobKinds == [.urlBatch])
        #expect(AirOpsProvider.kindSpec.options == [ProviderOptionSpec("token", .string, required: true)])
        #expect(provider.capabilities.jobKinds == [.urlBatch])
        #expect(!provider.capabilities.canCancel)
        #expect(provider.capabilities.receivesWebhooks)
        #expect(provider.capabilities.maxItemsPerBatch == nil)
        #expect(provider.pollInterval == .seconds(15))
        #expect(ProviderRegistry.standard.entries["olostep-airops"] != nil)
    }

    @Test func cancelIsNotSupported() async {
        await #expect(throws: ProviderError(.notSupported, "AirOps batches cannot be cancelled.")) {
            try await provider.cancel(providerBatchID: "batch_1")
        }
    }

    /// Vendor items map back to input order by custom_id, then URL; unknown ones stay pending.
    @Test func itemsMatchInputOrder() throws {
        let body = try fixture("airops/items-response.json")
        let page = try JSONDecoder().decode(AirOpsWire.ItemsPage.self, from: Data(body))
        let input = URLBatchInput(
            urls: ["https://example.com/pricing", "https://example.com/missing", "https://example.com/blog/launch", "https://example.com/new"],
            customIDs: ["post-3", "post-2", "post-1", "post-4"]
        )
        let results = AirOpsProvider.itemResults(page.items, input: input)
        #expect(results.map(\.index) == [0, 1, 2, 3])
        #expect(results.map(\.key) == ["post-3", "post-2", "post-1", "post-4"])
        #expect(results.map(\.status) == [.succeeded, .failed, .succeeded, .pending])
        #expect(results[0].data?["page_type"] == .string("landing_page"))
        #expect(results[0].data?["url"] == .string("https://example.com/pricing"))
        #expect(results[0].data?["custom_id"] == nil)
        #expect(results[2].data?["brand_mentions"] == .array([.string("Acme")]))
        #expect(results[1].error?.code == "SCRAPE_FAILED")
        #expect(results[1].error?.message == "Failed to scrape https://example.com/missing: HTTP 404")
        #expect(results[1].data?["failed_stage"] == .string("scraping"))
        #expect(results[3].data == nil)
    }

    @Test func itemsWithoutCustomIDsMatchByURL() {
        let items: [JSONValue] = [
            .object(["url": .string("https://b.example"), "page_type": .string("article")]),
            .object(["url": .string("https://a.example"), "page_type": .string("product")]),
            .object(["url": .string("https://a.example"), "page_type": .string("homepage")]),
        ]
        let input = URLBatchInput(urls: ["https://a.example", "https://b.example", "https://a.example"])
        let results = AirOpsProvider.itemResults(items, input: input)
        #expect(results.map(\.key) == ["https://a.example", "https://b.example", "https://a.example"])
        #expect(results.map { $0.data?["page_type"] } == [.string("product"), .string("article"), .string("homepage")])
    }
}

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
