/// An error the API reports to clients: `{"error": {"code", "message", "field"?}}` with an HTTP status.
public struct GatewayError: Error, Sendable, Hashable, CustomStringConvertible {
    public var status: Int
    /// Stable, machine-readable, e.g. `invalid_request`, `not_found`, `not_cancellable`.
    public var code: String
    /// For humans. Never contains a secret.
    public var message: String
    /// The failing field as a path, e.g. `input.urls[3]`.
    public var field: String?

    public init(status: Int, code: String, message: String, field: String? = nil) {
        self.status = status
        self.code = code
        self.message = message
        self.field = field
    }

    public var description: String {
        field.map { "\(code) at \($0): \(message)" } ?? "\(code): \(message)"
    }

    /// 400 with the failing field.
    public static func invalid(_ field: String?, _ message: String) -> GatewayError {
        GatewayError(status: 400, code: "invalid_request", message: message, field: field)
    }

    /// 404 for a job that does not exist or belongs to another tenant.
    public static func notFound(_ what: String) -> GatewayError {
        GatewayError(status: 404, code: "not_found", message: "No \(what) with that id.")
    }
}
