/// Durations as written in `providers.yaml`: a whole number followed by `ms`, `s`, `m` or `h`.
enum DurationText {
    enum Parsed: Hashable, Sendable {
        case valid(Duration)
        /// Well formed but zero, which no setting accepts.
        case zero
        case invalid
    }

    /// Parses `200ms`, `15s`, `10m`, `1h`; no sign, spaces, fractions or mixed units.
    static func parse(_ text: String) -> Parsed {
        let digits = text.prefix { $0.isASCII && $0.isNumber }
        let unit = text.dropFirst(digits.count)
        let milliseconds: Int64
        switch unit {
        case "ms": milliseconds = 1
        case "s": milliseconds = 1_000
        case "m": milliseconds = 60_000
        case "h": milliseconds = 3_600_000
        default: return .invalid
        }
        guard !digits.isEmpty, let count = Int64(digits) else { return .invalid }
        let (total, overflow) = count.multipliedReportingOverflow(by: milliseconds)
        if overflow { return .invalid }
        return total == 0 ? .zero : .valid(.milliseconds(total))
    }

    /// A duration in the largest unit that writes it exactly, e.g. `10m`, `1500ms`.
    static func format(_ duration: Duration) -> String {
        let (seconds, attoseconds) = duration.components
        let milliseconds = seconds * 1_000 + attoseconds / 1_000_000_000_000_000
        for (unit, size) in [("h", Int64(3_600_000)), ("m", 60_000), ("s", 1_000)] where milliseconds % size == 0 && milliseconds != 0 {
            return "\(milliseconds / size)\(unit)"
        }
        return "\(milliseconds)ms"
    }
}

extension Duration {
    /// A duration written as in `providers.yaml` (`200ms`, `15s`, `10m`, `1h`); nil when malformed or zero.
    public init?(configText text: String) {
        guard case .valid(let duration) = DurationText.parse(text) else { return nil }
        self = duration
    }
}
