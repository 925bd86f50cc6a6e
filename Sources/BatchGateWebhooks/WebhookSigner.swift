public import BatchGateCore
import Crypto

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Signs and verifies webhook bodies per the Standard Webhooks specification (symmetric `v1` scheme).
///
/// The signed content is `"<webhook-id>.<webhook-timestamp>.<body>"`, the signature is
/// `v1,<base64 of HMAC-SHA256>`, and the three headers are `webhook-id`, `webhook-timestamp`
/// (unix seconds) and `webhook-signature`. Any Standard Webhooks library verifies what this signs.
public struct WebhookSigner: Sendable {
    /// Header carrying the event id (the same for every attempt of one event).
    public static let idHeader = "webhook-id"
    /// Header carrying the send time in unix seconds.
    public static let timestampHeader = "webhook-timestamp"
    /// Header carrying one or more space-separated `v1,<base64>` signatures.
    public static let signatureHeader = "webhook-signature"
    /// The replay window the specification recommends.
    public static let defaultTolerance: Duration = .seconds(300)

    private let key: SymmetricKey

    /// A signer for one secret.
    public init(secret: WebhookSecret) {
        self.key = SymmetricKey(data: secret.keyBytes)
    }

    /// The `webhook-signature` value for one message: `v1,<base64 HMAC-SHA256 of "id.timestamp.body">`.
    public func sign(id: String, timestamp: Int64, body: [UInt8]) -> String {
        "v1," + Data(mac(id: id, timestamp: String(timestamp), body: body)).base64EncodedString()
    }

    /// The three signing headers for one message, in the order they are sent.
    public func headers(id: String, timestamp: Int64, body: [UInt8]) -> [(name: String, value: String)] {
        [
            (Self.idHeader, id),
            (Self.timestampHeader, String(timestamp)),
            (Self.signatureHeader, sign(id: id, timestamp: timestamp, body: body)),
        ]
    }

    /// Checks a received message: the timestamp is within `tolerance` of `now` and at least one `v1`
    /// entry of the space-separated `signatureHeader` matches (compared in constant time).
    ///
    /// Entries of other versions and malformed entries are skipped, so a list may carry signatures
    /// made with several secrets during a rotation.
    public func verify(
        id: String,
        timestamp: String,
        body: [UInt8],
        signatureHeader: String,
        tolerance: Duration = WebhookSigner.defaultTolerance,
        now: Timestamp = .now()
    ) throws(WebhookVerificationError) {
        guard !id.isEmpty else { throw .missingHeader(Self.idHeader) }
        guard !timestamp.isEmpty else { throw .missingHeader(Self.timestampHeader) }
        guard !signatureHeader.isEmpty else { throw .missingHeader(Self.signatureHeader) }
        guard timestamp.utf8.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }),
            timestamp.utf8.count <= 12, let seconds = Int64(timestamp)
        else {
            throw WebhookVerificationError(
                code: .invalidTimestamp,
                message: "webhook-timestamp must be unix seconds (digits only).",
                field: Self.timestampHeader
            )
        }
        let skewMilliseconds = now.milliseconds - seconds * 1000
        if skewMilliseconds > tolerance.milliseconds {
            throw WebhookVerificationError(
                code: .timestampTooOld,
                message: "webhook-timestamp is \(skewMilliseconds / 1000)s in the past; the tolerance is \(tolerance.milliseconds / 1000)s.",
                field: Self.timestampHeader
            )
        }
        if -skewMilliseconds > tolerance.milliseconds {
            throw WebhookVerificationError(
                code: .timestampTooNew,
                message: "webhook-timestamp is \(-skewMilliseconds / 1000)s in the future; the tolerance is \(tolerance.milliseconds / 1000)s.",
                field: Self.timestampHeader
            )
        }
        let signed = signedContent(id: id, timestamp: timestamp, body: body)
        for entry in signatureHeader.split(separator: " ", omittingEmptySubsequences: true) {
            guard let comma = entry.firstIndex(of: ","), entry[..<comma] == "v1",
                let data = Data(base64Encoded: String(entry[entry.index(after: comma)...]))
            else { continue }
            if HMAC<SHA256>.isValidAuthenticationCode(data, authenticating: signed, using: key) {
                return
            }
        }
        throw WebhookVerificationError(
            code: .noMatchingSignature,
            message: "No v1 signature in webhook-signature matches the body.",
            field: Self.signatureHeader
        )
    }

    /// Checks a received message from its headers (names matched case-insensitively).
    public func verify(
        headers: [(name: String, value: String)],
        body: [UInt8],
        tolerance: Duration = WebhookSigner.defaultTolerance,
        now: Timestamp = .now()
    ) throws(WebhookVerificationError) {
        func value(_ name: String) -> String {
            headers.first { $0.name.lowercased() == name }?.value ?? ""
        }
        try verify(
            id: value(Self.idHeader),
            timestamp: value(Self.timestampHeader),
            body: body,
            signatureHeader: value(Self.signatureHeader),
            tolerance: tolerance,
            now: now
        )
    }

    private func signedContent(id: String, timestamp: String, body: [UInt8]) -> [UInt8] {
        var content = [UInt8]()
        content.reserveCapacity(id.utf8.count + timestamp.utf8.count + body.count + 2)
        content.append(contentsOf: id.utf8)
        content.append(UInt8(ascii: "."))
        content.append(contentsOf: timestamp.utf8)
        content.append(UInt8(ascii: "."))
        content.append(contentsOf: body)
        return content
    }

    private func mac(id: String, timestamp: String, body: [UInt8]) -> [UInt8] {
        Array(HMAC<SHA256>.authenticationCode(for: signedContent(id: id, timestamp: timestamp, body: body), using: key))
    }
}

/// Why a received webhook did not verify.
public struct WebhookVerificationError: Error, Sendable, Hashable, CustomStringConvertible {
    /// Stable reasons.
    public enum Code: String, Sendable, Hashable {
        case missingHeader = "missing_header"
        case invalidTimestamp = "invalid_timestamp"
        case timestampTooOld = "timestamp_too_old"
        case timestampTooNew = "timestamp_too_new"
        case noMatchingSignature = "no_matching_signature"
    }

    /// The stable reason.
    public var code: Code
    /// For humans; never contains the secret or a signature.
    public var message: String
    /// The header at fault.
    public var field: String?

    /// An error with its reason, message and header.
    public init(code: Code, message: String, field: String?) {
        self.code = code
        self.message = message
        self.field = field
    }

    static func missingHeader(_ name: String) -> WebhookVerificationError {
        WebhookVerificationError(code: .missingHeader, message: "The \(name) header is missing or empty.", field: name)
    }

    /// `code at field: message`.
    public var description: String {
        field.map { "\(code.rawValue) at \($0): \(message)" } ?? "\(code.rawValue): \(message)"
    }
}
