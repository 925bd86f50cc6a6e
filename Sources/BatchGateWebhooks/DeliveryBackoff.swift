import BatchGateCore

/// How long to wait before the next attempt of a delivery: exponential with jitter, capped.
///
/// The base delay after attempt `n` is `initial × 2^(n−1)`, capped at `max`. Jitter then spreads
/// retries of many deliveries so a receiver coming back is not hit by all of them at once.
/// A receiver's `Retry-After` is a floor: the delay is the larger of the jittered delay and
/// `Retry-After`, and the result is still capped at `max`, so a receiver cannot park a delivery for
/// longer than the operator allows (the number of attempts stays bounded by `max_attempts` either way).
public struct DeliveryBackoff: Sendable, Hashable {
    /// How the base delay is randomised.
    public enum Jitter: String, Sendable, Hashable {
        /// Exactly the base delay.
        case none
        /// Uniform in `0...base` (AWS "full jitter"): the widest spread, may retry almost at once.
        case full
        /// Uniform in `base/2...base` (AWS "equal jitter"): spread, but never less than half the base.
        case equal
    }

    /// How the base delay is randomised; `equal` by default.
    public var jitter: Jitter

    /// A backoff with the given jitter.
    public init(jitter: Jitter = .equal) {
        self.jitter = jitter
    }

    /// The delay after attempt `n` (1-based) failed.
    ///
    /// `n < 1` is treated as 1; negative durations are treated as zero; when `initial` exceeds
    /// `max`, `max` wins.
    public func delay(
        afterAttempt n: Int, initial: Duration, max: Duration, retryAfter: Duration?,
        random: inout some RandomNumberGenerator
    ) -> Duration {
        let capNanoseconds = Self.nanoseconds(max)
        var base = Swift.min(Self.nanoseconds(initial), capNanoseconds)
        var doublings = Swift.max(n, 1) - 1
        while doublings > 0, base < capNanoseconds {
            let (doubled, overflow) = base.multipliedReportingOverflow(by: 2)
            base = overflow ? capNanoseconds : Swift.min(doubled, capNanoseconds)
            doublings -= 1
        }
        let jittered: Int64
        switch jitter {
        case .none:
            jittered = base
        case .full:
            jittered = base == 0 ? 0 : Int64(UInt64.random(in: 0...UInt64(base), using: &random))
        case .equal:
            let half = base / 2
            jittered = half + (base - half == 0 ? 0 : Int64(UInt64.random(in: 0...UInt64(base - half), using: &random)))
        }
        var chosen = jittered
        if let retryAfter {
            chosen = Swift.max(chosen, Self.nanoseconds(retryAfter))
        }
        return .nanoseconds(Swift.min(chosen, capNanoseconds))
    }

    private static func nanoseconds(_ duration: Duration) -> Int64 {
        let (seconds, attoseconds) = duration.components
        guard seconds >= 0 else { return 0 }
        let (whole, overflow) = seconds.multipliedReportingOverflow(by: 1_000_000_000)
        if overflow { return Int64.max / 4 }
        return Swift.min(whole + attoseconds / 1_000_000_000, Int64.max / 4)
    }
}
