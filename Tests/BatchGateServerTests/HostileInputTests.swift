import BatchGateCore
import BatchGateSimulators
import BatchGateStore
import BatchGateTestSupport
import BatchGateTransport
import Foundation
import Testing

/// Hostile requests against the real `batchgate serve` binary: every route, bad query parameters,
/// headers and bodies. Each is answered with a specific 4xx and the error envelope, and `/healthz`
/// answers after each (the process is alive). One gateway process serves the whole table.
@Suite(.serialized, .timeLimit(.minutes(3)), .hostileGateway)
struct HostileInputTests {
    @Test(arguments: HostileCase.all)
    func refusedWithTheErrorEnvelope(_ hostile: HostileCase) async throws {
        let gateway = try #require(HostileGateway.current, "the suite trait starts the gateway")
        let eventsBefore = hostile.storesNothing ? try await gateway.storedVendorEvents() : 0
        let response = try await gateway.send(hostile)
        let text = String(decoding: response.body.prefix(300), as: UTF8.self)
        #expect(response.status == hostile.status, "\(hostile.name): answered \(response.status): \(text)")
        #expect(response.header("content-type") == "application/json", "\(hostile.name)")
        let envelope = try? JSONDecoder().decode(JSONValue.self, from: Data(response.body))
        let error = envelope?["error"]
        #expect(error?["code"]?.stringValue == hostile.code, "\(hostile.name): \(text)")
        let message = error?["message"]?.stringValue ?? ""
        #expect(!message.isEmpty, "\(hostile.name): a message for humans")
        let field = error?["field"]?.stringValue
        #expect(field == hostile.field, "\(hostile.name): \(text)")
        if let allow = hostile.allow {
            #expect(response.header("allow") == allow, "\(hostile.name)")
        }
        if hostile.storesNothing {
            #expect(try await gateway.storedVendorEvents() == eventsBefore, "\(hostile.name): nothing stored")
        }
        #expect(try await gateway.healthz() == 200, "\(hostile.name): the gateway is still up")
    }

    /// `after` at, past or far past the item count of an unfinished job pages to an empty end; the
    /// items without results show as pending, each with its own key.
    @Test func resultsOfAnUnfinishedJobPageForAnyAfter() async throws {
        let gateway = try #require(HostileGateway.current)
        let path = "/v1/batches/\(gateway.pendingJob)/results"
        let all = try await gateway.json("GET", path)
        #expect(all.status == 200)
        let rows = all.body["data"]?.arrayValue ?? []
        #expect(rows.map { $0["index"]?.intValue } == [0, 1, 2])
        #expect(rows.map { $0["key"]?.stringValue } == HostileGateway.pendingURLs.map(Optional.some))
        #expect(rows.allSatisfy { $0["status"]?.stringValue == "pending" })
        #expect(all.body["has_more"] == false)

        let first = try await gateway.json("GET", path + "?limit=2")
        #expect(first.body["data"]?.arrayValue.count == 2)
        #expect(first.body["has_more"] == true)
        #expect(first.body["next_after"]?.intValue == 1)
        let second = try await gateway.json("GET", path + "?limit=2&after=1")
        #expect(second.body["data"]?.arrayValue.map { $0["index"]?.intValue } == [2])
        #expect(second.body["has_more"] == false)
        #expect(second.body["next_after"] == .null)

        for after in ["2", "3", "4", "1000", "4611686018427387", "999999999999999999"] {
            let page = try await gateway.json("GET", path + "?after=\(after)")
            #expect(page.status == 200, "after=\(after)")
            #expect(page.body["data"]?.arrayValue.isEmpty == true, "after=\(after)")
            #expect(page.body["has_more"] == false, "after=\(after)")
            #expect(try await gateway.healthz() == 200, "after=\(after)")
        }
    }

    /// The lists a hostile case must not break still answer normally afterwards.
    @Test func wellFormedRequestsStillWork() async throws {
        let gateway = try #require(HostileGateway.current)
        let list = try await gateway.json("GET", "/v1/batches?limit=100&lifecycle_status=pending")
        #expect(list.status == 200)
        let lower = try await gateway.json("GET", "/v1/batches/\(gateway.pendingJob)", authorization: "bearer key-acme")
        #expect(lower.status == 200, "the scheme is case-insensitive")
        #expect(lower.body["id"]?.stringValue == gateway.pendingJob)
        let resumed = try await gateway.json("GET", "/v1/batches/\(gateway.pendingJob)/deliveries?limit=500")
        #expect(resumed.status == 200)
        #expect(try await gateway.json("GET", "/readyz", authorization: nil).status == 200)
    }
}

// MARK: - The table

/// One hostile request and the refusal it must get.
struct HostileCase: Sendable, CustomTestStringConvertible {
    /// How the request authenticates.
    enum Authorization: Sendable {
        case tenant
        case otherTenant
        case none
        case raw([String])
    }

    var name: String
    var method: String
    /// May contain `{job}` (an unfinished job of the tenant), `{missing}` (a well-formed unknown id) and
    /// `{token}` (the job's valid inbound webhook token).
    var path: String
    var authorization: Authorization = .tenant
    var headers: [HTTPHeader] = []
    var body: [UInt8]?
    /// Sent when there is a body and no `Content-Type` among `headers`.
    var contentType = "application/json"
    var status: Int
    var code: String
    var field: String?
    /// The expected `Allow` header of a 405.
    var allow: String?
    /// The request must leave no vendor event stored (inbound webhooks).
    var storesNothing = false

