/// The API faults every vendor simulator injects, in this order: added latency (plus a random share of
/// `jitter`, so concurrent requests are answered out of order), then the next `unavailableResponses`
/// answers are 503, then the next `rateLimitedResponses` are 429 with `Retry-After`, then the next
/// `hostileResponses` successful answers are mangled as `hostile` says.
protocol APIFaultCounters: Sendable {
    var latency: Duration { get set }
    var jitter: Duration { get set }
    var unavailableResponses: Int { get set }
    var rateLimitedResponses: Int { get set }
    var retryAfter: Duration { get set }
    var hostile: HostileAnswer { get set }
    var hostileResponses: Int { get set }
}

/// What one request meets.
enum APIGate: Sendable {
    case unavailable
    case rateLimited(retryAfter: Duration)
    /// Answered, but with the body mangled.
    case hostile(HostileAnswer)
    case open
}

extension APIFaultCounters {
    /// Takes one request's worth of faults: the latency to add and how the request is answered.
    mutating func nextGate() -> (latency: Duration, gate: APIGate) {
        var delay = latency
        if jitter > .zero { delay += jitter * Double.random(in: 0...1) }
        if unavailableResponses > 0 {
            unavailableResponses -= 1
            return (delay, .unavailable)
        }
        if rateLimitedResponses > 0 {
            rateLimitedResponses -= 1
            return (delay, .rateLimited(retryAfter: retryAfter))
        }
        if hostileResponses > 0 {
            hostileResponses -= 1
            return (delay, .hostile(hostile))
        }
        return (delay, .open)
    }
}

/// One `name[=value]` entry of a comma-separated fault list, with readers whose errors name the entry.
struct FaultEntry {
    /// The entry as written, trimmed.
    let text: String
    /// Lowercased.
    let name: String
    let value: String?

    /// The non-empty entries of `spec`.
    static func entries(_ spec: String) -> [FaultEntry] {
        spec.split(separator: ",").compactMap { raw in
            let text = String(raw.drop(while: \.isWhitespace).reversed().drop(while: \.isWhitespace).reversed())
            guard !text.isEmpty else { return nil }
            let parts = text.split(separator: "=", maxSplits: 1).map(String.init)
            return FaultEntry(text: text, name: parts[0].lowercased(), value: parts.count > 1 ? parts[1] : nil)
        }
    }

    func requireValue() throws(SimulatorError) -> String {
        guard let value, !value.isEmpty else {
            throw SimulatorError(code: "invalid_fault", message: "`\(name)` needs a value, as in `\(name)=…`.", field: text)
        }
        return value
    }

    func count(_ number: String) throws(SimulatorError) -> Int {
        guard let count = Int(number), count >= 0 else {
            throw SimulatorError(code: "invalid_fault", message: "`\(number)` is not a non-negative integer.", field: text)
        }
        return count
    }

    /// `50ms`, `2s` or `1m`.
    func duration(_ duration: String) throws(SimulatorError) -> Duration {
        let units: [(suffix: String, scale: Int64)] = [("ms", 1), ("s", 1000), ("m", 60_000)]
        for unit in units where duration.hasSuffix(unit.suffix) {
            if let number = Int64(duration.dropLast(unit.suffix.count)), number >= 0 {
                return .milliseconds(number * unit.scale)
            }
            break
        }
        throw SimulatorError(code: "invalid_fault", message: "`\(duration)` is not a duration such as 50ms, 2s or 1m.", field: text)
    }

    /// `<n>[:<duration>]`.
    func countAndDuration() throws(SimulatorError) -> (Int, Duration?) {
        let pieces = try requireValue().split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
        return (try count(pieces[0]), pieces.count > 1 ? try duration(pieces[1]) : nil)
    }

    /// Applies `latency=`, `jitter=`, `status503=`, `ratelimit=<n>[:<retry-after>]` and
    /// `hostile=<kind>[:<n>]`; false for any other entry.
    func applyAPIFault(to faults: inout some APIFaultCounters) throws(SimulatorError) -> Bool {
        switch name {
        case "latency":
            faults.latency = try duration(try requireValue())
        case "jitter":
            faults.jitter = try duration(try requireValue())
        case "hostile":
            let pieces = try requireValue().split(separator: ":", maxSplits: 1).map(String.init)
            guard let kind = HostileAnswer(rawValue: pieces[0]) else {
                throw SimulatorError(
                    code: "invalid_fault",
                    message: "`\(pieces[0])` is not a hostile answer; expected \(HostileAnswer.allCases.map(\.rawValue).joined(separator: ", ")).",
                    field: text
                )
            }
            faults.hostile = kind
            faults.hostileResponses = pieces.count > 1 ? try count(pieces[1]) : Int.max
        case "status503", "unavailable":
            faults.unavailableResponses = try count(try requireValue())
        case "ratelimit", "status429":
            let (count, retryAfter) = try countAndDuration()
            faults.rateLimitedResponses = count
            if let retryAfter { faults.retryAfter = retryAfter }
        default:
            return false
        }
        return true
    }
}
