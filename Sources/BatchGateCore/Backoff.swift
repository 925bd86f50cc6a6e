/// How long to wait before retrying: exponential with jitter, capped, never sooner than a capped
/// `Retry-After`. The one retry-delay policy of the gateway (vendor submits, polls and streams, and
/// webhook deliveries).
///
/// The base delay after failed attempt `n` (1-based) is `base × 2^(n−1)`, capped at `cap`. Jitter then
/// spreads the retries of many jobs or deliveries so a vendor or receiver coming back is not hit by
/// all of them at once. A `Retry-After` is a floor, itself capped at `retryAfterCap` (by default
/// `cap`), so a peer answering `Retry-After: 2147483647` cannot park work for decades.
///
/// The result always lies in `0...max(cap, retryAfterCap)` and is at least `min(retryAfter, retryAfterCap)`.
/// Every input is accepted: attempts below 1 count as 1 and any attempt number (`Int.max` included) is
/// safe; negative durations count as zero; `base` above `cap` is cut to `cap`; `cap` and
/// `retryAfterCap` are cut to ``longestDelay``, so a delay can always be added to a `Timestamp`.
///
/// Pure: randomness comes only from the generator passed to ``delay(afterAttempt:retryAfter:using:)``.
public struct Backoff: Sendable, Hashable {
    /// How the base delay is randomised.
    public enum Jitter: String, Sendable, Hashable, CaseIterable {
        /// Exactly the base delay.
        case none
        /// Uniform in `0...base` (AWS "full jitter"): the widest spread; may retry almost at once.
        case full
        /// Uniform in `base/2...base` (AWS "equal jitter"): spread, but never less than half the base.
        case equal
    }

    /// The longest delay any backoff gives, whatever its settings: one day. `cap` and
    /// `retryAfterCap` above it are cut to it.
    public static let longestDelay: Duration = .seconds(86_400)

    /// The delay after the first failure, before jitter.
    public var base: Duration
    /// The longest base delay.
    public var cap: Duration
    /// The longest `Retry-After` honoured; a longer one counts as this long.
    public var retryAfterCap: Duration
    /// How the base delay is randomised.
    public var jitter: Jitter

    /// A backoff doubling from `base` up to `cap`. `retryAfterCap` defaults to `cap`.
    public init(base: Duration, cap: Duration, retryAfterCap: Duration? = nil, jitter: Jitter = .equal) {
        self.base = base
        self.cap = cap
        self.retryAfterCap = retryAfterCap ?? cap
        self.jitter = jitter
    }

    /// The delay after failed attempt `attempt` (1-based), before jitter and `Retry-After`.
    public func baseDelay(afterAttempt attempt: Int) -> Duration {
        .nanoseconds(baseNanoseconds(afterAttempt: attempt))
    }

    /// The delay after failed attempt `attempt` (1-based): the jittered base delay, raised to
    /// `retryAfter` (capped at `retryAfterCap`) when that is longer.
    ///
    /// Pass the peer's `Retry-After` as `RetryAfter.parse` read it, or nil when there was none.
    public func delay(
        afterAttempt attempt: Int,
        retryAfter: Duration? = nil,
        using random: inout some RandomNumberGenerator
    ) -> Duration {
        let base = baseNanoseconds(afterAttempt: attempt)
        let jittered: Int64
        switch jitter {
        case .none:
            jittered = base
        case .full:
            jittered = Int64(UInt64.random(in: 0...UInt64(base), using: &random))
        case .equal:
            let half = base / 2
            jittered = half + Int64(UInt64.random(in: 0...UInt64(base - half), using: &random))
        }
        guard let retryAfter else { return .nanoseconds(jittered) }
        let floor = Swift.min(Self.nanoseconds(retryAfter), Self.nanoseconds(retryAfterCap))
        return .nanoseconds(Swift.max(jittered, floor))
    }

    /// `base × 2^(attempt−1)` in nanoseconds, within `0...cap`.
    private func baseNanoseconds(afterAttempt attempt: Int) -> Int64 {
        let cap = Self.nanoseconds(cap)
        let first = Swift.min(Self.nanoseconds(base), cap)
        guard first > 0 else { return 0 }
        // `first` is positive, so it has at least one leading zero bit; shifting by fewer than
        // `leadingZeroBitCount - 1` places cannot overflow. Any larger shift is past `cap` anyway.
        let doublings = attempt <= 1 ? 0 : attempt - 1
        guard doublings < first.leadingZeroBitCount - 1 else { return cap }
        return Swift.min(first << doublings, cap)
    }

    /// A duration in whole nanoseconds within `0...longestDelay` (negative gives zero).
    static func nanoseconds(_ duration: Duration) -> Int64 {
        guard duration > .zero else { return 0 }
        guard duration < longestDelay else { return longestNanoseconds }
        let (seconds, attoseconds) = duration.components
        return seconds * 1_000_000_000 + attoseconds / 1_000_000_000
    }

    private static let longestNanoseconds: Int64 = longestDelay.components.seconds * 1_000_000_000
}
