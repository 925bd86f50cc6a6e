import BatchGateCore
import Hummingbird

/// Per-request context: the tenant the API key belongs to, set by `APIKeyMiddleware`.
struct GatewayRequestContext: RequestContext {
    var coreContext: CoreRequestContextStorage
    /// Set on every `/v1` route except inbound vendor webhooks.
    var tenant: String?
    /// Set on `/ui` routes when the browser has a valid session (`UIMiddleware`).
    var uiSession: UISessions.Session?

    init(source: Source) {
        coreContext = .init(source: source)
        tenant = nil
    }

    /// The authenticated tenant; the middleware guarantees one on protected routes.
    func requireTenant() throws -> String {
        guard let tenant else { throw APIError(.init(status: 401, code: "unauthorized", message: "Missing API key.")) }
        return tenant
    }
}
