/// Faults the Aitronos simulator injects; replace them at runtime with `AitronosSimulator.setFaults(_:)`.
///
/// Every route gets, in this order: `latency`, then the `unavailableResponses` 503s, then the
/// `rateLimitedResponses` 429s; those counters go down by one per answered request. `slowCreates`
/// applies to creates that succeed: the batch is created at once, but the answer waits
/// `slowCreateDelay`, so a client with a shorter timeout sees a timeout although the batch exists.
public struct AitronosFaults: Sendable, Hashable, APIFaultCounters {
    /// Added before every answer.
    /// Up to this much more before every answer, a random share each time, so concurrent requests are
    /// answered out of order.
    public var jitter: Duration = .zero
    /// How the next `hostileResponses` successful answers are mangled.
    public var hostile: HostileAnswer = .absurdNumbers
    /// How many of the next successful answers are mangled (`hostile=<kind>[:<n>]`; without `n`, all of them).
    public var hostileResponses: Int = 0
    public var latency: Duration
    /// How many of the next requests answer 503.
    public var unavailableResponses: Int
    /// How many of the next requests answer 429 with `Retry-After`.
    public var rateLimitedResponses: Int
    /// The `Retry-After` sent with a 429, rounded up to whole seconds on the wire.
    public var retryAfter: Duration
    /// The progress response lists the batch's jobs in a random order (the vendor does not promise request order).
    public var shuffleJobs: Bool = false
    /// The progress response lists jobs without their `url` (only a job's details name it).
    public var unlistedURLs: Bool = false
    /// How many of the next successful creates answer late.
    public var slowCreates: Int
    /// How late a slow create answers.
    public var slowCreateDelay: Duration

    /// No faults by default.
    public init(
        latency: Duration = .zero,
        unavailableResponses: Int = 0,
        rateLimitedResponses: Int = 0,
        retryAfter: Duration = .seconds(1),
        slowCreates: Int = 0,
        slowCreateDelay: Duration = .seconds(5)
    ) {
        self.latency = latency
        self.unavailableResponses = unavailableResponses
        self.rateLimitedResponses = rateLimitedResponses
        self.retryAfter = retryAfter
        self.slowCreates = slowCreates
        self.slowCreateDelay = slowCreateDelay
    }

    /// Parses a comma-separated fault list for the CLI, e.g.
    /// `latency=50ms,status503=3,ratelimit=2:1s,slow-create=1:10s`.
    ///
    /// Entries: `latency=<duration>`, `status503=<n>`, `ratelimit=<n>[:<retry-after duration>]`,
    /// `slow-create=<n>[:<delay>]` (delay 5 s when not given). Durations take `ms`, `s` or `m`. An
    /// empty string means no faults. Throws `SimulatorError` naming the entry at fault.
    public static func parse(_ spec: String) throws(SimulatorError) -> AitronosFaults {
        var faults = AitronosFaults()
        for entry in FaultEntry.entries(spec) {
            if try entry.applyAPIFault(to: &faults) { continue }
            switch entry.name {
            case "shuffle":
                faults.shuffleJobs = true
            case "unlisted-urls":
                faults.unlistedURLs = true
            case "slow-create", "slow_create", "slowcreate":
                let (count, delay) = try entry.countAndDuration()
                faults.slowCreates = count
                if let delay { faults.slowCreateDelay = delay }
            default:
                throw SimulatorError(
                    code: "invalid_fault",
                    message:
                        "Unknown fault `\(entry.name)`; expected latency, jitter, hostile, status503, ratelimit, shuffle, unlisted-urls or slow-create.",
                    field: entry.text
                )
            }
        }
        return faults
    }
}
