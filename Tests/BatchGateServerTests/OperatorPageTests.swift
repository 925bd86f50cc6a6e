import BatchGateCore
import BatchGateSimulators
import BatchGateTransport
import Foundation
import Testing

@testable import BatchGateServer

/// The operator page over HTTP, without a browser: sessions and their cookie, CSRF on every form, tenant
/// isolation, escaping of what vendors and clients wrote, the security headers, and every template.
/// (Tests/UI/browser_test.py drives it in Chromium.)
@Suite(.timeLimit(.minutes(2)))
struct OperatorPageTests {
    /// A browser without JavaScript: keeps cookies, follows nothing.
    final class Browser: @unchecked Sendable {
        let gateway: GatewayHarness
        var cookies: [String: String] = [:]

        init(_ gateway: GatewayHarness) { self.gateway = gateway }

        func send(
            _ method: String,
            _ path: String,
            form: [(String, String)]? = nil
        ) async throws -> (status: Int, html: String, headers: [String: String]) {
            var headers: [(name: String, value: String)] = []
            if !cookies.isEmpty { headers.append(("cookie", cookies.map { "\($0.key)=\($0.value)" }.joined(separator: "; "))) }
            var body: [UInt8]?
            if let form {
                headers.append(("content-type", "application/x-www-form-urlencoded"))
                var allowed = CharacterSet.alphanumerics
                allowed.insert(charactersIn: "-._~")
                body = Array(
                    form.map { "\($0.0)=\($0.1.addingPercentEncoding(withAllowedCharacters: allowed) ?? "")" }.joined(separator: "&").utf8
                )
            }
            let response = try await gateway.transport.send(
                HTTPRequest(method: method, url: gateway.baseURL + path, headers: headers, body: body, timeout: .seconds(10))
            )
            var fields: [String: String] = [:]
            for header in response.headers {
                let name = header.name.lowercased()
                if name == "set-cookie" {
                    let pair = header.value.split(separator: ";")[0].split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
                    let value = pair.count > 1 ? String(pair[1]) : ""
                    cookies[String(pair[0])] = value.isEmpty ? nil : value
                }
                fields[name] = fields[name].map { $0 + "\n" + header.value } ?? header.value
            }
            return (response.status, String(decoding: response.body, as: UTF8.self), fields)
        }

        /// The value of the first hidden `csrf` field of a page.
        static func csrf(_ html: String) -> String? {
            guard let range = html.range(of: #"name="csrf" value=""#) else { return nil }
            return String(html[range.upperBound...].prefix { $0 != "\"" })
        }

        func signIn(_ key: String) async throws {
            let form = try await send("GET", "/ui/sign-in")
            let signedIn = try await send("POST", "/ui/sign-in", form: [("csrf", Self.csrf(form.html) ?? ""), ("api_key", key)])
            #expect(signedIn.status == 303 && signedIn.headers["location"] == "/ui", "\(signedIn.status) \(signedIn.html)")
        }
    }

    @Test func sessionsAreSignedBoundToTheirKeyAndExpire() throws {
        let sessions = UISessions(apiKeys: ["key-a": "acme", "key-b": "globex"])
        let now = Timestamp(milliseconds: 1_800_000_000_000)
        let session = try #require(sessions.signIn(apiKey: "key-a", now: now))
        #expect(sessions.session(cookie: session.cookie, now: now)?.tenant == "acme")
        #expect(!session.cookie.contains("key-a"), "the cookie never holds the key")
        #expect(sessions.signIn(apiKey: "key-c", now: now) == nil)
        // Expired after its lifetime.
        #expect(sessions.session(cookie: session.cookie, now: now.adding(.seconds(UISessions.lifetime + 1))) == nil)
        // Another tenant written into it breaks the signature.
        var parts = session.cookie.split(separator: ".").map(String.init)
        parts[1] = UISessions.base64URL(Array("globex".utf8))
        #expect(sessions.session(cookie: parts.joined(separator: "."), now: now) == nil)
        // A later expiry likewise.
        parts = session.cookie.split(separator: ".").map(String.init)
        parts[3] = String(Int64(parts[3])! + 86400)
        #expect(sessions.session(cookie: parts.joined(separator: "."), now: now) == nil)
        // Garbage of every shape.
        for garbage in ["", "v1", "v1....", String(repeating: "a", count: 5000), "v2" + session.cookie.dropFirst(2), session.cookie + "x"] {
            #expect(sessions.session(cookie: garbage, now: now) == nil, "\(garbage.prefix(40))")
        }
        // Removing the key from the configuration ends its sessions (and changes every signature).
        let withoutA = UISessions(apiKeys: ["key-b": "globex"])
        #expect(withoutA.session(cookie: session.cookie, now: now) == nil)
        // CSRF tokens belong to one session.
        let other = try #require(sessions.signIn(apiKey: "key-b", now: now))
        #expect(sessions.checkCSRF(sessions.csrfToken(session), session))
        #expect(!sessions.checkCSRF(sessions.csrfToken(other), session))
        #expect(!sessions.checkCSRF(nil, session) && !sessions.checkCSRF("", session) && !sessions.checkCSRF("%%%", session))
    }

