/// Faults the AirOps simulator injects; replace them at runtime with `AirOpsSimulator.setFaults(_:)`.
///
/// API faults apply to every route in this order: `latency`, then the `unavailableResponses` 503s, then
/// the `rateLimitedResponses` 429s; the counters go down by one per answered request. Webhook faults:
/// `duplicateWebhooks` sends every event twice; `outOfOrderWebhooks` holds each event back until the
/// next one is due and sends the later one first; `droppedEvents` are never sent; while
/// `webhooksPaused` nothing is sent, and the held events go out, late, once it is cleared.
public struct AirOpsFaults: Sendable, Hashable, APIFaultCounters {
    /// Added before every API answer.
    /// Up to this much more before every answer, a random share each time, so concurrent requests are
    /// answered out of order.
    public var jitter: Duration = .zero
    /// How the next `hostileResponses` successful answers are mangled.
    public var hostile: HostileAnswer = .absurdNumbers
    /// How many of the next successful answers are mangled (`hostile=<kind>[:<n>]`; without `n`, all of them).
    public var hostileResponses: Int = 0
    public var latency: Duration
    /// How many of the next API requests answer 503.
    public var unavailableResponses: Int
    /// How many of the next API requests answer 429 with `Retry-After`.
    public var rateLimitedResponses: Int
    /// The `Retry-After` sent with a 429, rounded up to whole seconds on the wire.
    public var retryAfter: Duration
    /// Send every webhook twice in a row.
    public var duplicateWebhooks: Bool
    /// Hold each webhook until the next is due and send the later one first.
    public var outOfOrderWebhooks: Bool
    /// Full event types (`event.batch.airops.scraping_completed`) that are never sent.
    public var droppedEvents: Set<String>
    /// Send no webhooks; the held ones go out once this is cleared.
    public var webhooksPaused: Bool

    /// No faults by default.
    public init(
        latency: Duration = .zero,
        unavailableResponses: Int = 0,
        rateLimitedResponses: Int = 0,
        retryAfter: Duration = .seconds(1),
        duplicateWebhooks: Bool = false,
        outOfOrderWebhooks: Bool = false,
        droppedEvents: Set<String> = [],
        webhooksPaused: Bool = false
    ) {
        self.latency = latency
        self.unavailableResponses = unavailableResponses
        self.rateLimitedResponses = rateLimitedResponses
        self.retryAfter = retryAfter
        self.duplicateWebhooks = duplicateWebhooks
        self.outOfOrderWebhooks = outOfOrderWebhooks
        self.droppedEvents = droppedEvents
        self.webhooksPaused = webhooksPaused
    }

    /// The event names `drop=` accepts, without the `event.batch.airops.` prefix.
    public static let eventNames = [
        "scraping_started", "scraping_completed", "scraping_failed", "analyzing_completed", "enriching_started",
        "enriching_completed", "enriching_failed", "completed", "failed",
    ]

    /// Parses a comma-separated fault list for the CLI, e.g.
    /// `latency=50ms,status503=3,ratelimit=2:1s,duplicate,out-of-order,drop=scraping_completed,pause`.
    ///
    /// Entries: `latency=<duration>`, `status503=<n>`, `ratelimit=<n>[:<retry-after duration>]`,
    /// `duplicate`, `out-of-order`, `drop=<event>` (repeatable; short or full event name), `pause`.
    /// Durations take `ms`, `s` or `m`. An empty string means no faults. Throws `SimulatorError` naming
    /// the entry at fault.
    public static func parse(_ spec: String) throws(SimulatorError) -> AirOpsFaults {
        var faults = AirOpsFaults()
        for entry in FaultEntry.entries(spec) {
            if try entry.applyAPIFault(to: &faults) { continue }
            switch entry.name {
            case "duplicate":
                faults.duplicateWebhooks = true
            case "out-of-order", "out_of_order", "reorder":
                faults.outOfOrderWebhooks = true
            case "drop":
                let event = try entry.requireValue()
                let short = event.hasPrefix(AirOpsTimeline.eventPrefix) ? String(event.dropFirst(AirOpsTimeline.eventPrefix.count)) : event
                guard eventNames.contains(short) else {
                    throw SimulatorError(
                        code: "invalid_fault",
                        message: "Unknown AirOps event `\(event)`; expected one of \(eventNames.joined(separator: ", ")).",
                        field: entry.text
                    )
                }
                faults.droppedEvents.insert(AirOpsTimeline.eventPrefix + short)
            case "pause", "paused":
                faults.webhooksPaused = true
            default:
                throw SimulatorError(
                    code: "invalid_fault",
                    message:
                        "Unknown fault `\(entry.name)`; expected latency, jitter, hostile, status503, ratelimit, duplicate, out-of-order, drop or pause.",
                    field: entry.text
                )
            }
        }
        return faults
    }
}
