import BatchGateCore
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import ServiceLifecycle
import Synchronization

/// The operator page (`/ui`): server-rendered HTML from the same data as the API, behind a tenant's API
/// key (a sign-in form sets a signed `HttpOnly`, `SameSite=Strict` session cookie; the key never goes in
/// a URL), showing that tenant's jobs only.
///
/// - `GET /ui`: the jobs, filterable by status, provider and route, with cursor paging; rows update live.
/// - `GET /ui/batches/{id}`: one job made readable; cancel, pause, resume and migrate behind a
///   confirmation page, with the API's rules.
/// - `GET /ui/vendors`: per provider, the tenant's active jobs and this replica's vendor figures; the
///   tenant's webhook outbox.
/// - `GET /ui/live?ids=…`: Server-Sent Events, one `row` event per change of each listed job, for the
///   page's script; `end` once every listed job is finished.
///
/// Every form carries a CSRF token; every answer has a Content-Security-Policy allowing only the page's
/// own stylesheet and script, and no framing.
struct OperatorUI: Sendable {
    let engine: JobEngine
    let sessions: UISessions
    /// Routes in file order, for the filter.
    let routes: [RouteSettings]
    /// `Secure` on the cookies when the gateway is reached over https.
    let secureCookies: Bool
    var reads: BatchReads { engine.reads }

    static let pageSize = 25
    static let resultsPageSize = 50
    static let maxLiveJobs = 100

    func register(on router: Router<GatewayRequestContext>) {
        let ui = router.group("/ui").add(middleware: UIMiddleware(sessions: sessions, now: engine.now, logger: engine.logger))
        ui.get { request, context in try await jobsPage(request, context) }
        ui.get("sign-in") { request, context in signInPage(request, context, message: nil, status: .ok) }
        ui.post("sign-in") { request, context in try await signIn(request, context) }
        ui.post("sign-out") { request, context in try await signOut(request, context) }
        ui.get("batches/:id") { request, context in try await jobPage(request, context) }
        ui.post("batches/:id/:action") { request, context in try await action(request, context) }
        ui.get("vendors") { request, context in try await vendorsPage(request, context) }
        ui.get("live") { request, context in try await live(request, context) }
        ui.get("assets/app.css") { _, _ in asset(UIAssets.css, type: "text/css; charset=utf-8") }
        ui.get("assets/app.js") { _, _ in asset(UIAssets.js, type: "text/javascript; charset=utf-8") }
        ui.get("assets/icon.svg") { _, _ in asset(UIAssets.icon, type: "image/svg+xml") }
        let paths: [(RouterPath, [HTTPRequest.Method])] = [
            ("", [.get]), ("sign-in", [.get, .post]), ("sign-out", [.post]), ("batches/:id", [.get]), ("batches/:id/:action", [.post]),
            ("vendors", [.get]), ("live", [.get]), ("assets/app.css", [.get]), ("assets/app.js", [.get]),
            ("assets/icon.svg", [.get]),
        ]
        for (path, methods) in paths {
            APIRoutes.refuseOtherMethods(on: ui, path: path, allowed: methods)
        }
    }

    // MARK: - Sign in and out

    private func signInPage(_ request: Request, _ context: GatewayRequestContext, message: String?, status: HTTPResponse.Status) -> Response {
        // Double-submit token of the sign-in form: the cookie and the hidden field must match.
        let sent = request.cookies[UISessions.signInCookieName]?.value
        let token = sent.flatMap { UISessions.isSignInToken($0) ? $0 : nil } ?? Identifier.secret()
        struct Page {
            var csrf: String
            var message: String?
        }
        var response = html(UITemplates.render(Page(csrf: token, message: message), "sign-in"), status: status)
        response.setCookie(cookie(UISessions.signInCookieName, token, maxAge: 3600))
        return response
    }

