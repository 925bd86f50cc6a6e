import BatchGateCore
import Foundation
import HTTPTypes
import Hummingbird
import Logging

/// In front of every `/ui` route: reads the session cookie into the context, adds the security headers
/// to every answer, turns a missing session into a redirect to the sign-in form, and any error into an
/// HTML page that says what is wrong (the API's errors are JSON; the page's are not).
struct UIMiddleware: RouterMiddleware {
    typealias Context = GatewayRequestContext

    let sessions: UISessions
    let now: @Sendable () -> Timestamp
    let logger: Logger

    static let securityHeaders: HTTPFields = [
        HTTPField.Name("Content-Security-Policy")!:
            "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
            + "form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        HTTPField.Name("X-Content-Type-Options")!: "nosniff",
        HTTPField.Name("X-Frame-Options")!: "DENY",
        HTTPField.Name("Referrer-Policy")!: "no-referrer",
    ]

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var context = context
        if let session = sessions.session(cookie: request.cookies[UISessions.cookieName]?.value, now: now()) {
            context.uiSession = session
            context.tenant = session.tenant
        }
        var response: Response
        do {
            response = try await next(request, context)
        } catch UIError.signInRequired {
            response = Response(status: .seeOther, headers: [.location: "/ui/sign-in"])
        } catch {
            response = errorPage(error, signedIn: context.uiSession.map { (tenant: $0.tenant, csrf: sessions.csrfToken($0)) })
        }
        for field in Self.securityHeaders { response.headers[field.name] = field.value }
        if response.headers[.cacheControl] == nil { response.headers[.cacheControl] = "no-store" }
        return response
    }

    private func errorPage(_ error: any Error, signedIn: (tenant: String, csrf: String)?) -> Response {
        var status = 500
        var message = "Something went wrong; the gateway's log has the details."
        var headers: HTTPFields = [.contentType: "text/html; charset=utf-8"]
        switch error {
        case let error as GatewayError:
            status = error.status
            message = error.message
        case let error as APIError:
            status = error.error.status
            message = error.error.message
            for field in error.headers { headers[field.name] = field.value }
        case UIError.csrf:
            status = 403
            message = "The form expired or did not come from this page; go back, reload and try again."
        case let error as HTTPError:
            status = Int(error.status.code)
            message = error.body ?? error.status.reasonPhrase
        default:
            logger.error("operator page failed", metadata: ["error": "\(error)"])
        }
        struct Page {
            var chrome: UIChrome?
            var heading: String
            var message: String
        }
        let heading =
            switch status {
            case 404: "Not found"
            case 400, 413, 415, 422: "That request is not valid"
            case 401, 403: "Not allowed"
            case 405: "Method not allowed"
            case 409: "Not possible now"
            default: "Error"
            }
        let page = Page(chrome: signedIn.map { UIChrome(tenant: $0.tenant, csrf: $0.csrf) }, heading: heading, message: message)
        return Response(
            status: HTTPResponse.Status(code: status),
            headers: headers,
            body: .init(byteBuffer: ByteBuffer(string: UITemplates.render(page, "error")))
        )
    }
}

enum UIError: Error {
    /// No valid session: the browser is sent to the sign-in form.
    case signInRequired
    /// A form without this session's CSRF token.
    case csrf
}

extension GatewayRequestContext {
    func requireUISession() throws -> UISessions.Session {
        guard let uiSession else { throw UIError.signInRequired }
        return uiSession
    }
}

/// A form body (`application/x-www-form-urlencoded`, at most 16 KiB): its fields by name, the first of
/// each name kept.
struct UIForm {
    static let maxBytes = 16 * 1024
    private var fields: [String: String] = [:]

    subscript(name: String) -> String? { fields[name] }

    static func read(_ request: Request) async throws -> UIForm {
        if let type = request.headers[.contentType], !type.lowercased().hasPrefix("application/x-www-form-urlencoded") {
            throw GatewayError(
                status: 415,
                code: "unsupported_media_type",
                message: "Forms must be sent as application/x-www-form-urlencoded."
            )
        }
        var request = request
        let body = try await APIRoutes.collectBody(&request, limit: maxBytes)
        var form = UIForm()
        for pair in String(decoding: body, as: UTF8.self).split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            guard let name = Self.decode(parts[0]), form.fields[name] == nil else { continue }
            form.fields[name] = parts.count > 1 ? Self.decode(parts[1]) ?? "" : ""
        }
        return form
    }

    /// `+` is a space, then percent-decoding; nil when the escapes are broken.
    static func decode(_ text: Substring) -> String? {
        text.replacingOccurrences(of: "+", with: " ").removingPercentEncoding
    }
}