    @Test func everyTemplateRendersAndEscapes() {
        struct Probe {
            var chrome = UIChrome(tenant: "<t>", csrf: "c\"s")
            var heading = "<h>"
            var message = "<script>alert(1)</script>"
        }
        for name in ["layout", "progress", "sign-in", "jobs", "job", "confirm", "vendors", "error"] {
            #expect(UITemplates.isRegistered(name), "\(name)")
        }
        let html = UITemplates.render(Probe(), "error")
        #expect(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;") && !html.contains("<script>alert"))
        #expect(html.contains(#"value="c&quot;s""#) && html.contains("&lt;t&gt;"))
    }

    @Test func signInSessionsCSRFIsolationAndEscaping() async throws {
        let hostile = #"<img src=x onerror=alert(1)>"quoted" & 'single'"#
        try await GatewayHarness.run(tagger: .init(scenario: .init(documentInterval: .milliseconds(50)))) { gateway in
            let created = try await gateway.call(
                "POST",
                "/v1/batches",
                json: [
                    "route": "tag-documents",
                    "input": ["documents": [["title": .string(hostile), "file_path": "https://files.example/h.pdf", "file_source_type": "url"]]],
                    "metadata": ["note": .string(hostile)],
                ]
            )
            let id = try #require(created.body["id"]?.stringValue)
            let foreign = try #require(
                try await gateway.call(
                    "POST",
                    "/v1/batches",
                    key: gateway.otherTenantKey,
                    json: ["route": "scrape", "input": ["urls": ["https://example.com/x"]]]
                )
                .body["id"]?.stringValue
            )
            _ = try await gateway.waitForTerminal(id)
            let browser = Browser(gateway)

            // Signed out: pages redirect, the live stream is refused, security headers are on every answer.
            let signedOut = try await browser.send("GET", "/ui")
            #expect(signedOut.status == 303 && signedOut.headers["location"] == "/ui/sign-in")
            #expect(signedOut.headers["content-security-policy"]?.contains("script-src 'self'") == true)
            #expect(signedOut.headers["x-frame-options"] == "DENY")
            #expect(try await browser.send("GET", "/ui/live?ids=\(id)").status == 401)
            #expect(try await browser.send("GET", "/ui/batches/\(id)").status == 303)

            // A sign-in cookie the gateway did not make is replaced, not echoed.
            browser.cookies[UISessions.signInCookieName] = #""<x>,y""#
            let replaced = try await browser.send("GET", "/ui/sign-in")
            #expect(replaced.status == 200 && !replaced.html.contains("<x>"))
            #expect(browser.cookies[UISessions.signInCookieName].map(UISessions.isSignInToken) == true)
            // The sign-in form's token must come back with the key.
            let form = try await browser.send("GET", "/ui/sign-in")
            #expect(form.headers["set-cookie"]?.contains("HttpOnly") == true && form.headers["set-cookie"]?.contains("SameSite=Strict") == true)
            #expect(try await browser.send("POST", "/ui/sign-in", form: [("csrf", "forged"), ("api_key", gateway.apiKey)]).status == 403)
            #expect(
                try await browser.send("POST", "/ui/sign-in", form: [("csrf", Browser.csrf(form.html) ?? ""), ("api_key", "wrong")]).status == 401
            )
            try await browser.signIn(gateway.apiKey)
            #expect(browser.cookies[UISessions.cookieName] != nil)

            // The tenant's jobs only; another tenant's job is a 404 like in the API.
            let jobs = try await browser.send("GET", "/ui")
            #expect(jobs.status == 200 && jobs.html.contains(id) && !jobs.html.contains(foreign))
            #expect(try await browser.send("GET", "/ui/batches/\(foreign)").status == 404)
            #expect(try await browser.send("GET", "/ui/live?ids=\(foreign)").status == 404)
            #expect(try await browser.send("GET", "/ui?lifecycle_status=sleeping").status == 400)