    private func signIn(_ request: Request, _ context: GatewayRequestContext) async throws -> Response {
        let form = try await UIForm.read(request)
        let expected = request.cookies[UISessions.signInCookieName]?.value
        guard let expected, let sent = form["csrf"], !expected.isEmpty, sent == expected else {
            return signInPage(request, context, message: "The form expired; sign in again.", status: .forbidden)
        }
        guard let key = form["api_key"], let session = sessions.signIn(apiKey: key, now: engine.now()) else {
            return signInPage(request, context, message: "That API key is not valid.", status: .unauthorized)
        }
        var response = redirect("/ui")
        response.setCookie(cookie(UISessions.cookieName, session.cookie, maxAge: Int(UISessions.lifetime)))
        response.setCookie(cookie(UISessions.signInCookieName, "", maxAge: 0))
        return response
    }

    private func signOut(_ request: Request, _ context: GatewayRequestContext) async throws -> Response {
        let session = try context.requireUISession()
        let form = try await UIForm.read(request)
        guard sessions.checkCSRF(form["csrf"], session) else { throw UIError.csrf }
        var response = redirect("/ui/sign-in")
        response.setCookie(cookie(UISessions.cookieName, "", maxAge: 0))
        return response
    }

    // MARK: - Jobs

    private func jobsPage(_ request: Request, _ context: GatewayRequestContext) async throws -> Response {
        let session = try context.requireUISession()
        // The filter form sends empty values for "any".
        let pairs = request.uri.queryParameters.filter { !$0.value.isEmpty }
        let query = try QueryParameters(pairs, allowed: ["lifecycle_status", "provider", "route", "after"])
        var filter = JobQuery(tenant: session.tenant)
        let statuses = LifecycleStatus.allCases.map(\.rawValue)
        filter.lifecycle = try query.choice("lifecycle_status", of: statuses).flatMap(LifecycleStatus.init(rawValue:))
        filter.provider = try query.choice("provider", of: reads.providerNames)
        filter.route = try query.choice("route", of: routes.map(\.name))
        if let after = query["after"] {
            guard Identifier.isWellFormed(after, prefix: "bat") else { throw GatewayError.invalid("after", "after must be a batch id.") }
            filter.after = after
        }
        filter.limit = Self.pageSize + 1
        var jobs = try await reads.jobs(filter)
        let hasMore = jobs.count > Self.pageSize
        if hasMore { jobs.removeLast() }
        let now = engine.now()
        var rows: [UIJobRow] = []
        for job in jobs {
            let newest = reads.newest(job)
            rows.append(UIJobRow(job: newest, batch: try await batch(newest), now: now))
        }
        var filters: [(String, String)] = []
        if let value = filter.lifecycle?.rawValue { filters.append(("lifecycle_status", value)) }
        if let value = filter.provider { filters.append(("provider", value)) }
        if let value = filter.route { filters.append(("route", value)) }
        struct Page {
            var chrome: UIChrome
            var statuses: [UIOption]
            var providers: [UIOption]
            var routes: [UIOption]
            var filtered: Bool
            var rows: [UIJobRow]
            var liveURL: String?
            var firstURL: String?
            var nextURL: String?
        }
        let active = rows.filter { !(LifecycleStatus(rawValue: $0.lifecycle)?.isTerminal ?? true) }.map(\.id)
        let page = Page(
            chrome: chrome(session, jobsPage: true),
            statuses: statuses.map { UIOption(value: $0, label: $0, selected: $0 == filter.lifecycle?.rawValue) },
            providers: reads.providerNames.sorted().map { UIOption(value: $0, label: $0, selected: $0 == filter.provider) },
            routes: routes.map { UIOption(value: $0.name, label: $0.name, selected: $0.name == filter.route) },
            filtered: !filters.isEmpty,
            rows: rows,
            liveURL: active.isEmpty ? nil : "/ui/live?ids=" + active.joined(separator: ","),
            firstURL: filter.after == nil ? nil : Self.url("/ui", filters),
            nextURL: hasMore ? rows.last.map { Self.url("/ui", filters + [("after", $0.id)]) } : nil
        )
        return html(UITemplates.render(page, "jobs"))
    }

    // MARK: - One job

