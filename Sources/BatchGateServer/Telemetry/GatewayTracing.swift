public import BatchGateCore
import HTTPTypes
import Hummingbird
import Instrumentation
public import Logging
import OTel
public import ServiceLifecycle
import Synchronization
import Tracing

/// OpenTelemetry traces, exported over OTLP/HTTP (swift-otel) when `providers.yaml` has a `telemetry:`
/// section; off otherwise, when every span is a no-op.
///
/// The spans: each API request (`GatewayTracingMiddleware`, continuing a W3C `traceparent` the client
/// sent), each job turn or vendor connection, each vendor call (`<provider> <operation>`, which sends
/// `traceparent` upstream), each store commit (`store <operation>`) and each client webhook attempt
/// (`webhook <event type>`, which sends `traceparent` to the receiver). A job keeps the trace context of
/// the request that created it (`Job.traceParent`), so its later work joins that trace.
public enum GatewayTracing {
    private static let bootstrapped = Mutex(false)
    static let traceParentHeader = HTTPField.Name("traceparent")!

    /// Bootstraps the process's tracer from `settings` and returns the service that batches and exports
    /// spans (run it first and stop it last, so the last spans are flushed). Nil when tracing is off, or
    /// when this process bootstrapped its tracer already (swift-distributed-tracing allows it once).
    public static func bootstrap(_ settings: TelemetrySettings?, logger: Logger) throws -> (any Service)? {
        guard let settings else { return nil }
        let first = bootstrapped.withLock { done in
            defer { done = true }
            return !done
        }
        guard first else {
            logger.warning("tracing is already set up in this process; the telemetry section of this gateway is not applied again")
            return nil
        }
        var configuration = OTel.Configuration.default
        configuration.serviceName = settings.serviceName
        configuration.resourceAttributes = ["service.version": BatchGateVersion.current]
        configuration.diagnosticLogger = .custom(logger)
        configuration.diagnosticLogLevel = .warning
        configuration.propagators = [.traceContext]
        configuration.metrics.enabled = false
        configuration.logs.enabled = false
        configuration.traces.enabled = true
        // The gateway samples new traces itself (`TraceContext`) and makes no span for unsampled work, so
        // every span the tracer sees is to be recorded.
        configuration.traces.sampler = .parentBasedAlwaysOn
        configuration.traces.exporter = .otlp
        configuration.traces.otlpExporter.endpoint = settings.tracesEndpoint
        switch settings.traceProtocol {
        case .httpProtobuf: configuration.traces.otlpExporter.protocol = .httpProtobuf
        case .httpJSON: configuration.traces.otlpExporter.protocol = .httpJSON
        }
        let backend = try OTel.makeTracingBackend(configuration: configuration)
        InstrumentationSystem.bootstrap(backend.factory)
        TraceContext.enable(sampling: settings.sampling)
        logger.info(
            "exporting traces",
            metadata: [
                "endpoint": "\(settings.tracesEndpoint)", "sampling": "\(settings.sampling)", "protocol": "\(settings.traceProtocol.rawValue)",
            ]
        )
        return backend.service
    }
}

/// A server span per sampled API request, named by its route (`/v1/batches/{id}`), continuing the trace of
/// a W3C `traceparent` the client sent. Unlike Hummingbird's `TracingMiddleware` it never records the raw path,
/// which for inbound vendor webhooks holds the job's token: the path is recorded with the token hidden.
struct GatewayTracingMiddleware<Context: RequestContext>: RouterMiddleware {
    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        // A client's valid traceparent decides; without one the gateway samples a new trace. An unsampled
        // request makes no span at all: the read path pays one task-local value.
        var parent = ServiceContext.topLevel
        let sampled: Bool
        if let header = request.headers[GatewayTracing.traceParentHeader], let flag = TraceContext.isSampled(header) {
            sampled = flag
            if flag { InstrumentationSystem.instrument.extract(request.headers, into: &parent, using: HTTPFieldsExtractor()) }
        } else {
            sampled = TraceContext.sampleNewTrace()
        }
        guard sampled else {
            return try await TraceContext.$unsampled.withValue(true) { try await next(request, context) }
        }
        let span = startSpan("HTTP \(request.method.rawValue)", context: parent, ofKind: .server)
        span.attributes["http.request.method"] = request.method.rawValue
        span.attributes["url.path"] = ErrorMiddleware<Context>.redacted(request.uri.path)
        if let requestID = LogScope.requestID { span.attributes["batchgate.request_id"] = requestID }
        defer { span.end() }
        do {
            let response = try await ServiceContext.withValue(span.context) { try await next(request, context) }
            finish(span, context: context, status: Int(response.status.code))
            return response
        } catch {
            finish(span, context: context, status: (error as? any HTTPResponseError)?.status.code ?? 500)
            throw error
        }
    }

    private func finish(_ span: any Span, context: Context, status: Int) {
        if let route = context.endpointPath {
            span.operationName = "\(span.operationName) \(route)"
            span.attributes["http.route"] = route
        }
        span.attributes["http.response.status_code"] = status
        if status >= 500 { span.setStatus(SpanStatus(code: .error)) }
    }
}

/// Reads trace context fields from request headers.
struct HTTPFieldsExtractor: Extractor {
    func extract(key: String, from carrier: HTTPFields) -> String? {
        HTTPField.Name(key).flatMap { carrier[$0] }
    }
}