            // What the client wrote is text.
            let page = try await browser.send("GET", "/ui/batches/\(id)")
            #expect(page.status == 200)
            // Sections show only when there is something in them: a tagging job has no phases; a finished one
            // offers no actions. An AirOps job shows its three phases.
            #expect(!page.html.contains(#"id="phases-title""#) && !page.html.contains(#"id="actions-title""#))
            let scrape = try #require(
                try await gateway.call("POST", "/v1/batches", json: ["route": "scrape", "input": ["urls": ["https://example.com/p"]]]).body["id"]?
                    .stringValue
            )
            _ = try await gateway.waitForTerminal(scrape)
            let phases = try await browser.send("GET", "/ui/batches/\(scrape)")
            #expect(phases.html.contains(#"id="phases-title""#))
            #expect(["scraping", "analyzing", "enriching"].allSatisfy { phases.html.contains("<td>\($0)</td>") })
            #expect(!page.html.contains("<img src=x"), "no element made of the title")
            #expect(page.html.contains("&lt;img src=x onerror=alert(1)&gt;&quot;quoted&quot; &amp; &#39;single&#39;"))

            // Every form needs the session's token; a confirmed cancel of a finished job is refused by the API's rules.
            #expect(try await browser.send("POST", "/ui/batches/\(id)/cancel", form: [("confirm", "yes")]).status == 403)
            let token = Browser.csrf(page.html) ?? ""
            let refused = try await browser.send("POST", "/ui/batches/\(id)/cancel", form: [("csrf", token), ("confirm", "yes")])
            #expect(refused.status == 409 && refused.html.contains("already"), "\(refused.status)")
            #expect(try await browser.send("POST", "/ui/batches/\(id)/explode", form: [("csrf", token)]).status == 404)
            // Forms of the wrong kind or size are refused with a page that says so.
            let oversized = try await browser.send("POST", "/ui/batches/\(id)/cancel", form: [("csrf", String(repeating: "a", count: 20_000))])
            #expect(oversized.status == 413 && oversized.html.contains("larger than"))
            let json = try await gateway.transport.send(
                HTTPRequest(
                    method: "POST",
                    url: gateway.baseURL + "/ui/batches/\(id)/cancel",
                    headers: [
                        ("content-type", "application/json"),
                        ("cookie", browser.cookies.map { "\($0.key)=\($0.value)" }.joined(separator: "; ")),
                    ],
                    body: Array(#"{"csrf": "x"}"#.utf8),
                    timeout: .seconds(5)
                )
            )
            #expect(json.status == 415)
            #expect(try await browser.send("GET", "/ui/batches/not-an-id").status == 404)
            // Signing out needs the token too, then ends the session.
            #expect(try await browser.send("POST", "/ui/sign-out", form: [("csrf", "x")]).status == 403)
            #expect(try await browser.send("POST", "/ui/sign-out", form: [("csrf", token)]).status == 303)
            #expect(try await browser.send("GET", "/ui").status == 303)
        }
    }

    @Test func liveRowsFollowAJobToItsEnd() async throws {
        try await GatewayHarness.run(tagger: .init(scenario: .init(documentInterval: .milliseconds(100)))) { gateway in
            let documents: [JSONValue] = (0..<5).map {
                ["title": .string("Live \($0)"), "file_path": .string("https://files.example/\($0).pdf"), "file_source_type": "url"]
            }
            let created = try await gateway.call("POST", "/v1/batches", json: ["route": "tag-documents", "input": ["documents": .array(documents)]])
            let id = try #require(created.body["id"]?.stringValue)
            let browser = Browser(gateway)
            try await browser.signIn(gateway.apiKey)
            // The stream ends by itself once the job is finished: the whole body arrives.
            let stream = try await browser.send("GET", "/ui/live?ids=\(id)")
            #expect(stream.status == 200 && stream.headers["content-type"] == "text/event-stream")
            let rows = stream.html.components(separatedBy: "\n").filter { $0.hasPrefix("data: {\"") }.compactMap {
                try? JSONDecoder().decode(JSONValue.self, from: Data($0.dropFirst(6).utf8))
            }
            #expect(rows.count >= 2, "the current state, then changes: \(rows.count)")
            #expect(rows.allSatisfy { $0["id"]?.stringValue == id })
            let versions = rows.compactMap { $0["version"]?.intValue }
            #expect(versions == versions.sorted() && Set(versions).count == versions.count, "versions only rise: \(versions)")
            #expect(rows.last?["lifecycle_status"] == "completed" && rows.last?["progress"]?["percent"] == 100)
            #expect(stream.html.hasSuffix("event: end\ndata: {}\n\n"))
        }
    }
}