    private func jobPage(_ request: Request, _ context: GatewayRequestContext) async throws -> Response {
        let session = try context.requireUISession()
        let query = try QueryParameters(request.uri.queryParameters.filter { !$0.value.isEmpty }, allowed: ["results_after", "done"])
        let job = try await ownJob(context, session)
        let after = try query.integer("results_after", in: 0...Int.max, meaning: "an item index")
        let notice = query["done"].flatMap { Self.notices[$0] }
        return html(UITemplates.render(try await jobView(job, session, resultsAfter: after, notice: notice, problem: nil), "job"))
    }

    static let notices = [
        "cancel": "Cancel sent. The vendor confirms it on its next report.",
        "pause": "Pause sent. The vendor confirms it on its next report.",
        "resume": "Resume sent. The vendor confirms it on its next report.",
        "migrate": "Migrated: the batch is being submitted to its new provider.",
    ]

    private func ownJob(_ context: GatewayRequestContext, _ session: UISessions.Session) async throws -> Job {
        let id = try context.parameters.require("id")
        // Not a batch id, or another tenant's: the same 404 as the API.
        guard Identifier.isWellFormed(id, prefix: "bat") else {
            throw GatewayError(status: 404, code: "not_found", message: "No batch \(QueryParameters.shown(id)).")
        }
        return reads.newest(try await reads.job(id, tenant: session.tenant))
    }

    private func batch(_ job: Job) async throws -> JSONValue { try await Self.batch(job, reads) }

    /// The batch object of `job`, exactly as the API answers it, to read values from.
    private static func batch(_ job: Job, _ reads: BatchReads) async throws -> JSONValue {
        let rendered = try await reads.rendered(job)
        return try JSONDecoder().decode(JSONValue.self, from: Data(rendered.readableBytesView))
    }

    private func jobView(_ job: Job, _ session: UISessions.Session, resultsAfter: Int?, notice: String?, problem: String?) async throws -> UIJobPage {
        let batch = try await batch(job)
        var view = UIJobPage(chrome: chrome(session), id: job.id, batch: batch)
        view.notice = notice
        view.problem = problem
        view.liveURL = job.isActive ? "/ui/live?ids=\(job.id)" : nil
        // The buttons the API's rules allow now; a paused job offers resume instead of pause.
        view.canCancel = refusal("cancel", job) == nil
        let canPause = refusal("pause", job) == nil
        let paused = batch["provider_status"]?.stringValue == "paused" || job.controlRequest?.action == "pause"
        view.canPause = canPause && !paused
        view.canResume = canPause && paused
        view.migrationTargets = engine.providers.values
            .filter { $0.name != job.provider && $0.capabilities.jobKinds.contains(job.kind) }
            .filter { (try? ControlRules.checkMigratable(job, to: $0.name)) != nil }
            .map { UIOption(value: $0.name, label: "\($0.name) (\($0.kind))", selected: false) }
            .sorted { $0.value < $1.value }
        // The timeline: provider attempts (submits, polls that failed, cancels) and history entries.
        var timeline: [UITimelineEntry] = [UITimelineEntry(at: job.createdAt, what: "created", detail: "on route \(job.route)")]
        for attempt in try await engine.store.attempts(jobID: job.id) where attempt.operation != "poll" || attempt.outcome != "ok" {
            var detail = "\(attempt.provider): \(attempt.outcome)"
            if let batchID = attempt.providerBatchID { detail += ", vendor batch \(batchID)" }
            if let message = attempt.message { detail += " — \(UIText.cut(message, 200))" }
            timeline.append(UITimelineEntry(at: attempt.at, what: attempt.operation, detail: detail))
        }
        for entry in job.history {
            timeline.append(
                UITimelineEntry(at: entry.at, what: "left \(entry.provider)", detail: "\(entry.lifecycleStatus.rawValue): \(entry.reason)")
            )
        }
        view.timeline = timeline.sorted { $0.time < $1.time }.suffix(200).map { $0 }
        // One page of per-item results, pending rows included while the job runs.
        let (stored, input) = try await reads.results(job, afterIndex: resultsAfter, limit: Self.resultsPageSize + 1)
        let (rows, hasMore) = ResultsPage.rows(stored: stored, pendingFrom: input, after: resultsAfter, limit: Self.resultsPageSize)
        view.results = rows.map { row in
            UIResultRow(
                index: row.index,
                key: row.key,
                status: row.status.rawValue,
                data: UIText.json(row.data),
                error: row.error.map { "\($0.code): \($0.message)" } ?? ""
            )
        }
        view.resultsFirstURL = resultsAfter == nil ? nil : "/ui/batches/\(job.id)"
        view.resultsNextURL = hasMore ? rows.last.map { "/ui/batches/\(job.id)?results_after=\($0.index)" } : nil
        // The latest vendor events.
        let events = try await engine.store.events(jobID: job.id)
        view.events = events.suffix(50).reversed().map { event in
            UIEventRow(
                at: event.receivedAt.rfc3339,
                provider: event.provider,
                batch: event.providerBatchID,
                type: event.eventType,
                payload: UIText.preview(event.payload)
            )
        }
        view.hasActions = view.canCancel || view.canPause || view.canResume || !view.migrationTargets.isEmpty
        return view
    }

