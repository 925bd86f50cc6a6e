import BatchGateCore
import Logging

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// How every HTTP adapter turns an exchange with its vendor into a `ProviderError`: 429 is rate limited
/// (with `Retry-After`), 5xx and unreachable are unavailable, 404 is not found, other 4xx are refused.
/// The vendor's own code and message are kept; the credential never is.
struct VendorHTTP: Sendable {
    /// The vendor's name in messages, e.g. `AirOps`.
    let vendor: String

    /// Sends one request to the vendor with `credentials` (e.g. `Authorization: Bearer …`), asking for JSON,
    /// and returns a 2xx response; anything else becomes a `ProviderError` that never shows `secret`.
    func send(
        _ method: String,
        baseURL: String,
        path: String,
        credentials: [(name: String, value: String)],
        body: [UInt8]?,
        timeout: Duration,
        secret: String,
        transport: any HTTPTransport,
        logger: Logger
    ) async throws(ProviderError) -> HTTPResponse {
        var headers = credentials
        headers.append(("Accept", "application/json"))
        if body != nil { headers.append(("Content-Type", "application/json")) }
        let request = HTTPRequest(method: method, url: baseURL + path, headers: headers, body: body, timeout: timeout)
        let response: HTTPResponse
        do {
            response = try await transport.send(request)
        } catch {
            throw self.error(error, method: method, path: path)
        }
        if let failure = self.error(response, secret: secret, now: .now()) {
            logger.debug(
                "\(vendor) request failed",
                metadata: ["method": "\(method)", "path": "\(path)", "status": "\(response.status)"]
            )
            throw failure
        }
        return response
    }

    /// The error for a request that got no response.
    func error(_ error: TransportError, method: String, path: String) -> ProviderError {
        switch error.code {
        case .timeout: ProviderError(.timeout, "\(vendor) did not answer \(method) \(path) in time.")
        case .connection: ProviderError(.unavailable, "\(vendor) could not be reached: \(error.message)")
        case .cancelled: ProviderError(.unavailable, "The request to \(vendor) was cancelled.")
        case .invalidRequest: ProviderError(.rejected, "The request to \(vendor) could not be sent: \(error.message)")
        }
    }

    /// The error for a non-2xx response, or nil for a 2xx.
    func error(_ response: HTTPResponse, secret: String, now: Timestamp) -> ProviderError? {
        let status = response.status
        guard !(200..<300).contains(status) else { return nil }
        let (vendorCode, vendorMessage) = Self.vendorError(response.body, secret: secret)
        let detail = vendorMessage.map { ": \($0)" } ?? "."
        let retryAfter = response.header("Retry-After").flatMap { RetryAfter.parse($0, now: now) }
        switch status {
        case 429:
            return ProviderError(
                .rateLimited,
                "\(vendor) is rate limiting requests\(detail)",
                httpStatus: status,
                retryAfter: retryAfter,
                providerCode: vendorCode
            )
        case 404:
            return ProviderError(.notFound, "\(vendor) does not know the batch\(detail)", httpStatus: status, providerCode: vendorCode)
        case 500...599:
            return ProviderError(
                .unavailable,
                "\(vendor) is unavailable\(detail)",
                httpStatus: status,
                retryAfter: retryAfter,
                providerCode: vendorCode
            )
        case 400...499:
            return ProviderError(.rejected, "\(vendor) refused the request\(detail)", httpStatus: status, providerCode: vendorCode)
        default:
            return ProviderError(.badResponse, "\(vendor) answered with unexpected HTTP status \(status).", httpStatus: status)
        }
    }

    /// The vendor's error code and message from `{"error": {"code", "message"}}`, `{"error": "..."}`,
    /// `{"message": "..."}` or `{"detail": "..."}`, shortened, with `secret` masked should the vendor echo it.
    static func vendorError(_ body: [UInt8], secret: String) -> (code: String?, message: String?) {
        guard !body.isEmpty, let json = try? JSONDecoder().decode(JSONValue.self, from: Data(body)) else { return (nil, nil) }
        var code: String?
        var message: String?
        switch json["error"] {
        case .string(let text)?: message = text
        case .object(let fields)?:
            code = fields["code"]?.stringValue ?? fields["type"]?.stringValue
            message = fields["message"]?.stringValue ?? fields["detail"]?.stringValue
        default: break
        }
        message = message ?? json["message"]?.stringValue ?? json["detail"]?.stringValue
        code = code ?? json["code"]?.stringValue ?? json["error_code"]?.stringValue
        return (cleanText(code, secret: secret), cleanText(message, secret: secret))
    }

    /// Vendor text shortened to 300 characters, with `secret` masked; nil when empty.
    static func cleanText(_ text: String?, secret: String) -> String? {
        guard var text, !text.isEmpty else { return nil }
        if !secret.isEmpty { text = text.replacing(secret, with: "[redacted]") }
        return text.count > 300 ? String(text.prefix(300)) + "…" : text
    }

    /// An id as one URL path segment (RFC 3986 unreserved characters kept, the rest percent-encoded).
    static func pathSegment(_ id: String) -> String {
        let hex = Array("0123456789ABCDEF".unicodeScalars)
        var out = ""
        for byte in id.utf8 {
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
                UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"),
                UInt8(ascii: "~"):
                out.unicodeScalars.append(Unicode.Scalar(byte))
            default:
                out.unicodeScalars.append("%")
                out.unicodeScalars.append(hex[Int(byte >> 4)])
                out.unicodeScalars.append(hex[Int(byte & 0x0F)])
            }
        }
        return out
    }

    /// A decoding error as a short phrase naming the JSON path.
    static func describe(_ error: DecodingError) -> String {
        func path(_ context: DecodingError.Context) -> String {
            let keys = context.codingPath.map { $0.intValue.map { "[\($0)]" } ?? ".\($0.stringValue)" }.joined()
            return keys.isEmpty ? "the top level" : String(keys.dropFirst(keys.hasPrefix(".") ? 1 : 0))
        }
        switch error {
        case .typeMismatch(_, let context): return "wrong type at \(path(context))"
        case .valueNotFound(_, let context): return "missing value at \(path(context))"
        case .keyNotFound(let key, let context):
            let parent = path(context)
            return "missing `\(key.stringValue)`" + (parent == "the top level" ? "" : " in \(parent)")
        case .dataCorrupted(let context) where context.debugDescription.hasPrefix("expected a count"):
            return "\(context.debugDescription) at \(path(context))"
        case .dataCorrupted(let context): return "malformed JSON at \(path(context))"
        @unknown default: return "unreadable"
        }
    }
}