    var testDescription: String { name }

    struct HTTPHeader: Sendable {
        var name: String
        var value: String
    }
}

extension HostileCase {
    static func get(
        _ name: String,
        _ path: String,
        _ status: Int,
        _ code: String,
        field: String? = nil,
        auth: Authorization = .tenant,
        headers: [HTTPHeader] = []
    ) -> HostileCase {
        HostileCase(name: name, method: "GET", path: path, authorization: auth, headers: headers, status: status, code: code, field: field)
    }

    static func post(
        _ name: String,
        _ path: String,
        _ body: String?,
        _ status: Int,
        _ code: String,
        field: String? = nil,
        auth: Authorization = .tenant,
        headers: [HTTPHeader] = []
    ) -> HostileCase {
        HostileCase(
            name: name,
            method: "POST",
            path: path,
            authorization: auth,
            headers: headers,
            body: body.map { Array($0.utf8) },
            status: status,
            code: code,
            field: field
        )
    }

    static func create(_ name: String, _ body: String, field: String?, status: Int = 400, code: String = "invalid_request") -> HostileCase {
        post(name, "/v1/batches", body, status, code, field: field)
    }

    static func create(_ name: String, bytes: [UInt8], field: String?, status: Int = 400, code: String = "invalid_request") -> HostileCase {
        HostileCase(name: name, method: "POST", path: "/v1/batches", body: bytes, status: status, code: code, field: field)
    }

    /// A valid create request with `input` (a JSON object) for route `scrape` and `extra` top-level members.
    static func scrape(input: String = #"{"urls": ["https://example.com/a"]}"#, _ extra: String = "") -> String {
        #"{"route": "scrape", "input": \#(input)\#(extra.isEmpty ? "" : ", " + extra)}"#
    }