    // MARK: - Actions

    private func action(_ request: Request, _ context: GatewayRequestContext) async throws -> Response {
        let session = try context.requireUISession()
        let form = try await UIForm.read(request)
        guard sessions.checkCSRF(form["csrf"], session) else { throw UIError.csrf }
        let job = try await ownJob(context, session)
        let action = try context.parameters.require("action")
        guard Self.notices[action] != nil else {
            throw GatewayError(status: 404, code: "not_found", message: "No action \(QueryParameters.shown(action)).")
        }
        let provider = action == "migrate" ? form["provider"] ?? "" : nil
        if form["confirm"] != "yes" {
            return try await confirmation(job, action: action, provider: provider, session)
        }
        do {
            switch action {
            case "cancel": _ = try await engine.cancel(job.id, tenant: session.tenant)
            case "pause": _ = try await engine.control(job.id, tenant: session.tenant, pause: true)
            case "resume": _ = try await engine.control(job.id, tenant: session.tenant, pause: false)
            default: _ = try await engine.migrate(job.id, tenant: session.tenant, to: provider ?? "")
            }
        } catch let error as GatewayError where error.status < 500 || error.code == "provider_error" {
            // Refused by the same rules as the API: the job page says why.
            let view = try await jobView(reads.newest(job), session, resultsAfter: nil, notice: nil, problem: error.message)
            return html(UITemplates.render(view, "job"), status: HTTPResponse.Status(code: error.status))
        }
        return redirect("/ui/batches/\(job.id)?done=\(action)")
    }

    private func confirmation(_ job: Job, action: String, provider: String?, _ session: UISessions.Session) async throws -> Response {
        struct Page {
            var chrome: UIChrome
            var id: String
            var action: String
            var question: String
            var explanation: String
            var button: String
            var provider: String?
            var problem: String?
        }
        var page = Page(
            chrome: chrome(session),
            id: job.id,
            action: "/ui/batches/\(job.id)/\(action)",
            question: "",
            explanation: "",
            button: "",
            provider: provider
        )
        switch action {
        case "cancel":
            page.question = "Cancel job \(job.id)?"
            page.explanation = "The vendor (\(job.provider)) is asked to stop the batch. Items it finished keep their results."
            page.button = "Cancel the job"
            page.problem = refusal(action, job)
        case "pause", "resume":
            page.question = "\(action == "pause" ? "Pause" : "Resume") job \(job.id)?"
            page.explanation = "The vendor (\(job.provider)) is asked to \(action) the batch; its status stays running."
            page.button = action == "pause" ? "Pause the job" : "Resume the job"
            page.problem = refusal(action, job)
        default:
            let target = provider ?? ""
            page.question = "Migrate job \(job.id) to \(target)?"
            page.explanation =
                "The upstream batch at \(job.provider) is cancelled where it can be, and the same input is submitted to \(target). "
                + "The job keeps its id; its progress restarts with the new provider."
            page.button = "Migrate the job"
            // Every check of the real migration, changing nothing.
            do {
                _ = try await engine.migrate(job.id, tenant: session.tenant, to: target, dryRun: true)
            } catch let error as GatewayError {
                page.problem = error.message
            }
        }
        return html(UITemplates.render(page, "confirm"), status: page.problem == nil ? .ok : .conflict)
    }

