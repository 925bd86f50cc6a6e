import BatchGateCore
import HTTPTypes
import Hummingbird
public import Logging
import Synchronization

/// What a task works for, so every log line written on its behalf carries it: the API request's id, and
/// the job (and its provider) a job turn, a vendor connection or a vendor webhook is about. Loggers made
/// with `LogScope.metadataProvider` add `request_id`, `job` and `provider` to each line.
public enum LogScope {
    @TaskLocal public static var requestID: String?
    @TaskLocal public static var job: String?
    @TaskLocal public static var provider: String?

    /// Adds `request_id`, `job` and `provider` to log lines written in their scope.
    public static let metadataProvider = Logger.MetadataProvider {
        var metadata: Logger.Metadata = [:]
        if let requestID { metadata["request_id"] = .string(requestID) }
        if let job { metadata["job"] = .string(job) }
        if let provider { metadata["provider"] = .string(provider) }
        return metadata
    }

    /// Runs `body` with `job` and `provider` set for its log lines.
    public static func withJob<T>(_ job: String, provider: String?, _ body: () async throws -> T) async rethrows -> T {
        try await $job.withValue(job) { try await $provider.withValue(provider) { try await body() } }
    }
}

/// New request ids: `req_<12 random hex digits per process>_<counter>`, unique without a random draw per
/// request.
enum RequestIDs {
    static let header = HTTPField.Name("X-Request-Id")!
    private static let prefix = "req_" + String(UInt64.random(in: 0..<(1 << 48)), radix: 16) + "_"
    private static let counter = Atomic<UInt64>(0)

    static func next() -> String {
        prefix + String(counter.add(1, ordering: .relaxed).newValue, radix: 36)
    }
}

/// `X-Request-Id`: the client's (the first, if it is 1–128 letters, digits, `-`, `_`, `.`, `:`), or a new
/// `req_…` one; echoed on every response, errors included, and set for the request's task
/// (`LogScope`). Each request is logged at debug level when it ends, with its method, path (vendor
/// tokens hidden), status and duration.
struct RequestIDMiddleware<Context: RequestContext>: RouterMiddleware {
    static var header: HTTPField.Name { RequestIDs.header }

    /// The client's id, if it is one the gateway accepts.
    static func accepted(_ value: String?) -> String? {
        guard let value, (1...128).contains(value.utf8.count) else { return nil }
        let allowed = value.utf8.allSatisfy { byte in
            (byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x5A) || (byte >= 0x61 && byte <= 0x7A)
                || byte == 0x2D || byte == 0x5F || byte == 0x2E || byte == 0x3A
        }
        return allowed ? value : nil
    }

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let id = Self.accepted(request.headers[Self.header]) ?? RequestIDs.next()
        let started = ContinuousClock.now
        return try await LogScope.$requestID.withValue(id) {
            var response: Response
            do {
                response = try await next(request, context)
            } catch let error as any HTTPResponseError {
                response = try error.response(from: request, context: context)
            }
            response.headers[Self.header] = id
            if context.logger.logLevel <= .debug {
                context.logger.debug(
                    "request",
                    metadata: [
                        "method": "\(request.method)",
                        "path": "\(ErrorMiddleware<Context>.redacted(request.uri.path))",
                        "status": "\(response.status.code)",
                        "duration_ms": "\(started.duration(to: .now) / .milliseconds(1))",
                    ]
                )
            }
            return response
        }
    }
}
