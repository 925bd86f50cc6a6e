import BatchGateCore
import Foundation
import HTTPTypes
import Testing

@testable import BatchGateServer

/// The pure checks behind every route: JSON bodies, query parameters, headers and result pages.
@Suite struct RequestCheckTests {
    @Test(
        arguments: [
            (#"{"a": [1, 2, {"b": "c"}]}"#, nil),
            (#"  {"a": "x\"y\\", "b": "{[" }  "#, nil),
            (#"{"a": 1, "b": {"a": 2}}"#, nil),
            (#"[{"a": 1}, {"a": 2}]"#, nil),
            (#"{"a": 1, "a": 2}"#, "repeats a key"),
            (#"{"a": 1, "\u0061": 2}"#, "repeats a key"),
            (#"{"a": 1,}"#, "trailing comma"),
            (#"[1, 2, ]"#, "trailing comma"),
            (#"{"a": [1}"#, "closes an array"),
            (#"[1]]"#, "unexpected"),
            (#"{"a": "b"#, "never closed"),
            (#"{"a": [1, 2"#, "unclosed"),
            ("{\"a\": \"x\u{1}\"}", "control character"),
        ] as [(String, String?)]
    )
    func structure(text: String, problem: String?) {
        let found = JSONBody.structureProblem(Array(text.utf8), maxDepth: 8)
        if let problem {
            #expect(found?.contains(problem) == true, "\(text): \(found ?? "none")")
        } else {
            #expect(found == nil, "\(text): \(found ?? "")")
        }
    }

    @Test func depthIsRefusedBeforeAnyRecursiveDecode() throws {
        let deep = Array((String(repeating: "[", count: 1_000_000) + String(repeating: "]", count: 1_000_000)).utf8)
        #expect(JSONBody.structureProblem(deep, maxDepth: 64) == "nesting deeper than 64 levels at byte 64")
        #expect(JSONBody.structureProblem(Array((String(repeating: "[", count: 64) + String(repeating: "]", count: 64)).utf8), maxDepth: 64) == nil)
        let error = try #require(throws: GatewayError.self) { try JSONBody.decode(deep) }
        #expect(error.status == 400)
        #expect(error.message.contains("deeper than 64"))
    }

    @Test func invalidUTF8IsFoundAtItsOffset() {
        #expect(JSONBody.firstInvalidUTF8(Array("{\"é\": \"ok\"}".utf8)) == nil)
        #expect(JSONBody.firstInvalidUTF8([0x7B, 0x22, 0xC3, 0xA9, 0xFF]) == 4)
        #expect(JSONBody.firstInvalidUTF8([0xC0, 0xAF]) == 0)
        #expect(JSONBody.firstInvalidUTF8([0x61, 0xED, 0xA0, 0x80]) == 1, "an encoded surrogate")
        #expect(JSONBody.firstInvalidUTF8([0x61, 0xE2, 0x82]) == 1, "a truncated sequence")
    }

    @Test(arguments: [
        (#"{"m": {"big": 1e400}}"#, "m.big"),
        (#"{"m": [0, 1, -1e400]}"#, "m[2]"),
        (#"{"m": {"s": "\ud800"}}"#, "m.s"),
        (#"{"n": 01}"#, "n"),
    ])
    func unrepresentableValuesNameTheirPath(text: String, field: String) throws {
        let error = try #require(throws: GatewayError.self) { try JSONBody.decode(Array(text.utf8)) }
        #expect(error.field == field)
        #expect(error.code == "invalid_request")
    }

    @Test func exactIntegersSurviveTheBodyReader() throws {
        let value = try JSONBody.decode(Array(#"{"id": 9007199254740993, "n": 1.5}"#.utf8))
        #expect(value["id"]?.int64Value == 9_007_199_254_740_993)
        #expect(value["n"]?.doubleValue == 1.5)
    }

    static func query(_ pairs: [(String, String)], allowed: Set<String>) throws(GatewayError) -> QueryParameters {
        try QueryParameters(pairs.map { (key: Substring($0.0), value: Substring($0.1)) }, allowed: allowed)
    }

    @Test func queryParametersRefuseUnknownAndRepeatedNames() throws {
        let ok = try Self.query([("limit", "5"), ("after", "x")], allowed: ["limit", "after"])
        #expect(try ok.limit(default: 20, max: 100) == 5)
        #expect(ok["after"] == "x")
        #expect(try Self.query([], allowed: []).limit(default: 20, max: 100) == 20)
        let unknown = try #require(throws: GatewayError.self) { try Self.query([("limt", "5")], allowed: ["limit"]) }
        #expect(unknown.field == "limt")
        let none = try #require(throws: GatewayError.self) { try Self.query([("x", "1")], allowed: []) }
        #expect(none.message.contains("takes no query parameters"))
        let twice = try #require(throws: GatewayError.self) { try Self.query([("limit", "5"), ("limit", "6")], allowed: ["limit"]) }
        #expect(twice.field == "limit")
        let encoded = try Self.query([("%6Cimit", "7")], allowed: ["limit"])
        #expect(try encoded.limit(default: 1, max: 10) == 7)
        let long = try #require(throws: GatewayError.self) { try Self.query([(String(repeating: "k", count: 500), "1")], allowed: []) }
        #expect(long.field?.count == 65, "a long name is quoted shortened")
    }

    @Test(arguments: ["0", "-1", "101", "+5", " 5", "5 ", "1.0", "1e2", "0x10", "", "99999999999999999999", "٣"])
    func limitOutsideItsRangeIsRefused(value: String) throws {
        let query = try Self.query([("limit", value)], allowed: ["limit"])
        let error = try #require(throws: GatewayError.self) { try query.limit(default: 20, max: 100) }
        #expect(error.field == "limit")
        #expect(error.status == 400)
    }

    @Test func headersAreCheckedForCountAndShape() throws {
        #expect(try APIRoutes.idempotencyKey([]) == nil)
        #expect(try APIRoutes.idempotencyKey(["order-1"]) == "order-1")
        for bad in [["order-1", "order-2"], [""], [String(repeating: "k", count: 256)], ["a\u{7}b"], ["clé"]] {
            let error = try #require(throws: GatewayError.self) { try APIRoutes.idempotencyKey(bad) }
            #expect(error.field == "Idempotency-Key")
        }

        #expect(try EventStreamRoute.lastEventID(["12"]) == 12)
        #expect(try EventStreamRoute.lastEventID([]) == nil)
        #expect(try EventStreamRoute.lastEventID([""]) == nil)
        for bad in [["-1"], ["x"], ["1e3"], ["99999999999999999999"], ["1", "2"]] {
            let error = try #require(throws: GatewayError.self) { try EventStreamRoute.lastEventID(bad) }
            #expect(error.field == "Last-Event-ID")
        }

        let keys = ["key-acme": "acme"]
        #expect(try APIKeyMiddleware.tenant(for: ["Bearer key-acme"], keys: keys) == "acme")
        #expect(try APIKeyMiddleware.tenant(for: ["bEaReR   key-acme"], keys: keys) == "acme")
        for bad in [[], ["Bearer"], ["Basic key-acme"], ["Bearer key-acme x"], ["Bearer key-acme", "Bearer key-acme"]] {
            let error = try #require(throws: APIError.self) { try APIKeyMiddleware.tenant(for: bad, keys: keys) }
            #expect(error.error.status == 401)
            #expect(error.headers[.wwwAuthenticate] != nil)
        }
    }

    static let input = JobInput.urlBatch(URLBatchInput(urls: (0..<5).map { "https://example.com/\($0)" }))

    static func stored(_ indexes: [Int]) -> [ItemResult] {
        indexes.map { ItemResult(index: $0, key: "https://example.com/\($0)", status: .succeeded, data: ["n": .integer(Int64($0))]) }
    }

    @Test(
        arguments: [
            // (stored rows after `after`, after, limit, expected indexes, statuses as s/p, has more)
            ([], nil, 10, [0, 1, 2, 3, 4], "ppppp", false),
            ([1, 3], nil, 10, [0, 1, 2, 3, 4], "pspsp", false),
            ([1, 3], nil, 2, [0, 1], "ps", true),
            ([3], 1, 2, [2, 3], "ps", true),
            ([3], 2, 2, [3, 4], "sp", false),
            ([], 4, 10, [], "", false),
            ([], 5, 10, [], "", false),
            ([], 1000, 10, [], "", false),
            ([], Int.max, 10, [], "", false),
            ([], Int.max - 1, 1, [], "", false),
            ([], -7, 2, [0, 1], "pp", true),
            ([0, 1, 2, 3, 4], nil, 5, [0, 1, 2, 3, 4], "sssss", false),
        ] as [([Int], Int?, Int, [Int], String, Bool)]
    )
    func pagesOfAnUnfinishedJob(stored: [Int], after: Int?, limit: Int, indexes: [Int], statuses: String, hasMore: Bool) {
        let page = ResultsPage.rows(stored: Self.stored(stored), pendingFrom: Self.input, after: after, limit: limit)
        #expect(page.rows.map(\.index) == indexes)
        #expect(String(page.rows.map { $0.status == .pending ? "p" : "s" }) == statuses)
        #expect(page.rows.allSatisfy { $0.key == "https://example.com/\($0.index)" }, "each row keeps its own key")
        #expect(page.hasMore == hasMore)
    }

    @Test func finishedJobsShowStoredRowsOnly() {
        let page = ResultsPage.rows(stored: Self.stored([0, 2, 4]), pendingFrom: nil, after: nil, limit: 2)
        #expect(page.rows.map(\.index) == [0, 2])
        #expect(page.hasMore)
        #expect(ResultsPage.rows(stored: [], pendingFrom: nil, after: Int.max, limit: 10).rows.isEmpty)
    }
}