    /// Why the API would refuse to cancel, pause or resume `job` now (`ControlRules`), or nil when it would
    /// not: what the job page's buttons and the confirmation page both go by.
    private func refusal(_ action: String, _ job: Job) -> String? {
        let capabilities = engine.providers[job.provider]?.capabilities
        do throws(GatewayError) {
            if action == "cancel" {
                _ = try ControlRules.cancel(job, providerCanCancel: capabilities?.canCancel ?? false)
            } else {
                _ = try ControlRules.control(job, pause: action == "pause", providerCanPause: capabilities?.canPause ?? false)
            }
            return nil
        } catch {
            return error.message
        }
    }

    // MARK: - Vendors

    private func vendorsPage(_ request: Request, _ context: GatewayRequestContext) async throws -> Response {
        let session = try context.requireUISession()
        _ = try QueryParameters(request, allowed: [])
        let overview = try await engine.store.tenantOverview(tenant: session.tenant, now: engine.now())
        struct Row {
            var name: String
            var kind: String
            var active: Int
            var polls: Int
            var pollErrors: String
            var calls: Int
            var latency: String
            var sockets: Int
            var lastError: String
        }
        struct Page {
            var chrome: UIChrome
            var providers: [Row]
            var due: Int
            var retrying: Int
            var failed: Int
        }
        let rows = engine.providers.values.sorted { $0.name < $1.name }.map { provider -> Row in
            let stats = provider.stats?.snapshot ?? VendorStats.Snapshot()
            let calls = stats.calls.values.reduce(0, +)
            let nanoseconds = stats.nanoseconds.values.reduce(0, +)
            let polls = stats.calls["poll"] ?? 0
            let pollErrors = stats.failures["poll"] ?? 0
            var lastError = "none"
            if let error = stats.lastError {
                let ago = Int((error.at.duration(to: .now) / .seconds(1)).rounded())
                lastError = "\(error.operation) \(error.code), \(ago) s ago: \(UIText.cut(error.message, 200))"
            }
            return Row(
                name: provider.name,
                kind: provider.kind,
                active: overview.activeJobs[provider.name] ?? 0,
                polls: polls,
                pollErrors: polls == 0 ? "0" : "\(pollErrors) (\(pollErrors * 100 / polls) %)",
                calls: calls,
                latency: calls == 0 ? "–" : String(format: "%.1f ms", Double(nanoseconds) / Double(calls) / 1_000_000),
                sockets: stats.socketsOpen,
                lastError: lastError
            )
        }
        let page = Page(
            chrome: chrome(session, vendorsPage: true),
            providers: rows,
            due: overview.deliveriesDue,
            retrying: overview.deliveriesRetrying,
            failed: overview.deliveriesFailed
        )
        return html(UITemplates.render(page, "vendors"))
    }

    // MARK: - Live rows

