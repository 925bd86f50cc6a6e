import Dispatch
import Hummingbird
import Metrics
import Synchronization

/// HTTP requests by route, method and status, and their durations:
/// `batchgate_http_requests_total{route, method, status}` and
/// `batchgate_http_request_duration_seconds{route, method}` (from the request to the response head; the
/// gateway's bodies are small and already rendered).
///
/// Lighter than Hummingbird's `MetricsMiddleware`, which cost a fifth of the read path's throughput in
/// the `GET /v1/batches/{id}` benchmark: the metric objects of each (route, method, status) are made
/// once and found with one dictionary lookup under a lock, and nothing wraps the response body.
struct HTTPMetricsMiddleware<Context: RequestContext>: RouterMiddleware {
    private struct Key: Hashable {
        var route: String
        var method: HTTPRequest.Method
        var status: Int
    }

    private struct Recorders {
        var counter: Counter
        var timer: Metrics.Timer
    }

    private final class Cache: Sendable {
        let recorders = Mutex<[Key: Recorders]>([:])
    }

    private let cache = Cache()

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let start = DispatchTime.now().uptimeNanoseconds
        let status: Int
        do {
            let response = try await next(request, context)
            status = response.status.code
            record(context, request.method, status, since: start)
            return response
        } catch {
            status = (error as? any HTTPResponseError)?.status.code ?? 500
            record(context, request.method, status, since: start)
            throw error
        }
    }

    private func record(_ context: Context, _ method: HTTPRequest.Method, _ status: Int, since start: UInt64) {
        // Unmatched paths share one route label, so a scan of random paths cannot grow the label set.
        let key = Key(route: context.endpointPath ?? "unmatched", method: method, status: status)
        let recorders = cache.recorders.withLock { recorders in
            if let found = recorders[key] { return found }
            let made = Recorders(
                counter: Counter(
                    label: "batchgate_http_requests_total",
                    dimensions: [("route", key.route), ("method", method.rawValue), ("status", "\(status)")]
                ),
                timer: Metrics.Timer(
                    label: "batchgate_http_request_duration_seconds",
                    dimensions: [("route", key.route), ("method", method.rawValue)],
                    preferredDisplayUnit: .seconds
                )
            )
            recorders[key] = made
            return made
        }
        recorders.counter.increment()
        recorders.timer.recordNanoseconds(Int64(DispatchTime.now().uptimeNanoseconds - start))
    }
}
