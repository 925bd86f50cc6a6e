/// Faults the Aitronos simulator injects; replace them at runtime with `AitronosSimulator.setFaults(_:)`.
///
/// Every route gets, in this order: `latency`, then the `unavailableResponses` 503s, then the
/// `rateLimitedResponses` 429s; those counters go down by one per answered request. `slowCreates`
/// applies to creates that succeed: the batch is created at once, but the answer waits
/// `slowCreateDelay`, so a client with a shorter timeout sees a timeout although the batch exists.
public struct AitronosFaults: Sendable, Hashable {
    /// Added before every answer.
    public var latency: Duration
    /// How many of the next requests answer 503.
    public var unavailableResponses: Int
    /// How many of the next requests answer 429 with `Retry-After`.
    public var rateLimitedResponses: Int
    /// The `Retry-After` sent with a 429, rounded up to whole seconds on the wire.
    public var retryAfter: Duration
    /// How many of the next successful creates answer late.
    public var slowCreates: Int
    /// How late a slow create answers.
    public var slowCreateDelay: Duration

    /// No faults by default.
    public init(
        latency: Duration = .zero, unavailableResponses: Int = 0, rateLimitedResponses: Int = 0,
        retryAfter: Duration = .seconds(1), slowCreates: Int = 0, slowCreateDelay: Duration = .seconds(5)
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
        for rawEntry in spec.split(separator: ",") {
            let entry = trimmed(rawEntry)
            guard !entry.isEmpty else { continue }
            let parts = entry.split(separator: "=", maxSplits: 1).map(String.init)
            let name = parts[0].lowercased()
            let value = parts.count > 1 ? parts[1] : nil
            func requireValue() throws(SimulatorError) -> String {
                guard let value, !value.isEmpty else {
                    throw SimulatorError(code: "invalid_fault", message: "`\(name)` needs a value, as in `\(name)=…`.", field: entry)
                }
                return value
            }
            func count(_ text: String) throws(SimulatorError) -> Int {
                guard let number = Int(text), number >= 0 else {
                    throw SimulatorError(code: "invalid_fault", message: "`\(text)` is not a non-negative integer.", field: entry)
                }
                return number
            }
            /// `<n>[:<duration>]`.
            func countAndDuration() throws(SimulatorError) -> (Int, Duration?) {
                let pieces = try requireValue().split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
                return (try count(pieces[0]), pieces.count > 1 ? try duration(pieces[1], entry: entry) : nil)
            }
            switch name {
            case "latency":
                faults.latency = try duration(try requireValue(), entry: entry)
            case "status503", "unavailable":
                faults.unavailableResponses = try count(try requireValue())
            case "ratelimit", "status429":
                let (count, retryAfter) = try countAndDuration()
                faults.rateLimitedResponses = count
                if let retryAfter { faults.retryAfter = retryAfter }
            case "slow-create", "slow_create", "slowcreate":
                let (count, delay) = try countAndDuration()
                faults.slowCreates = count
                if let delay { faults.slowCreateDelay = delay }
            default:
                throw SimulatorError(
                    code: "invalid_fault",
                    message: "Unknown fault `\(name)`; expected latency, status503, ratelimit or slow-create.", field: entry)
            }
        }
        return faults
    }

    private static func duration(_ text: String, entry: String) throws(SimulatorError) -> Duration {
        let units: [(suffix: String, scale: Int64)] = [("ms", 1), ("s", 1000), ("m", 60_000)]
        for unit in units where text.hasSuffix(unit.suffix) {
            if let number = Int64(text.dropLast(unit.suffix.count)), number >= 0 {
                return .milliseconds(number * unit.scale)
            }
            break
        }
        throw SimulatorError(code: "invalid_fault", message: "`\(text)` is not a duration such as 50ms, 2s or 1m.", field: entry)
    }

    private static func trimmed(_ text: Substring) -> String {
        var view = text
        while let first = view.first, first.isWhitespace { view.removeFirst() }
        while let last = view.last, last.isWhitespace { view.removeLast() }
        return String(view)
    }
}