    /// `row` events (`{"id", "version", "lifecycle_status", "provider_status", "progress"}`, from the batch
    /// object) for each listed job of the tenant: its current state first, then each change; `end` once
    /// every one is finished. A heartbeat comment every 15 s keeps proxies from closing it.
    private func live(_ request: Request, _ context: GatewayRequestContext) async throws -> Response {
        guard let session = context.uiSession else {
            throw GatewayError(status: 401, code: "unauthorized", message: "Sign in first.")
        }
        let query = try QueryParameters(request, allowed: ["ids"])
        let ids = Array(Set((query["ids"] ?? "").split(separator: ",").map(String.init))).sorted()
        guard !ids.isEmpty, ids.count <= Self.maxLiveJobs, ids.allSatisfy({ Identifier.isWellFormed($0, prefix: "bat") }) else {
            throw GatewayError.invalid("ids", "ids must be 1–\(Self.maxLiveJobs) batch ids, comma-separated.")
        }
        // Another tenant's job is a 404, as in the API; subscribed before the current state is read.
        var found: [Job] = []
        for id in ids { found.append(try await reads.job(id, tenant: session.tenant)) }
        let jobs = found
        let reads = reads
        let streams = ids.map { reads.changes($0) }
        let body = ResponseBody { writer in
            // The newest unsent version of each job, and a doorbell: a slow client gets each job's latest
            // state, never a growing backlog.
            let latest = LatestJobs(jobs.map(reads.newest))
            let (wakes, wake) = AsyncStream.makeStream(of: Bool.self, bufferingPolicy: .bufferingNewest(1))
            wake.yield(true)
            try await withGracefulShutdownHandler {
                try await withThrowingTaskGroup(of: Void.self) { group in
                    for stream in streams {
                        group.addTask {
                            for await job in stream {
                                latest.offer(job)
                                wake.yield(true)
                            }
                        }
                    }
                    group.addTask {
                        while !Task.isCancelled {
                            try await Task.sleep(for: .seconds(15))
                            wake.yield(false)
                        }
                    }
                    var sent: [String: Int] = [:]
                    var active = Set(ids)
                    wakeLoop: for await changed in wakes {
                        let due = latest.take().filter { $0.version > sent[$0.id] ?? 0 }
                        if due.isEmpty, !changed { try await writer.write(ByteBuffer(string: ": heartbeat\n\n")) }
                        for job in due {
                            sent[job.id] = job.version
                            try await writer.write(try await Self.rowEvent(job, reads))
                            if !job.isActive { active.remove(job.id) }
                        }
                        if active.isEmpty { break wakeLoop }
                    }
                    if active.isEmpty { try await writer.write(ByteBuffer(string: "event: end\ndata: {}\n\n")) }
                    group.cancelAll()
                }
            } onGracefulShutdown: {
                wake.finish()
            }
            try await writer.finish(nil)
        }
        return Response(status: .ok, headers: [.contentType: "text/event-stream", .cacheControl: "no-cache"], body: body)
    }

    private static func rowEvent(_ job: Job, _ reads: BatchReads) async throws -> ByteBuffer {
        let batch = try await batch(job, reads)
        let row: JSONValue = [
            "id": .string(job.id),
            "version": .integer(Int64(job.version)),
            "lifecycle_status": batch["lifecycle_status"] ?? .null,
            "provider_status": batch["provider_status"] ?? .null,
            "progress": batch["progress"] ?? .null,
        ]
        let data = try JSONEncoder().encode(row)
        var buffer = ByteBuffer(string: "event: row\ndata: ")
        buffer.writeBytes(data)
        buffer.writeString("\n\n")
        return buffer
    }

    // MARK: - Helpers

    private func chrome(_ session: UISessions.Session, jobsPage: Bool = false, vendorsPage: Bool = false) -> UIChrome {
        UIChrome(tenant: session.tenant, csrf: sessions.csrfToken(session), jobsPage: jobsPage, vendorsPage: vendorsPage)
    }

    private func cookie(_ name: String, _ value: String, maxAge: Int) -> Cookie {
        Cookie(name: name, value: value, maxAge: maxAge, path: "/ui", secure: secureCookies, httpOnly: true, sameSite: .strict)
    }

    static func url(_ path: String, _ query: [(String, String)]) -> String {
        guard !query.isEmpty else { return path }
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-._~")
        return path + "?"
            + query.map { "\($0.0)=\($0.1.addingPercentEncoding(withAllowedCharacters: allowed) ?? "")" }.joined(separator: "&")
    }
}

