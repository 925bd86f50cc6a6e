/// The range each number and duration of `providers.yaml` must fall in; a value outside is refused at
/// load with the range in its message.
///
/// The bounds keep out values that make no sense for a running gateway (zero or near-zero intervals that
/// would spin, timeouts and pauses of months, body limits of terabytes) and keep every duration small
/// enough that adding it to a clock reading or converting it to milliseconds cannot overflow.
public enum ConfigBounds {
    /// `server.max_body_bytes`: 1 KiB to 1 GiB.
    public static let maxBodyBytes: ClosedRange<Int> = 1_024...1_073_741_824
    /// `webhooks.max_attempts`: 1 to 100.
    public static let webhookMaxAttempts: ClosedRange<Int> = 1...100
    /// `webhooks.initial_backoff`: 10 ms to 1 h.
    public static let webhookInitialBackoff: ClosedRange<Duration> = .milliseconds(10)...(.seconds(3_600))
    /// `webhooks.max_backoff`: 10 ms to 24 h.
    public static let webhookMaxBackoff: ClosedRange<Duration> = .milliseconds(10)...(.seconds(86_400))
    /// `webhooks.timeout`: 1 s to 2 min. The webhook sender derives its claim lease from it, so it must
    /// stay short enough that a delivery whose sender died is retried within minutes.
    public static let webhookTimeout: ClosedRange<Duration> = .seconds(1)...(.seconds(120))
    /// `providers.*.poll_interval`: 100 ms to 1 h.
    public static let pollInterval: ClosedRange<Duration> = .milliseconds(100)...(.seconds(3_600))
    /// `providers.*.timeout` (per request to the vendor): 1 s to 10 min.
    public static let providerTimeout: ClosedRange<Duration> = .seconds(1)...(.seconds(600))
    /// A kind-specific duration option whose `ProviderOptionSpec` declares no range: 1 ms to 24 h.
    public static let providerDurationOption: ClosedRange<Duration> = .milliseconds(1)...(.seconds(86_400))
    /// `store.pool_size`: 1 to 500 connections per replica.
    public static let storePoolSize: ClosedRange<Int> = 1...500
    /// `store.statement_timeout`: 100 ms to 1 h.
    public static let storeStatementTimeout: ClosedRange<Duration> = .milliseconds(100)...(.seconds(3_600))
    /// `routes.*.targets[].weight`: 1 to 1000.
    public static let routeWeight: ClosedRange<Int> = 1...1_000
}
