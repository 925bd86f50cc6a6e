import BatchGateCore
import Crypto
import Foundation

/// Sessions of the operator page: a signed cookie names the tenant and the API key it signed in with,
/// so no session table is needed and every replica sharing `providers.yaml` accepts it.
///
/// The cookie is `v1.<tenant, base64url>.<key tag>.<expiry, unix seconds>.<HMAC-SHA256, base64url>`. The
/// key tag is the first 16 hex digits of the API key's SHA-256, checked against the configured keys on
/// every request: removing a key from `auth.api_keys` ends its sessions. The HMAC key is derived from
/// every configured API key, so a tenant cannot make a cookie for another tenant without its key.
/// Forms carry a CSRF token, an HMAC of the session cookie under the same key.
struct UISessions: Sendable {
    static let cookieName = "batchgate_session"
    /// The sign-in form's own CSRF cookie (double submit): the form's hidden field must match it.
    static let signInCookieName = "batchgate_sign_in"
    static let lifetime: Int64 = 12 * 3600

    struct Session: Sendable {
        var tenant: String
        /// The cookie's value; the CSRF token is derived from it.
        var cookie: String
    }

    private let key: SymmetricKey
    /// Key tag → tenant, for every configured API key.
    private let tenantsByTag: [String: String]
    /// API key → tenant.
    private let tenantsByKey: [String: String]

    init(apiKeys: [String: String]) {
        var hasher = SHA256()
        hasher.update(data: Array("batchgate operator page sessions v1".utf8))
        for key in apiKeys.keys.sorted() {
            hasher.update(data: Array(key.utf8))
            hasher.update(data: [0])
        }
        key = SymmetricKey(data: hasher.finalize())
        tenantsByKey = apiKeys
        tenantsByTag = Dictionary(apiKeys.map { (Self.tag($0.key), $0.value) }, uniquingKeysWith: { a, _ in a })
    }

    /// Whether a sign-in form cookie is one this gateway could have made (`Identifier.secret()`: hex), so
    /// it can be sent back unchanged.
    static func isSignInToken(_ value: String) -> Bool {
        (16...128).contains(value.utf8.count) && value.utf8.allSatisfy { ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x61 && $0 <= 0x66) }
    }

    static func tag(_ apiKey: String) -> String {
        SHA256.hash(data: Array(apiKey.utf8)).prefix(8).map { String(format: "%02x", $0) }.joined()
    }

    /// A new session for an API key, or nil when the key is not configured.
    func signIn(apiKey: String, now: Timestamp) -> Session? {
        guard let tenant = tenantsByKey[apiKey] else { return nil }
        let expires = now.milliseconds / 1000 + Self.lifetime
        let payload = "v1.\(Self.base64URL(Array(tenant.utf8))).\(Self.tag(apiKey)).\(expires)"
        return Session(tenant: tenant, cookie: payload + "." + mac(payload))
    }

    /// The session a cookie value stands for, if it is well formed, signed by this gateway, not expired,
    /// and its API key is still configured for its tenant.
    func session(cookie: String?, now: Timestamp) -> Session? {
        guard let cookie, cookie.utf8.count <= 512 else { return nil }
        let parts = cookie.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 5, parts[0] == "v1", let expires = Int64(parts[3]), expires > now.milliseconds / 1000,
            let signature = Self.unbase64URL(parts[4]), let tenantBytes = Self.unbase64URL(parts[1])
        else { return nil }
        let payload = parts[0..<4].joined(separator: ".")
        guard HMAC<SHA256>.isValidAuthenticationCode(signature, authenticating: Array(payload.utf8), using: key) else { return nil }
        let tenant = String(decoding: tenantBytes, as: UTF8.self)
        guard tenantsByTag[String(parts[2])] == tenant else { return nil }
        return Session(tenant: tenant, cookie: cookie)
    }

    /// The CSRF token of a session's forms.
    func csrfToken(_ session: Session) -> String { mac("csrf." + session.cookie) }

    /// Whether a form's token is the session's.
    func checkCSRF(_ token: String?, _ session: Session) -> Bool {
        guard let token, let bytes = Self.unbase64URL(Substring(token)) else { return false }
        return HMAC<SHA256>.isValidAuthenticationCode(bytes, authenticating: Array(("csrf." + session.cookie).utf8), using: key)
    }

    private func mac(_ text: String) -> String {
        Self.base64URL(Array(HMAC<SHA256>.authenticationCode(for: Array(text.utf8), using: key)))
    }

    static func base64URL(_ bytes: [UInt8]) -> String {
        Data(bytes).base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }

    static func unbase64URL(_ text: Substring) -> [UInt8]? {
        guard text.utf8.count <= 512 else { return nil }
        var base64 = text.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while base64.utf8.count % 4 != 0 { base64 += "=" }
        return Data(base64Encoded: base64).map { Array($0) }
    }
}