private func html(_ text: String, status: HTTPResponse.Status = .ok) -> Response {
    Response(status: status, headers: [.contentType: "text/html; charset=utf-8"], body: .init(byteBuffer: ByteBuffer(string: text)))
}

private func redirect(_ location: String) -> Response {
    Response(status: .seeOther, headers: [.location: location])
}

private func asset(_ text: String, type: String) -> Response {
    Response(
        status: .ok,
        headers: [.contentType: type, .cacheControl: "no-cache"],
        body: .init(byteBuffer: ByteBuffer(string: text))
    )
}

/// The job page's values.
struct UIJobPage {
    var chrome: UIChrome
    var id: String
    var notice: String?
    var problem: String?
    var liveURL: String?
    var lifecycle: String
    var providerStatus: String?
    var controlRequested: String?
    var progress: UIProgress
    var error: UIErrorView?
    var fields: [UIField]
    var canCancel = false
    var canPause = false
    var canResume = false
    var migrationTargets: [UIOption] = []
    /// Stored, not computed: templates see stored properties only.
    var hasActions = false
    var phases: [UIPhaseRow]
    var chunks: [UIChunkRow]
    var timeline: [UITimelineEntry] = []
    var results: [UIResultRow] = []
    var resultsFirstURL: String?
    var resultsNextURL: String?
    var events: [UIEventRow] = []
    var webhook: UIWebhook?

    init(chrome: UIChrome, id: String, batch: JSONValue) {
        self.chrome = chrome
        self.id = id
        lifecycle = batch["lifecycle_status"]?.stringValue ?? ""
        providerStatus = batch["provider_status"]?.stringValue
        controlRequested = batch["control_requested"]?["action"]?.stringValue
        progress = UIProgress(batch["progress"])
        if let error = batch["error"], error != .null {
            self.error = UIErrorView(
                code: error["code"]?.stringValue ?? "",
                message: error["message"]?.stringValue ?? "",
                providerCode: error["provider_code"]?.stringValue
            )
        }
        var fields: [UIField] = []
        for (name, key) in [
            ("Kind", "kind"), ("Route", "route"), ("Provider", "provider"), ("Provider kind", "provider_kind"),
            ("Vendor batch", "provider_batch_id"), ("Created", "created_at"), ("Updated", "updated_at"), ("Completed", "completed_at"),
            ("Polling URL", "polling_url"), ("Cancel URL", "cancel_url"), ("Results URL", "results_url"), ("Events URL", "events_url"),
        ] {
            if let value = batch[key]?.stringValue { fields.append(UIField(name: name, value: value)) }
        }
        if case .object(let correlation)? = batch["correlation"] {
            for (key, value) in correlation.sorted(by: { $0.key < $1.key }) {
                fields.append(UIField(name: key.replacingOccurrences(of: "_", with: " "), value: UIText.json(value)))
            }
        }
        if let metadata = batch["metadata"], metadata != .object([:]), metadata != .null {
            fields.append(UIField(name: "Metadata", value: UIText.json(metadata, limit: 500)))
        }
        self.fields = fields
        phases = (batch["phases"]?.arrayValue ?? []).map { phase in
            UIPhaseRow(
                name: phase["name"]?.stringValue ?? "",
                state: phase["state"]?.stringValue ?? "",
                counts: UIText.json(phase["counts"]),
                startedAt: phase["started_at"]?.stringValue ?? "",
                completedAt: phase["completed_at"]?.stringValue ?? ""
            )
        }
        chunks = (batch["chunks"]?.arrayValue ?? []).map { chunk in
            let offset = chunk["offset"]?.intValue ?? 0
            let count = chunk["count"]?.intValue ?? 0
            return UIChunkRow(
                items: "\(offset)–\(offset + max(count, 1) - 1)",
                batch: chunk["provider_batch_id"]?.stringValue ?? "not submitted yet",
                lifecycle: chunk["lifecycle_status"]?.stringValue ?? "",
                providerStatus: chunk["provider_status"]?.stringValue ?? "",
                progress: UIProgress(chunk["progress"])
            )
        }
        if let webhook = batch["webhook"], webhook != .null {
            self.webhook = UIWebhook(webhook)
        }
    }
}

