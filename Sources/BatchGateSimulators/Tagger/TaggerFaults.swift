/// Faults the document-tagging simulator injects; replace them at runtime with `TaggerSimulator.setFaults(_:)`.
///
/// API faults apply to every HTTP route in this order: `latency`, then the `unavailableResponses` 503s,
/// then the `rateLimitedResponses` 429s; the counters go down by one per answered request. WebSocket
/// connects do not meet API faults. Socket faults are taken by the next sockets that reach a known job
/// with a good token, one fault per socket, stalls first: a stalled socket sends nothing at all (no
/// catchup, no progress, no keepalive) and stays open until the client gives up; a dropped socket is
/// closed without a close frame after `dropAfterMessages` live progress messages (a job that ends sooner
/// ends that socket normally). Only sockets on a running job take a drop: a finished job's socket gets its
/// catchup and final message as usual. `rejectToken` answers every connect with the documented authentication
/// error and close code 1008. `finishInstantly` completes jobs started while it is set at once.
/// `shortCatchups` models a lagging replica: the next sockets whose catchup has rows get one that leaves
/// out its `shortCatchupRows` newest rows (the rows stay in the job; later catchups have them).
public struct TaggerFaults: Sendable, Hashable, APIFaultCounters {
    /// Added before every HTTP answer.
    /// Up to this much more before every answer, a random share each time, so concurrent requests are
    /// answered out of order.
    public var jitter: Duration = .zero
    /// How the next `hostileResponses` successful answers are mangled.
    public var hostile: HostileAnswer = .absurdNumbers
    /// How many of the next successful answers are mangled (`hostile=<kind>[:<n>]`; without `n`, all of them).
    public var hostileResponses: Int = 0
    public var latency: Duration
    /// How many of the next HTTP requests answer 503.
    public var unavailableResponses: Int
    /// How many of the next HTTP requests answer 429 with `Retry-After`.
    public var rateLimitedResponses: Int
    /// The `Retry-After` sent with a 429, rounded up to whole seconds on the wire.
    public var retryAfter: Duration
    /// How many of the next sockets are closed abruptly (TCP close, no close frame).
    public var dropSockets: Int
    /// Live progress messages a dropped socket sends before it is closed.
    public var dropAfterMessages: Int
    /// How many of the next sockets go silent and stay open.
    public var stallSockets: Int
    /// Answer every WebSocket connect with the authentication error, whatever the token.
    public var rejectToken: Bool
    /// Jobs started while set finish every document at once, before any client connects.
    public var finishInstantly: Bool
    /// How many of the next sockets with a non-empty catchup get one missing its newest rows.
    public var shortCatchups: Int
    /// Rows a short catchup leaves out.
    public var shortCatchupRows: Int

    /// No faults by default.
    public init(
        latency: Duration = .zero,
        unavailableResponses: Int = 0,
        rateLimitedResponses: Int = 0,
        retryAfter: Duration = .seconds(1),
        dropSockets: Int = 0,
        dropAfterMessages: Int = 10,
        stallSockets: Int = 0,
        rejectToken: Bool = false,
        finishInstantly: Bool = false,
        shortCatchups: Int = 0,
        shortCatchupRows: Int = 3
    ) {
        self.latency = latency
        self.unavailableResponses = unavailableResponses
        self.rateLimitedResponses = rateLimitedResponses
        self.retryAfter = retryAfter
        self.dropSockets = dropSockets
        self.dropAfterMessages = dropAfterMessages
        self.stallSockets = stallSockets
        self.rejectToken = rejectToken
        self.finishInstantly = finishInstantly
        self.shortCatchups = shortCatchups
        self.shortCatchupRows = shortCatchupRows
    }

    /// Parses a comma-separated fault list for the CLI, e.g.
    /// `drop=2,drop_after=5,stall=1,reject_token,instant,status503=2,ratelimit=1:1s,latency=20ms`.
    ///
    /// Entries: `latency=<duration>`, `status503=<n>`, `ratelimit=<n>[:<retry-after duration>]`,
    /// `drop=<n>`, `drop_after=<n>`, `stall=<n>`, `reject_token`, `instant`, `short_catchup=<n>`,
    /// `short_catchup_rows=<n>`. Durations take `ms`, `s` or
    /// `m`; `-` may stand for `_`. An empty string means no faults. Throws `SimulatorError` naming the
    /// entry at fault.
    public init(parsing spec: String) throws(SimulatorError) {
        self.init()
        for entry in FaultEntry.entries(spec) {
            if try entry.applyAPIFault(to: &self) { continue }
            switch entry.name.replacing("-", with: "_") {
            case "drop":
                dropSockets = try entry.count(try entry.requireValue())
            case "drop_after":
                dropAfterMessages = try entry.count(try entry.requireValue())
            case "stall":
                stallSockets = try entry.count(try entry.requireValue())
            case "reject_token":
                try Self.refuseValue(entry)
                rejectToken = true
            case "instant", "finish_instantly":
                try Self.refuseValue(entry)
                finishInstantly = true
            case "short_catchup":
                shortCatchups = try entry.count(try entry.requireValue())
            case "short_catchup_rows":
                shortCatchupRows = try entry.count(try entry.requireValue())
            default:
                throw SimulatorError(
                    code: "invalid_fault",
                    message:
                        "Unknown fault `\(entry.name)`; expected latency, jitter, hostile, status503, ratelimit, drop, drop_after, stall, reject_token, instant, short_catchup or short_catchup_rows.",
                    field: entry.text
                )
            }
        }
    }

    /// The same as `init(parsing:)`, named like the other simulators' parsers.
    public static func parse(_ spec: String) throws(SimulatorError) -> TaggerFaults {
        try TaggerFaults(parsing: spec)
    }

    private static func refuseValue(_ entry: FaultEntry) throws(SimulatorError) {
        guard entry.value == nil else {
            throw SimulatorError(code: "invalid_fault", message: "`\(entry.name)` takes no value.", field: entry.text)
        }
    }
}
