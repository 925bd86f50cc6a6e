public import BatchGateCore
import Crypto

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// A Standard Webhooks signing secret: `whsec_` followed by the base64 of 24 to 64 random bytes.
///
/// Its `description` is redacted, so a secret can be logged or interpolated by mistake without leaking;
/// `encoded` gives the `whsec_…` text to store or show the client once.
public struct WebhookSecret: Sendable, Hashable, CustomStringConvertible, CustomDebugStringConvertible {
    /// The prefix every encoded secret carries.
    public static let prefix = "whsec_"
    /// Fewest key bytes accepted (the Standard Webhooks minimum).
    public static let minimumByteCount = 24
    /// Most key bytes accepted (the Standard Webhooks maximum).
    public static let maximumByteCount = 64

    /// The HMAC key.
    public let keyBytes: [UInt8]

    /// Parses `whsec_<base64>`; the prefix may be omitted and missing base64 padding is tolerated,
    /// as the Standard Webhooks libraries do.
    ///
    /// Throws `GatewayError.invalid(field, …)` naming what is wrong; the message never repeats the secret.
    public init(parsing text: String, field: String = "webhook.secret") throws(GatewayError) {
        var body = Substring(text)
        if body.hasPrefix(Self.prefix) { body = body.dropFirst(Self.prefix.count) }
        guard !body.isEmpty else {
            throw .invalid(field, "The webhook secret is empty; expected whsec_ followed by base64 of 24 to 64 random bytes.")
        }
        var base64 = String(body)
        if base64.utf8.count % 4 != 0 {
            base64 += String(repeating: "=", count: 4 - base64.utf8.count % 4)
        }
        guard let data = Data(base64Encoded: base64) else {
            throw .invalid(field, "The webhook secret is not valid base64 after the whsec_ prefix.")
        }
        let bytes = [UInt8](data)
        guard (Self.minimumByteCount...Self.maximumByteCount).contains(bytes.count) else {
            throw .invalid(
                field,
                "The webhook secret decodes to \(bytes.count) bytes; it must be \(Self.minimumByteCount) to \(Self.maximumByteCount) random bytes."
            )
        }
        self.keyBytes = bytes
    }

    /// A secret with the given key bytes. The count must be 24–64 (checked with a precondition).
    public init(keyBytes: [UInt8]) {
        precondition(
            (Self.minimumByteCount...Self.maximumByteCount).contains(keyBytes.count),
            "a webhook secret needs \(Self.minimumByteCount) to \(Self.maximumByteCount) bytes"
        )
        self.keyBytes = keyBytes
    }

    /// A new secret of `byteCount` cryptographically random bytes (24–32 are typical; 32 by default).
    public static func generate(byteCount: Int = 32) -> WebhookSecret {
        let key = SymmetricKey(size: SymmetricKeySize(bitCount: byteCount * 8))
        return WebhookSecret(keyBytes: key.withUnsafeBytes { [UInt8]($0) })
    }

    /// The `whsec_<base64>` text. This is the secret itself: never log it.
    public var encoded: String { Self.prefix + Data(keyBytes).base64EncodedString() }

    /// Always `whsec_***`.
    public var description: String { "whsec_***" }

    /// Always `whsec_***`.
    public var debugDescription: String { description }
}