struct UIErrorView {
    var code: String
    var message: String
    var providerCode: String?
}

struct UIPhaseRow {
    var name: String
    var state: String
    var counts: String
    var startedAt: String
    var completedAt: String
}

struct UIChunkRow {
    var items: String
    var batch: String
    var lifecycle: String
    var providerStatus: String
    var progress: UIProgress
}

struct UITimelineEntry {
    var time: Timestamp
    var at: String
    var what: String
    var detail: String

    init(at: Timestamp, what: String, detail: String) {
        time = at
        self.at = at.rfc3339
        self.what = what
        self.detail = detail
    }
}

struct UIResultRow {
    var index: Int
    var key: String
    var status: String
    var data: String
    var error: String
}

struct UIEventRow {
    var at: String
    var provider: String
    var batch: String
    var type: String
    var payload: String
}

/// Webhook delivery health: the subscription, the summary and the recent attempts of the batch object.
struct UIWebhook {
    var summary: [UIField]
    var attempts: [Attempt]

    struct Attempt {
        var triedAt: String
        var event: String
        var attempt: String
        var status: String
        var http: String
        var latency: String
        var error: String
    }

    init(_ webhook: JSONValue) {
        let delivery = webhook["delivery"]
        var summary = [
            UIField(name: "URL", value: webhook["url"]?.stringValue ?? ""),
            UIField(name: "Events", value: webhook["events"]?.arrayValue.compactMap(\.stringValue).joined(separator: ", ") ?? ""),
            UIField(name: "Signed", value: webhook["has_secret"] == .bool(true) ? "yes" : "no"),
        ]
        for (name, key) in [
            ("Attempts", "total_attempts"), ("Delivered events", "delivered_events"), ("Pending retries", "pending_retries"),
            ("Next retry", "next_retry_at"), ("Last attempt", "last_attempt_at"), ("Last status", "last_attempt_status"),
            ("Last HTTP status", "last_response_status"), ("Last delivered", "last_delivered_at"), ("Last failure", "last_failure_at"),
            ("Last error", "last_error_message"),
        ] {
            if let value = delivery?[key], value != .null { summary.append(UIField(name: name, value: UIText.json(value))) }
        }
        if webhook["stopped"] == .bool(true) { summary.append(UIField(name: "Stopped", value: "the receiver answered 410 Gone")) }
        self.summary = summary
        attempts = (webhook["attempts"]?.arrayValue ?? []).map { attempt in
            Attempt(
                triedAt: attempt["tried_at"]?.stringValue ?? "",
                event: attempt["event_type"]?.stringValue ?? "",
                attempt: "\(attempt["attempt_number"]?.intValue ?? 0)/\(attempt["max_attempts"]?.intValue ?? 0)",
                status: attempt["status"]?.stringValue ?? "",
                http: attempt["response_status"]?.intValue.map(String.init) ?? "–",
                latency: attempt["latency_ms"]?.intValue.map { "\($0) ms" } ?? "–",
                error: attempt["error_message"]?.stringValue ?? ""
            )
        }
    }
}

/// The newest version of each job a live stream has not sent yet.
private final class LatestJobs: Sendable {
    private let jobs: Mutex<[String: Job]>

    init(_ jobs: [Job]) { self.jobs = Mutex(Dictionary(jobs.map { ($0.id, $0) }, uniquingKeysWith: { a, b in a.version >= b.version ? a : b })) }

    /// Keeps `job` unless a newer version of it is already waiting.
    func offer(_ job: Job) {
        jobs.withLock { waiting in
            if waiting[job.id].map({ $0.version < job.version }) ?? true { waiting[job.id] = job }
        }
    }

    /// Everything waiting, taken out, in id order.
    func take() -> [Job] {
        jobs.withLock { waiting in
            defer { waiting.removeAll() }
            return waiting.values.sorted { $0.id < $1.id }
        }
    }
}
