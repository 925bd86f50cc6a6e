public import Instrumentation
import Synchronization
public import Tracing

/// W3C trace context (`traceparent`) kept with a job and its client webhooks, so the work the gateway does
/// for a job later, in other tasks or after a restart (submits, polls, store commits, webhook attempts),
/// joins the trace of the request that created it; and the gateway's own sampling of new traces.
///
/// The gateway decides sampling where a trace starts (an API request without a `traceparent`, a job turn
/// or a webhook attempt of a job created while tracing was off), with a fast counter-based generator, and
/// makes no span at all for work that is not sampled: an unsampled request costs one task-local value, not
/// a span. An unsampled job keeps a `traceparent` whose flags say so (`-00`), so its later work stays
/// unsampled instead of being sampled anew at each turn. With tracing off nothing is captured or restored.
public enum TraceContext {
    /// Whether tracing is on, and the share of new traces kept, over the 64-bit range (`max`: all).
    private static let enabled = Atomic<Bool>(false)
    private static let threshold = Atomic<UInt64>(0)
    private static let counter = Atomic<UInt64>(UInt64.random(in: 0...UInt64.max))

    /// Set for work that belongs to a trace that is not sampled: no span is made for it.
    @TaskLocal public static var unsampled = false

    /// Turns tracing on, keeping `sampling` (0 to 1) of new traces.
    public static func enable(sampling: Double) {
        threshold.store(threshold(sampling: sampling), ordering: .relaxed)
        enabled.store(true, ordering: .releasing)
    }

    /// `sampling` (0 to 1) scaled to 2^64, against which `nextRandom()` draws are compared; `max` keeps
    /// every trace (a fraction so close to 1 that it rounds to 2^64, which UInt64 cannot hold, too).
    static func threshold(sampling: Double) -> UInt64 {
        let scaled = sampling.isNaN ? 0 : max(0, sampling) * 18_446_744_073_709_551_616.0
        return scaled >= 18_446_744_073_709_551_616.0 ? .max : UInt64(scaled)
    }

    /// Whether tracing is on.
    public static var isEnabled: Bool { enabled.load(ordering: .acquiring) }

    /// Whether spans are made here: tracing is on and this work is not part of an unsampled trace.
    public static var recording: Bool { isEnabled && !unsampled }

    /// Runs `body` in a span named `name` when this work is recorded (`recording`), handing it the span to
    /// annotate; with no span at all (nil) when tracing is off or the trace is not sampled.
    public static func withSpan<T>(
        _ name: String,
        ofKind kind: SpanKind = .internal,
        isolation: isolated (any Actor)? = #isolation,
        _ body: ((any Span)?) async throws -> T
    ) async rethrows -> T {
        guard recording else { return try await body(nil) }
        return try await Tracing.withSpan(name, ofKind: kind) { span in try await body(span) }
    }

    /// A new trace's sampling decision.
    public static func sampleNewTrace() -> Bool {
        let threshold = threshold.load(ordering: .relaxed)
        return threshold == .max || nextRandom() < threshold
    }

    /// The `traceparent` to keep with new work: the current span's when it is sampled, an unsampled one
    /// (flags `00`) when the current work is not sampled, nil when tracing is off.
    public static func current() -> String? {
        guard isEnabled else { return nil }
        if unsampled { return unsampledTraceParent() }
        guard let context = ServiceContext.current else { return nil }
        var carrier: [String: String] = [:]
        InstrumentationSystem.instrument.inject(context, into: &carrier, using: DictionaryInjector())
        return carrier["traceparent"]
    }

    /// Whether a `traceparent`'s flags say its trace is sampled (nil when it is not a W3C version-00 value).
    public static func isSampled(_ traceParent: String) -> Bool? {
        let bytes = Array(traceParent.utf8)
        guard bytes.count == 55, bytes[0] == UInt8(ascii: "0"), bytes[1] == UInt8(ascii: "0"), bytes[52] == UInt8(ascii: "-"),
            let flags = UInt8(String(decoding: bytes[53...54], as: UTF8.self), radix: 16)
        else { return nil }
        return flags & 1 == 1
    }

    /// Runs `body` in the trace a stored `traceparent` stands for: recorded if it is sampled, without spans
    /// if not; a new trace, sampled or not, when there is none.
    public static func within<T>(
        traceParent: String?,
        isolation: isolated (any Actor)? = #isolation,
        _ body: () async throws -> T
    ) async rethrows -> T {
        guard isEnabled else { return try await body() }
        guard let traceParent else {
            if sampleNewTrace() { return try await body() }
            return try await $unsampled.withValue(true) { try await body() }
        }
        guard isSampled(traceParent) == true, let context = context(traceParent: traceParent) else {
            return try await $unsampled.withValue(true) { try await body() }
        }
        return try await ServiceContext.withValue(context) { try await body() }
    }

    /// The trace context a stored `traceparent` stands for; nil when there is none or it is not valid.
    public static func context(traceParent: String?) -> ServiceContext? {
        guard let traceParent else { return nil }
        var context = ServiceContext.topLevel
        InstrumentationSystem.instrument.extract(["traceparent": traceParent], into: &context, using: DictionaryExtractor())
        return context.isEmpty ? nil : context
    }

    /// `00-<trace id>-<span id>-00`: new ids, not sampled.
    static func unsampledTraceParent() -> String {
        "00-" + hex(nextRandom()) + hex(nextRandom()) + "-" + hex(nextRandom()) + "-00"
    }

    /// splitmix64 over a per-process counter: fast, lock-free and well spread; not for secrets.
    static func nextRandom() -> UInt64 {
        var z = counter.wrappingAdd(0x9E37_79B9_7F4A_7C15, ordering: .relaxed).newValue
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    private static func hex(_ value: UInt64) -> String {
        let digits = String(value, radix: 16)
        return String(repeating: "0", count: 16 - digits.utf8.count) + digits
    }
}

struct DictionaryInjector: Injector {
    func inject(_ value: String, forKey key: String, into carrier: inout [String: String]) { carrier[key] = value }
}

struct DictionaryExtractor: Extractor {
    func extract(key: String, from carrier: [String: String]) -> String? { carrier[key] }
}
