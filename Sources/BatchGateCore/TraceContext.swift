public import Instrumentation

/// W3C trace context (`traceparent`) kept with a job and its client webhooks, so the work the gateway does
/// for a job later, in other tasks or after a restart (submits, polls, store commits, webhook attempts),
/// joins the trace of the request that created it.
///
/// With tracing off the instrument is a no-op: nothing is captured and nothing is restored.
public enum TraceContext {
    /// The `traceparent` of the task's current trace context, or nil when there is none.
    public static func current() -> String? {
        guard let context = ServiceContext.current else { return nil }
        var carrier: [String: String] = [:]
        InstrumentationSystem.instrument.inject(context, into: &carrier, using: DictionaryInjector())
        return carrier["traceparent"]
    }

    /// The trace context a stored `traceparent` stands for; nil when there is none or it is not valid.
    public static func context(traceParent: String?) -> ServiceContext? {
        guard let traceParent else { return nil }
        var context = ServiceContext.topLevel
        InstrumentationSystem.instrument.extract(["traceparent": traceParent], into: &context, using: DictionaryExtractor())
        return context.isEmpty ? nil : context
    }

    /// Runs `body` in the trace a stored `traceparent` stands for (as is, when there is none).
    public static func within<T>(
        traceParent: String?,
        isolation: isolated (any Actor)? = #isolation,
        _ body: () async throws -> T
    ) async rethrows -> T {
        guard let context = context(traceParent: traceParent) else { return try await body() }
        return try await ServiceContext.withValue(context) { try await body() }
    }
}

struct DictionaryInjector: Injector {
    func inject(_ value: String, forKey key: String, into carrier: inout [String: String]) { carrier[key] = value }
}

struct DictionaryExtractor: Extractor {
    func extract(key: String, from carrier: [String: String]) -> String? { carrier[key] }
}