    static func webhook(_ value: String) -> String { scrape(#""webhook": \#(value)"#) }

    static func tagging(_ documents: String) -> String {
        #"{"route": "tag-documents", "input": {"documents": \#(documents)}}"#
    }

    static func inbound(
        _ name: String,
        body: [UInt8]?,
        _ status: Int,
        _ code: String,
        token: String = "{token}",
        provider: String = "airops"
    )
        -> HostileCase
    {
        HostileCase(
            name: name,
            method: "POST",
            path: "/v1/providers/\(provider)/webhooks/\(token)",
            authorization: .none,
            body: body,
            status: status,
            code: code,
            storesNothing: true
        )
    }

    static func header(_ name: String, _ value: String) -> HTTPHeader { HTTPHeader(name: name, value: value) }

    static func nested(_ depth: Int) -> String {
        String(repeating: "[", count: depth) + String(repeating: "]", count: depth)
    }

    static let maxBody = HostileGateway.maxBodyBytes
    static let unknownID = "bat_00000000000000000000000000"

    static let all: [HostileCase] =
        authentication + listing + results + deliveries + ids + methods + controls + migration
        + createBodies + createHeaders + documents + webhooks + inboundWebhooks + events

    static let authentication: [HostileCase] = [
        get("no Authorization header", "/v1/batches", 401, "unauthorized", field: "Authorization", auth: .none),
        get("Basic scheme", "/v1/batches", 401, "unauthorized", field: "Authorization", auth: .raw(["Basic a2V5LWFjbWU6"])),
        get("Bearer without a key", "/v1/batches", 401, "unauthorized", field: "Authorization", auth: .raw(["Bearer"])),
        get("Bearer and spaces only", "/v1/batches", 401, "unauthorized", field: "Authorization", auth: .raw(["Bearer    "])),
        get("key with a trailing word", "/v1/batches", 401, "unauthorized", field: "Authorization", auth: .raw(["Bearer key-acme extra"])),
        get("wrong key", "/v1/batches", 401, "unauthorized", field: "Authorization", auth: .raw(["Bearer key-nobody"])),
        get("key without scheme", "/v1/batches", 401, "unauthorized", field: "Authorization", auth: .raw(["key-acme"])),
        get(
            "two Authorization headers",
            "/v1/batches",
            401,
            "unauthorized",
            field: "Authorization",
            auth: .raw(["Bearer key-acme", "Bearer key-globex"])
        ),
        get(
            "8 KB key",
            "/v1/batches",
            401,
            "unauthorized",
            field: "Authorization",
            auth: .raw(["Bearer " + String(repeating: "k", count: 8192)])
        ),
        get("non-ASCII key", "/v1/batches", 401, "unauthorized", field: "Authorization", auth: .raw(["Bearer clé-acme"])),
        get("another tenant's job", "/v1/batches/{job}", 404, "not_found", auth: .otherTenant),
        get("another tenant's results", "/v1/batches/{job}/results", 404, "not_found", auth: .otherTenant),
        get("no key on results", "/v1/batches/{job}/results", 401, "unauthorized", field: "Authorization", auth: .none),
    ]

    static let listing: [HostileCase] = [
        get("limit 0", "/v1/batches?limit=0", 400, "invalid_request", field: "limit"),
        get("limit negative", "/v1/batches?limit=-1", 400, "invalid_request", field: "limit"),
        get("limit above maximum", "/v1/batches?limit=101", 400, "invalid_request", field: "limit"),
        get("limit not a number", "/v1/batches?limit=abc", 400, "invalid_request", field: "limit"),
        get("limit empty", "/v1/batches?limit=", 400, "invalid_request", field: "limit"),
        get("limit fraction", "/v1/batches?limit=1.5", 400, "invalid_request", field: "limit"),
        get("limit beyond 64 bits", "/v1/batches?limit=99999999999999999999999", 400, "invalid_request", field: "limit"),
        get("limit Int.max", "/v1/batches?limit=9223372036854775807", 400, "invalid_request", field: "limit"),
        get("limit with a sign", "/v1/batches?limit=%2B5", 400, "invalid_request", field: "limit"),
        get("limit NUL", "/v1/batches?limit=%00", 400, "invalid_request", field: "limit"),
        get("limit twice", "/v1/batches?limit=1&limit=2", 400, "invalid_request", field: "limit"),
        get("unknown lifecycle_status", "/v1/batches?lifecycle_status=done", 400, "invalid_request", field: "lifecycle_status"),
        get("lifecycle_status upper case", "/v1/batches?lifecycle_status=RUNNING", 400, "invalid_request", field: "lifecycle_status"),
        get("lifecycle_status empty", "/v1/batches?lifecycle_status=", 400, "invalid_request", field: "lifecycle_status"),
        get("unknown provider", "/v1/batches?provider=nope", 400, "invalid_request", field: "provider"),
        get("provider invalid UTF-8", "/v1/batches?provider=%FF%FE", 400, "invalid_request", field: "provider"),
        get(
            "provider 4 KB",
            "/v1/batches?provider=" + String(repeating: "p", count: 4096),
            400,
            "invalid_request",
            field: "provider"
        ),
        get("route traversal", "/v1/batches?route=..%2F..%2Fetc", 400, "invalid_request", field: "route"),
        get("after not an id", "/v1/batches?after=garbage", 400, "invalid_request", field: "after"),
        get("after lower-case id", "/v1/batches?after=bat_01jd0000000000000000000000", 400, "invalid_request", field: "after"),
        get("after a number", "/v1/batches?after=9223372036854775807", 400, "invalid_request", field: "after"),
        get("after SQL", "/v1/batches?after=%27%20OR%201%3D1%20--", 400, "invalid_request", field: "after"),
        get("unknown parameter", "/v1/batches?foo=1", 400, "invalid_request", field: "foo"),
        get("misspelt filter", "/v1/batches?lifecycle=running", 400, "invalid_request", field: "lifecycle"),
        get("parameter case", "/v1/batches?LIMIT=5", 400, "invalid_request", field: "LIMIT"),
    ]

    static let results: [HostileCase] = [
        get("results limit 0", "/v1/batches/{job}/results?limit=0", 400, "invalid_request", field: "limit"),
        get("results limit 1001", "/v1/batches/{job}/results?limit=1001", 400, "invalid_request", field: "limit"),
        get("results after -1", "/v1/batches/{job}/results?after=-1", 400, "invalid_request", field: "after"),
        get("results after Int.min", "/v1/batches/{job}/results?after=-9223372036854775808", 400, "invalid_request", field: "after"),
        get("results after Int.max", "/v1/batches/{job}/results?after=9223372036854775807", 400, "invalid_request", field: "after"),
        get("results after 2^63", "/v1/batches/{job}/results?after=9223372036854775808", 400, "invalid_request", field: "after"),
        get("results after 20 digits", "/v1/batches/{job}/results?after=99999999999999999999", 400, "invalid_request", field: "after"),
        get("results after text", "/v1/batches/{job}/results?after=abc", 400, "invalid_request", field: "after"),
        get("results after exponent", "/v1/batches/{job}/results?after=1e3", 400, "invalid_request", field: "after"),
        get("results after hex", "/v1/batches/{job}/results?after=0x10", 400, "invalid_request", field: "after"),
        get("results after empty", "/v1/batches/{job}/results?after=", 400, "invalid_request", field: "after"),
        get("results after twice", "/v1/batches/{job}/results?after=0&after=1", 400, "invalid_request", field: "after"),
        get("results unknown parameter", "/v1/batches/{job}/results?offset=5", 400, "invalid_request", field: "offset"),
        get("results of an unknown job", "/v1/batches/{missing}/results", 404, "not_found"),
    ]

    static let deliveries: [HostileCase] = [
        get("deliveries limit 501", "/v1/batches/{job}/deliveries?limit=501", 400, "invalid_request", field: "limit"),
        get("deliveries after a batch id", "/v1/batches/{job}/deliveries?after={job}", 400, "invalid_request", field: "after"),
        get("deliveries after traversal", "/v1/batches/{job}/deliveries?after=..%2F..", 400, "invalid_request", field: "after"),
        get("deliveries unknown parameter", "/v1/batches/{job}/deliveries?page=2", 400, "invalid_request", field: "page"),
        get("deliveries of an unknown job", "/v1/batches/{missing}/deliveries", 404, "not_found"),
    ]

    static let ids: [HostileCase] = [
        get("id garbage", "/v1/batches/bat_garbage", 404, "not_found"),
        get("id traversal", "/v1/batches/..%2F..%2Fetc%2Fpasswd", 404, "not_found"),
        get("id dot-dot", "/v1/batches/..", 404, "not_found"),
        get("id NUL", "/v1/batches/%00", 404, "not_found"),
        get("id unknown but well-formed", "/v1/batches/{missing}", 404, "not_found"),
        get("id 5000 characters", "/v1/batches/bat_" + String(repeating: "0", count: 5000), 404, "not_found"),
        get("id outside the alphabet", "/v1/batches/bat_IIIIIIIIIIIIIIIIIIIIIIIIII", 404, "not_found"),
        get("id percent-encoded UTF-8", "/v1/batches/bat_%C3%84%C3%96", 404, "not_found"),
        get("id SQL", "/v1/batches/bat_%27%20OR%20%271%27%3D%271", 404, "not_found"),
        get("query on a batch", "/v1/batches/{job}?expand=all", 400, "invalid_request", field: "expand"),
        get("unknown sub-resource", "/v1/batches/{job}/unknown", 404, "not_found"),
        get("unknown route", "/v1/nothing-here", 404, "not_found", auth: .none),
    ]

    static let methods: [HostileCase] = [
        HostileCase(
            name: "DELETE a batch",
            method: "DELETE",
            path: "/v1/batches/{job}",
            status: 405,
            code: "method_not_allowed",
            allow: "GET"
        ),
        HostileCase(
            name: "PUT the collection",
            method: "PUT",
            path: "/v1/batches",
            body: Array("{}".utf8),
            status: 405,
            code: "method_not_allowed",
            allow: "GET, POST"
        ),
        HostileCase(
            name: "PATCH a batch",
            method: "PATCH",
            path: "/v1/batches/{job}",
            body: Array("{}".utf8),
            status: 405,
            code: "method_not_allowed",
            allow: "GET"
        ),
        HostileCase(
            name: "GET cancel",
            method: "GET",
            path: "/v1/batches/{job}/cancel",
            status: 405,
            code: "method_not_allowed",
            allow: "POST"
        ),
        HostileCase(
            name: "POST results",
            method: "POST",
            path: "/v1/batches/{job}/results",
            body: [],
            status: 405,
            code: "method_not_allowed",
            allow: "GET"
        ),
        HostileCase(
            name: "GET an inbound webhook",
            method: "GET",
            path: "/v1/providers/airops/webhooks/{token}",
            authorization: .none,
            status: 405,
            code: "method_not_allowed",
            allow: "POST"
        ),
        HostileCase(
            name: "POST healthz",
            method: "POST",
            path: "/healthz",
            authorization: .none,
            body: [],
            status: 405,
            code: "method_not_allowed",
            allow: "GET"
        ),
        HostileCase(
            name: "DELETE without a key",
            method: "DELETE",
            path: "/v1/batches/{job}",
            authorization: .none,
            status: 401,
            code: "unauthorized",
            field: "Authorization"
        ),
    ]

    static let controls: [HostileCase] = [
        post("cancel where the provider cannot", "/v1/batches/{job}/cancel", nil, 409, "not_cancellable"),
        post("pause where the provider cannot", "/v1/batches/{job}/pause", nil, 409, "not_pausable"),
        post("resume where the provider cannot", "/v1/batches/{job}/resume", nil, 409, "not_pausable"),
        post("cancel an unknown job", "/v1/batches/{missing}/cancel", nil, 404, "not_found"),
        post("cancel with a query", "/v1/batches/{job}/cancel?force=true", nil, 400, "invalid_request", field: "force"),
    ]

    static let migration: [HostileCase] = [
        post("migrate empty object", "/v1/batches/{job}/migrate", "{}", 400, "invalid_request", field: "provider"),
        post("migrate provider number", "/v1/batches/{job}/migrate", #"{"provider": 5}"#, 400, "invalid_request", field: "provider"),
        post("migrate provider empty", "/v1/batches/{job}/migrate", #"{"provider": ""}"#, 400, "invalid_request", field: "provider"),
        post("migrate unknown provider", "/v1/batches/{job}/migrate", #"{"provider": "nope"}"#, 400, "invalid_request", field: "provider"),
        post(
            "migrate to another kind",
            "/v1/batches/{job}/migrate",
            #"{"provider": "tagger"}"#,
            400,
            "invalid_request",
            field: "provider"
        ),
        post("migrate to the same provider", "/v1/batches/{job}/migrate", #"{"provider": "airops"}"#, 409, "not_migratable"),
        post(
            "migrate unknown field",
            "/v1/batches/{job}/migrate",
            #"{"provider": "aitronos", "force": true}"#,
            400,
            "invalid_request",
            field: "force"
        ),
        post("migrate not JSON", "/v1/batches/{job}/migrate", "provider=aitronos", 400, "invalid_request"),
        post("migrate array", "/v1/batches/{job}/migrate", "[]", 400, "invalid_request"),
        post("migrate empty body", "/v1/batches/{job}/migrate", nil, 400, "invalid_request"),
        post(
            "migrate as text/plain",
            "/v1/batches/{job}/migrate",
            #"{"provider": "aitronos"}"#,
            415,
            "unsupported_media_type",
            field: "Content-Type",
            headers: [header("Content-Type", "text/plain")]
        ),
        post("migrate an unknown job", "/v1/batches/{missing}/migrate", #"{"provider": "airops"}"#, 404, "not_found"),
    ]

    static let createBodies: [HostileCase] = [
        create("empty body", "", field: nil),
        create("not JSON", "route=scrape", field: nil),
        create("truncated", #"{"route": "scrape", "input": {"urls": ["https://exa"#, field: nil),
        create("array", #"[{"route": "scrape"}]"#, field: nil),
        create("string", #""scrape""#, field: nil),
        create("null", "null", field: nil),
        create("whitespace only", "  \n\t ", field: nil),
        create("no route", "{}", field: "route"),
        create("route a number", #"{"route": 5, "input": {}}"#, field: "route"),
        create("unknown route", #"{"route": "nope", "input": {"urls": ["https://example.com"]}}"#, field: "route"),
        create("no input", #"{"route": "scrape"}"#, field: "input"),
        create("input an array", #"{"route": "scrape", "input": []}"#, field: "input"),
        create("no urls", scrape(input: "{}"), field: "input.urls"),
        create("urls empty", scrape(input: #"{"urls": []}"#), field: "input.urls"),
        create("urls a string", scrape(input: #"{"urls": "https://example.com"}"#), field: "input.urls"),
        create("url a number", scrape(input: #"{"urls": [1]}"#), field: "input.urls[0]"),
        create("url ftp", scrape(input: #"{"urls": ["https://example.com", "ftp://example.com/x"]}"#), field: "input.urls[1]"),
        create("url javascript", scrape(input: #"{"urls": ["javascript:alert(1)"]}"#), field: "input.urls[0]"),
        create("url without host", scrape(input: #"{"urls": ["https://"]}"#), field: "input.urls[0]"),
        create("url with a space", scrape(input: #"{"urls": ["https://exa mple.com"]}"#), field: "input.urls[0]"),
        create(
            "url 3000 characters",
            scrape(input: #"{"urls": ["https://example.com/\#(String(repeating: "a", count: 3000))"]}"#),
            field: "input.urls[0]"
        ),
        create(
            "10001 urls",
            scrape(input: #"{"urls": [\#(Array(repeating: #""https://e.co/""#, count: 10_001).joined(separator: ","))]}"#),
            field: "input.urls"
        ),
        create(
            "custom_ids count",
            scrape(input: #"{"urls": ["https://example.com"], "custom_ids": ["a", "b"]}"#),
            field: "input.custom_ids"
        ),
        create("custom_id empty", scrape(input: #"{"urls": ["https://example.com"], "custom_ids": [""]}"#), field: "input.custom_ids[0]"),
        create(
            "custom_id 256 characters",
            scrape(input: #"{"urls": ["https://example.com"], "custom_ids": ["\#(String(repeating: "c", count: 256))"]}"#),
            field: "input.custom_ids[0]"
        ),
        create("country three letters", scrape(input: #"{"urls": ["https://example.com"], "country": "USA"}"#), field: "input.country"),
        create("country a number", scrape(input: #"{"urls": ["https://example.com"], "country": 1}"#), field: "input.country"),
        create("schema a string", scrape(input: #"{"urls": ["https://example.com"], "schema": "x"}"#), field: "input.schema"),
        create("options an array", scrape(input: #"{"urls": ["https://example.com"], "options": []}"#), field: "input.options"),
        create("brand a number", scrape(input: #"{"urls": ["https://example.com"], "brands": [1]}"#), field: "input.brands[0]"),
        create("unknown top-level field", scrape(#""priority": 1"#), field: "priority"),
        create("unknown input field", scrape(input: #"{"urls": ["https://example.com"], "urlz": []}"#), field: "input.urlz"),
        create("metadata a string", scrape(#""metadata": "x""#), field: "metadata"),
        create(
            "metadata 20 KB",
            scrape(#""metadata": {"blob": "\#(String(repeating: "m", count: 20_000))"}"#),
            field: "metadata"
        ),
        create("number 1e400", scrape(#""metadata": {"big": 1e400}"#), field: "metadata.big"),
        create("number -1e400", scrape(#""metadata": {"list": [1, -1e400]}"#), field: "metadata.list[1]"),
        create("leading zero", scrape(#""metadata": {"n": 01}"#), field: "metadata.n"),
        create("lone surrogate", scrape(#""metadata": {"s": "\ud800"}"#), field: "metadata.s"),
        create("NaN", scrape(#""metadata": {"n": NaN}"#), field: nil),
        create("duplicate key", #"{"route": "scrape", "route": "tag-documents", "input": {"urls": ["https://example.com"]}}"#, field: nil),
        create("escaped duplicate key", scrape(#""metadata": {"a": 1, "\u0061": 2}"#), field: nil),
        create("trailing comma", scrape(#""metadata": {"a": 1,}"#), field: nil),
        create("mismatched brackets", scrape(#""metadata": {"a": [1}}"#), field: nil),
        create("unterminated string", #"{"route": "scrape"#, field: nil),
        create("raw control character", scrape(#""metadata": {"a": "tab\#there"}"#), field: nil),
        create("nested past the depth limit", scrape(#""metadata": {"deep": \#(nested(64))}"#), field: nil),
        create("nested 100,000 deep", bytes: Array(nested(100_000).utf8), field: nil),
        create(
            "objects nested 30,000 deep",
            bytes: Array((String(repeating: #"{"a":"#, count: 30_000) + "1" + String(repeating: "}", count: 30_000)).utf8),
            field: nil
        ),
        create("invalid UTF-8", bytes: Array(scrape(#""metadata": {"a": "x"#).utf8) + [0xFF, 0xFE] + Array(#""}}"#.utf8), field: nil),
        create("overlong UTF-8", bytes: Array(scrape(#""metadata": {"a": "x"#).utf8) + [0xC0, 0xAF] + Array(#""}}"#.utf8), field: nil),
        create("NUL bytes", bytes: [0, 0, 0, 0], field: nil),
        create(
            "body over max_body_bytes",
            bytes: Array(scrape(#""metadata": {"a": "\#(String(repeating: "x", count: maxBody))"}"#).utf8),
            field: nil,
            status: 413,
            code: "payload_too_large"
        ),
    ]

    static let createHeaders: [HostileCase] = [
        post(
            "create as text/plain",
            "/v1/batches",
            scrape(),
            415,
            "unsupported_media_type",
            field: "Content-Type",
            headers: [header("Content-Type", "text/plain")]
        ),
        post(
            "create as form",
            "/v1/batches",
            scrape(),
            415,
            "unsupported_media_type",
            field: "Content-Type",
            headers: [header("Content-Type", "application/x-www-form-urlencoded")]
        ),
        post(
            "create in latin-1",
            "/v1/batches",
            scrape(),
            415,
            "unsupported_media_type",
            field: "Content-Type",
            headers: [header("Content-Type", "application/json; charset=iso-8859-1")]
        ),
        post(
            "create with a garbage media type",
            "/v1/batches",
            scrape(),
            415,
            "unsupported_media_type",
            field: "Content-Type",
            headers: [header("Content-Type", ";;;")]
        ),
        post(
            "two Content-Type headers",
            "/v1/batches",
            scrape(),
            400,
            "invalid_request",
            field: "Content-Type",
            headers: [header("Content-Type", "application/json"), header("Content-Type", "text/plain")]
        ),
        post(
            "Idempotency-Key 256 characters",
            "/v1/batches",
            scrape(),
            400,
            "invalid_request",
            field: "Idempotency-Key",
            headers: [header("Idempotency-Key", String(repeating: "k", count: 256))]
        ),
        post(
            "Idempotency-Key empty",
            "/v1/batches",
            scrape(),
            400,
            "invalid_request",
            field: "Idempotency-Key",
            headers: [header("Idempotency-Key", "")]
        ),
        post(
            "Idempotency-Key non-ASCII",
            "/v1/batches",
            scrape(),
            400,
            "invalid_request",
            field: "Idempotency-Key",
            headers: [header("Idempotency-Key", "clé-1")]
        ),
        post(
            "Idempotency-Key with a tab",
            "/v1/batches",
            scrape(),
            400,
            "invalid_request",
            field: "Idempotency-Key",
            headers: [header("Idempotency-Key", "a\tb")]
        ),
        post(
            "two Idempotency-Keys",
            "/v1/batches",
            scrape(),
            400,
            "invalid_request",
            field: "Idempotency-Key",
            headers: [header("Idempotency-Key", "one"), header("Idempotency-Key", "two")]
        ),
        post("create with a query", "/v1/batches?dry_run=1", scrape(), 400, "invalid_request", field: "dry_run"),
    ]

    static let documents: [HostileCase] = [
        create("urls on a tagging route", #"{"route": "tag-documents", "input": {"urls": ["https://example.com"]}}"#, field: "input.urls"),
        create("no documents", #"{"route": "tag-documents", "input": {}}"#, field: "input.documents"),
        create("documents empty", tagging("[]"), field: "input.documents"),
        create("document a number", tagging("[1]"), field: "input.documents[0]"),
        create(
            "document title empty",
            tagging(#"[{"title": "", "file_path": "a.pdf", "file_source_type": "local"}]"#),
            field: "input.documents[0].title"
        ),
        create("document without file_path", tagging(#"[{"title": "A", "file_source_type": "local"}]"#), field: "input.documents[0].file_path"),
        create(
            "document source ftp",
            tagging(#"[{"title": "A", "file_path": "a.pdf", "file_source_type": "ftp"}]"#),
            field: "input.documents[0].file_source_type"
        ),
        create(
            "document description a number",
            tagging(#"[{"title": "A", "file_path": "a.pdf", "file_source_type": "local", "description": 5}]"#),
            field: "input.documents[0].description"
        ),
        create(
            "document unknown field",
            tagging(#"[{"title": "A", "file_path": "a.pdf", "file_source_type": "local", "size": 1}]"#),
            field: "input.documents[0].size"
        ),
    ]

    static let webhooks: [HostileCase] = [
        create("webhook a string", webhook(#""https://example.com""#), field: "webhook"),
        create("webhook without url", webhook("{}"), field: "webhook.url"),
        create("webhook url plain http", webhook(#"{"url": "http://example.com/hook"}"#), field: "webhook.url"),
        create("webhook url private", webhook(#"{"url": "https://10.0.0.1/hook"}"#), field: "webhook.url"),
        create("webhook url metadata address", webhook(#"{"url": "https://169.254.169.254/latest"}"#), field: "webhook.url"),
        create("webhook url metadata name", webhook(#"{"url": "https://metadata.google.internal/"}"#), field: "webhook.url"),
        create("webhook url loopback", webhook(#"{"url": "https://127.0.0.1/hook"}"#), field: "webhook.url"),
        create("webhook url mapped private", webhook(#"{"url": "https://[::ffff:10.0.0.1]/hook"}"#), field: "webhook.url"),
        create("webhook url not a URL", webhook(#"{"url": "not a url"}"#), field: "webhook.url"),
        create("webhook url file", webhook(#"{"url": "file:///etc/passwd"}"#), field: "webhook.url"),
        create("webhook events empty", webhook(#"{"url": "https://example.com/hook", "events": []}"#), field: "webhook.events"),
        create(
            "webhook event unknown",
            webhook(#"{"url": "https://example.com/hook", "events": ["batch.nope"]}"#),
            field: "webhook.events[0]"
        ),
        create("webhook secret a number", webhook(#"{"url": "https://example.com/hook", "secret": 5}"#), field: "webhook.secret"),
        create("webhook secret malformed", webhook(#"{"url": "https://example.com/hook", "secret": "short"}"#), field: "webhook.secret"),
        create("webhook unknown field", webhook(#"{"url": "https://example.com/hook", "retries": 3}"#), field: "webhook.retries"),
    ]

    static let inboundWebhooks: [HostileCase] = [
        inbound("wrong token", body: Array(#"{"object": "event"}"#.utf8), 401, "invalid_token", token: "{job}.wrong"),
        inbound("token without secret", body: Array(#"{"object": "event"}"#.utf8), 401, "invalid_token", token: "{job}"),
        inbound("token traversal", body: Array(#"{"object": "event"}"#.utf8), 401, "invalid_token", token: "..%2F..%2Fetc"),
        inbound("token 5000 characters", body: Array("{}".utf8), 401, "invalid_token", token: String(repeating: "t", count: 5000)),
        inbound("valid token, wrong provider", body: Array(#"{"object": "event"}"#.utf8), 401, "invalid_token", provider: "tagger"),
        inbound("valid token, unknown provider", body: Array(#"{"object": "event"}"#.utf8), 401, "invalid_token", provider: "nope"),
        inbound("not JSON", body: Array("status=completed".utf8), 400, "invalid_payload"),
        inbound("empty body", body: nil, 400, "invalid_payload"),
        inbound("array", body: Array("[]".utf8), 400, "invalid_payload"),
        inbound("wrong types", body: Array(#"{"object": 1, "id": [], "status": "x"}"#.utf8), 400, "invalid_payload"),
        inbound("truncated", body: Array(#"{"object": "event.batch.airops.completed", "id": "b"#.utf8), 400, "invalid_payload"),
        inbound("nested 100,000 deep", body: Array(nested(100_000).utf8), 400, "invalid_payload"),
        inbound("invalid UTF-8", body: [0x7B, 0x22, 0xFF, 0x22, 0x3A, 0x31, 0x7D], 400, "invalid_payload"),
        inbound(
            "absurd numbers",
            body: Array(
                #"{"object": "event.batch.airops.completed", "id": "batch_x", "created": 1e400, "status": {"overall": "completed"}}"#.utf8
            ),
            400,
            "invalid_payload"
        ),
        inbound("over max_body_bytes", body: Array(("[" + String(repeating: "1,", count: maxBody / 2) + "1]").utf8), 413, "payload_too_large"),
        HostileCase(
            name: "inbound with a query",
            method: "POST",
            path: "/v1/providers/airops/webhooks/{token}?debug=1",
            authorization: .none,
            body: Array("{}".utf8),
            status: 400,
            code: "invalid_request",
            field: "debug",
            storesNothing: true
        ),
    ]

    static let events: [HostileCase] = [
        get(
            "Last-Event-ID text",
            "/v1/batches/{job}/events",
            400,
            "invalid_request",
            field: "Last-Event-ID",
            headers: [header("Last-Event-ID", "abc")]
        ),
        get(
            "Last-Event-ID negative",
            "/v1/batches/{job}/events",
            400,
            "invalid_request",
            field: "Last-Event-ID",
            headers: [header("Last-Event-ID", "-1")]
        ),
        get(
            "Last-Event-ID 20 digits",
            "/v1/batches/{job}/events",
            400,
            "invalid_request",
            field: "Last-Event-ID",
            headers: [header("Last-Event-ID", "99999999999999999999")]
        ),
        get(
            "Last-Event-ID exponent",
            "/v1/batches/{job}/events",
            400,
            "invalid_request",
            field: "Last-Event-ID",
            headers: [header("Last-Event-ID", "1e3")]
        ),
        get(
            "two Last-Event-IDs",
            "/v1/batches/{job}/events",
            400,
            "invalid_request",
            field: "Last-Event-ID",
            headers: [header("Last-Event-ID", "1"), header("Last-Event-ID", "2")]
        ),
        get("events of an unknown job", "/v1/batches/{missing}/events", 404, "not_found"),
        get("events with a query", "/v1/batches/{job}/events?since=0", 400, "invalid_request", field: "since"),
    ]
}

// MARK: - The gateway process

/// A `batchgate serve` process on loopback with an AirOps simulator and one unfinished job, for the
/// whole hostile-input suite.
struct HostileGateway: Sendable {
    /// The gateway of the running suite.
    @TaskLocal static var current: HostileGateway?

    static let maxBodyBytes = 256 * 1024
    static let pendingURLs = ["https://example.com/one", "https://example.com/two", "https://example.com/three"]

    let baseURL: String
    let transport: CurlHTTPClient
    let databasePath: String
    /// A job of tenant acme that stays unfinished (the vendor queues it for ten minutes).
    let pendingJob: String
    /// `pendingJob`'s valid inbound webhook token.
    let webhookToken: String

    /// Starts a simulator and the binary, creates the fixture job, runs `body`, then stops both and
    /// checks the process was still alive and exits cleanly.
    static func run(_ body: (HostileGateway) async throws -> Void) async throws {
        #expect(FileManager.default.isExecutableFile(atPath: CrashRecoveryTests.binary), "build the batchgate product first")
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("bg-hostile-\(Identifier.secret(byteCount: 6))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let databasePath = directory.appendingPathComponent("gateway.sqlite").path
        let scenario = AirOpsSimulator.Scenario(queueDelay: .seconds(600))
        try await CurlHTTPClient.withClient { transport in
            try await withAirOpsSimulator(.init(token: "vendor-token", scenario: scenario), transport: transport) { vendorURL, _ in
                let port = try LoopbackPort.reserve()
                let config = directory.appendingPathComponent("providers.yaml").path
                try """
                server: {listen: "127.0.0.1:\(port)", public_url: "http://127.0.0.1:\(port)", max_body_bytes: \(maxBodyBytes)}
                store: {sqlite: "\(databasePath)"}
                auth:
                  api_keys: [{tenant: acme, key: key-acme}, {tenant: globex, key: key-globex}]
                providers:
                  airops: {kind: olostep-airops, base_url: "\(vendorURL)", token: vendor-token, poll_interval: 60s, timeout: 5s}
                  tagger: {kind: doc-tagging-ws, base_url: "http://127.0.0.1:9", token: tagger-token}
                routes:
                  scrape: {kind: url_batch, targets: [{provider: airops}]}
                  tag-documents: {kind: document_tagging, targets: [{provider: tagger}]}
                """.write(toFile: config, atomically: true, encoding: .utf8)
                let process = try CrashRecoveryTests.GatewayProcess(config: config)
                defer { process.terminate() }
                let client = GatewayHarness.Client(baseURL: "http://127.0.0.1:\(port)", apiKey: "key-acme", transport: transport)
                try await client.waitUntilReady()
                let created = try await client.call(
                    "POST",
                    "/v1/batches",
                    json: ["route": "scrape", "input": ["urls": .array(pendingURLs.map(JSONValue.string))]]
                )
                #expect(created.status == 201, "\(created.body)")
                let id = try #require(created.body["id"]?.stringValue)
                let store = try SQLiteJobStore(path: databasePath)
                var token: String?
                try await eventually("the fixture job submitted upstream", timeout: .seconds(20)) {
                    let job = try await store.job(id: id)
                    token = job?.inboundToken
                    return job?.providerBatchID != nil
                }
                let gateway = HostileGateway(
                    baseURL: client.baseURL,
                    transport: transport,
                    databasePath: databasePath,
                    pendingJob: id,
                    webhookToken: try #require(token)
                )
                try await body(gateway)
                #expect(process.process.isRunning, "the gateway survived the suite")
                process.terminate()
                #expect(process.exited, "the gateway stopped on SIGTERM without a crash")
            }
        }
    }

    /// Sends one hostile case.
    func send(_ hostile: HostileCase) async throws -> HTTPResponse {
        var headers: [(name: String, value: String)] = []
        switch hostile.authorization {
        case .tenant: headers.append(("Authorization", "Bearer key-acme"))
        case .otherTenant: headers.append(("Authorization", "Bearer key-globex"))
        case .none: break
        case .raw(let values): headers += values.map { ("Authorization", $0) }
        }
        headers += hostile.headers.map { ($0.name, $0.value) }
        if hostile.body != nil, !hostile.headers.contains(where: { $0.name.lowercased() == "content-type" }) {
            headers.append(("Content-Type", hostile.contentType))
        }
        let path = hostile.path
            .replacingOccurrences(of: "{job}", with: pendingJob)
            .replacingOccurrences(of: "{missing}", with: HostileCase.unknownID)
            .replacingOccurrences(of: "{token}", with: webhookToken)
        return try await transport.send(
            HTTPRequest(method: hostile.method, url: baseURL + path, headers: headers, body: hostile.body, timeout: .seconds(10))
        )
    }

    /// A JSON request as tenant acme (or with `authorization` as given); the decoded body.
    func json(_ method: String, _ path: String, authorization: String? = "Bearer key-acme") async throws -> (status: Int, body: JSONValue) {
        let headers: [(name: String, value: String)] = authorization.map { [("Authorization", $0)] } ?? []
        let response = try await transport.send(HTTPRequest(method: method, url: baseURL + path, headers: headers, timeout: .seconds(10)))
        return (response.status, (try? JSONDecoder().decode(JSONValue.self, from: Data(response.body))) ?? .null)
    }

    func healthz() async throws -> Int {
        try await transport.send(HTTPRequest(url: baseURL + "/healthz", timeout: .seconds(5))).status
    }

    /// How many vendor events the gateway stored for the fixture job.
    func storedVendorEvents() async throws -> Int {
        try await SQLiteJobStore(path: databasePath).events(jobID: pendingJob).count
    }
}

/// Runs a suite inside one ``HostileGateway``, started before its first test and stopped after its last.
struct HostileGatewayTrait: SuiteTrait, TestScoping {
    var isRecursive: Bool { false }

    func provideScope(
        for test: Test,
        testCase: Test.Case?,
        performing function: @Sendable () async throws -> Void
    ) async throws {
        try await HostileGateway.run { gateway in
            try await HostileGateway.$current.withValue(gateway) { try await function() }
        }
    }
}

extension Trait where Self == HostileGatewayTrait {
    /// One `batchgate serve` process for the whole suite.
    static var hostileGateway: HostileGatewayTrait { HostileGatewayTrait() }
}
