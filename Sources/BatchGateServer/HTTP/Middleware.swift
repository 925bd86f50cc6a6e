import BatchGateCore
import Hummingbird
import Logging

/// A `GatewayError` as an HTTP response: `{"error": {"code", "message", "field"?}}`.
struct APIError: HTTPResponseError {
    let error: GatewayError

    init(_ error: GatewayError) { self.error = error }

    var status: HTTPResponse.Status { .init(code: error.status) }

    func response(from request: Request, context: some RequestContext) throws -> Response {
        APIError.response(for: error)
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
            return APIError.response(for: error.error)
        } catch let error as GatewayError {
            return APIError.response(for: error)
        } catch let error as HTTPError {
            let code: String
            switch error.status {
            case .contentTooLarge: code = "payload_too_large"
            case .notFound: code = "not_found"
            case .methodNotAllowed: code = "method_not_allowed"
            default: code = error.status.code < 500 ? "bad_request" : "internal_error"
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
struct APIKeyMiddleware: RouterMiddleware {
    typealias Context = GatewayRequestContext
    /// API key → tenant.
    let keys: [String: String]

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard let header = request.headers[.authorization], header.count > 7,
            header.prefix(7).lowercased() == "bearer "
        else {
            throw APIError(.init(status: 401, code: "unauthorized", message: "Send your API key as 'Authorization: Bearer <key>'."))
        }
        guard let tenant = keys[String(header.dropFirst(7))] else {
            throw APIError(.init(status: 401, code: "unauthorized", message: "Unknown API key."))
        }
        var context = context
        context.tenant = tenant
        return try await next(request, context)
    }
}
