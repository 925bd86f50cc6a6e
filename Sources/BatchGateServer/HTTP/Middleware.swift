import BatchGateCore
import Foundation
import Hummingbird
import Logging

/// A `GatewayError` as an HTTP response: `{"error": {"code", "message", "field"?}}`.
struct APIError: HTTPResponseError {
    let error: GatewayError
    /// Extra response headers, such as `Allow` on a 405 or `WWW-Authenticate` on a 401.
    let headers: HTTPFields

    init(_ error: GatewayError, headers: HTTPFields = [:]) {
        self.error = error
        self.headers = headers
    }

    var status: HTTPResponse.Status { .init(code: error.status) }

    func response(from request: Request, context: some RequestContext) throws -> Response {
        APIError.response(for: error, headers: headers)
    }

    static func response(for error: GatewayError, headers: HTTPFields = [:]) -> Response {
        var fields = headers
        fields[.contentType] = "application/json"
        let body = BatchRenderer.encode(ErrorEnvelope(error: .init(code: error.code, message: error.message, field: error.field)))
        return Response(status: .init(code: error.status), headers: fields, body: .init(byteBuffer: ByteBuffer(bytes: body)))
    }

    private struct ErrorEnvelope: Encodable {
        struct Body: Encodable {
            var code: String
            var message: String
            var field: String?
        }
        var error: Body
    }
}

/// Turns every error into the API's JSON error shape; unexpected errors become a 500 that reveals nothing.
struct ErrorMiddleware<Context: RequestContext>: RouterMiddleware {
    /// The path with the per-job token of inbound vendor webhooks hidden: it is a credential.
    static func redacted(_ path: String) -> String {
        guard let range = path.range(of: "/webhooks/") else { return path }
        return path[..<range.upperBound] + "[token]"
    }

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as APIError {
            return APIError.response(for: error.error, headers: error.headers)
        } catch let error as GatewayError {
            return APIError.response(for: error)
        } catch let error as HTTPError {
            let code: String
            switch error.status {
            case .contentTooLarge: code = "payload_too_large"
            case .notFound: code = "not_found"
            case .methodNotAllowed: code = "method_not_allowed"
            case .unsupportedMediaType: code = "unsupported_media_type"
            default: code = error.status.code < 500 ? "invalid_request" : "internal_error"
            }
            let message = error.body ?? error.status.reasonPhrase
            return APIError.response(for: GatewayError(status: error.status.code, code: code, message: message))
        } catch {
            context.logger.error("unhandled error", metadata: ["error": "\(error)", "path": "\(Self.redacted(request.uri.path))"])
            return APIError.response(for: GatewayError(status: 500, code: "internal_error", message: "Internal error."))
        }
    }
}

/// Resolves `Authorization: Bearer <key>` to a tenant; 401 otherwise.
///
/// The scheme is case-insensitive (RFC 9110); exactly one `Authorization` header with exactly one
/// space-free token is accepted. Every refusal carries `WWW-Authenticate: Bearer` and never echoes the key.
struct APIKeyMiddleware: RouterMiddleware {
    typealias Context = GatewayRequestContext
    /// API key → tenant.
    let keys: [String: String]

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let tenant = try Self.tenant(for: request.headers[values: .authorization], keys: keys)
        var context = context
        context.tenant = tenant
        return try await next(request, context)
    }

    /// The tenant whose key the `Authorization` header values carry.
    static func tenant(for values: [String], keys: [String: String]) throws(APIError) -> String {
        func refuse(_ message: String) -> APIError {
            APIError(
                GatewayError(status: 401, code: "unauthorized", message: message, field: "Authorization"),
                headers: [.wwwAuthenticate: #"Bearer realm="batchgate""#]
            )
        }
        guard let header = values.first else { throw refuse("Send your API key as 'Authorization: Bearer <key>'.") }
        guard values.count == 1 else { throw refuse("Send one Authorization header, not \(values.count).") }
        let parts = header.split(separator: " ", omittingEmptySubsequences: true)
        guard parts.count == 2, parts[0].lowercased() == "bearer" else {
            throw refuse("The Authorization header must be 'Bearer <key>'.")
        }
        guard let tenant = keys[String(parts[1])] else { throw refuse("Unknown API key.") }
        return tenant
    }
}
