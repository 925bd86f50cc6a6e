import BatchGateCore
import BatchGateTestSupport
import Foundation
import Testing

@testable import BatchGateWebhooks

/// The published Standard Webhooks test vector (standard-webhooks repository, libraries' `sign` tests).
private enum SpecVector {
    static let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    static let id = "msg_p5jXN8AQM9LWM0D4loKWxJek"
    static let timestamp: Int64 = 1_614_265_330
    static let payload = Array(#"{"test": 2432232314}"#.utf8)
    static let signature = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
    static let signedAt = Timestamp(milliseconds: timestamp * 1000)
}

@Suite struct WebhookSignerTests {
    private func signer(_ text: String = SpecVector.secret) throws -> WebhookSigner {
        WebhookSigner(secret: try WebhookSecret(parsing: text))
    }

    @Test func signsTheSpecVector() throws {
        let signature = try signer().sign(id: SpecVector.id, timestamp: SpecVector.timestamp, body: SpecVector.payload)
        #expect(signature == SpecVector.signature)
    }

    @Test func verifiesTheSpecVector() throws {
        try signer().verify(
            id: SpecVector.id,
            timestamp: String(SpecVector.timestamp),
            body: SpecVector.payload,
            signatureHeader: SpecVector.signature,
            now: SpecVector.signedAt
        )
    }

    @Test func secretWithoutPrefixIsTheSameKey() throws {
        let bare = try WebhookSecret(parsing: String(SpecVector.secret.dropFirst(6)))
        #expect(bare == (try WebhookSecret(parsing: SpecVector.secret)))
    }

    @Test func headersCarryIdTimestampAndSignature() throws {
        let headers = try signer().headers(id: SpecVector.id, timestamp: SpecVector.timestamp, body: SpecVector.payload)
        #expect(headers.map(\.name) == ["webhook-id", "webhook-timestamp", "webhook-signature"])
        #expect(headers.map(\.value) == [SpecVector.id, "1614265330", SpecVector.signature])
        try signer().verify(headers: headers, body: SpecVector.payload, now: SpecVector.signedAt)
    }

    @Test func headerNamesMatchCaseInsensitively() throws {
        let headers: [(name: String, value: String)] = [
            ("Webhook-Id", SpecVector.id), ("WEBHOOK-TIMESTAMP", "1614265330"), ("Webhook-Signature", SpecVector.signature),
        ]
        try signer().verify(headers: headers, body: SpecVector.payload, now: SpecVector.signedAt)
    }

    @Test func acceptsAnyMatchingEntryOfASignatureList() throws {
        let list = [
            "v1,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc=", "v2,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc=",
            "garbage", SpecVector.signature, "v1a,abc",
        ].joined(separator: " ")
        try signer().verify(
            id: SpecVector.id,
            timestamp: String(SpecVector.timestamp),
            body: SpecVector.payload,
            signatureHeader: list,
            now: SpecVector.signedAt
        )
    }

    struct Rejection: Sendable, CustomStringConvertible {
        var name: String
        var id = SpecVector.id
        var timestamp = String(SpecVector.timestamp)
        var body = SpecVector.payload
        var signature = SpecVector.signature
        var now = SpecVector.signedAt
        var code: WebhookVerificationError.Code
        var description: String { name }
    }

    @Test(arguments: [
        Rejection(name: "one flipped bit", signature: "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OA=", code: .noMatchingSignature),
        Rejection(name: "tampered body", body: Array(#"{"test": 2432232315}"#.utf8), code: .noMatchingSignature),
        Rejection(name: "other id", id: "msg_other", code: .noMatchingSignature),
        Rejection(name: "other timestamp inside the window", timestamp: "1614265331", code: .noMatchingSignature),
        Rejection(name: "only other versions", signature: "v2,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=", code: .noMatchingSignature),
        Rejection(name: "missing id", id: "", code: .missingHeader),
        Rejection(name: "missing signature", signature: "", code: .missingHeader),
        Rejection(name: "missing timestamp", timestamp: "", code: .missingHeader),
        Rejection(name: "non-numeric timestamp", timestamp: "hello", code: .invalidTimestamp),
        Rejection(name: "fractional timestamp", timestamp: "1614265330.5", code: .invalidTimestamp),
        Rejection(
            name: "five minutes and a second old",
            now: SpecVector.signedAt.adding(.seconds(301)),
            code: .timestampTooOld
        ),
        Rejection(
            name: "five minutes and a second early",
            now: SpecVector.signedAt.adding(.seconds(-301)),
            code: .timestampTooNew
        ),
    ])
    func rejects(_ case: Rejection) throws {
        let error = #expect(throws: WebhookVerificationError.self) {
            try signer().verify(
                id: `case`.id,
                timestamp: `case`.timestamp,
                body: `case`.body,
                signatureHeader: `case`.signature,
                now: `case`.now
            )
        }
        #expect(error?.code == `case`.code)
        #expect(error?.message.contains("MfKQ9r8") == false)
    }

    @Test(arguments: [-300, 0, 300])
    func acceptsTheEdgesOfTheTolerance(offsetSeconds: Int) throws {
        try signer().verify(
            id: SpecVector.id,
            timestamp: String(SpecVector.timestamp),
            body: SpecVector.payload,
            signatureHeader: SpecVector.signature,
            now: SpecVector.signedAt.adding(.seconds(offsetSeconds))
        )
    }

    @Test func generatedSecretsAreRandomAndRoundTrip() throws {
        let first = WebhookSecret.generate()
        let second = WebhookSecret.generate()
        #expect(first != second)
        #expect(first.keyBytes.count == 32)
        #expect(first.encoded.hasPrefix("whsec_"))
        #expect(try WebhookSecret(parsing: first.encoded) == first)
        #expect(WebhookSecret.generate(byteCount: 24).keyBytes.count == 24)
        #expect("\(first)" == "whsec_***")
        #expect(String(reflecting: first) == "whsec_***")
    }

    @Test(arguments: [
        ("", "empty"),
        ("whsec_", "empty"),
        ("whsec_!!!not-base64!!!", "not valid base64"),
        ("whsec_" + Data(repeating: 7, count: 16).base64EncodedString(), "decodes to 16 bytes"),
        ("whsec_" + Data(repeating: 7, count: 65).base64EncodedString(), "decodes to 65 bytes"),
    ])
    func refusesBadSecrets(text: String, reason: String) {
        let error = #expect(throws: GatewayError.self) { try WebhookSecret(parsing: text) }
        #expect(error?.field == "webhook.secret")
        #expect(error?.message.contains(reason) == true, "\(error?.message ?? "")")
    }

    @Test func unpaddedBase64IsAccepted() throws {
        let key = [UInt8](repeating: 0xAB, count: 25)
        let padded = Data(key).base64EncodedString()
        #expect(padded.hasSuffix("="))
        let unpadded = padded.trimmingCharacters(in: CharacterSet(charactersIn: "="))
        #expect(try WebhookSecret(parsing: "whsec_" + unpadded).keyBytes == key)
    }

    /// A verifier written independently, with only Python's standard library, checks our signatures.
    @Test func anIndependentPythonVerifierAcceptsOurSignatures() throws {
        let secret = WebhookSecret.generate()
        let body = Array(#"{"id":"evt_1","type":"batch.completed","data":{"name":"caf\#u{e9} \#u{1F680}"}}"#.utf8)
        let timestamp = Int64(Date().timeIntervalSince1970)
        let signature = WebhookSigner(secret: secret).sign(id: "evt_01PYTHON", timestamp: timestamp, body: body)

        let good = try runPythonVerifier(
            secret: secret.encoded,
            id: "evt_01PYTHON",
            timestamp: timestamp,
            body: body,
            signature: signature
        )
        #expect(good.status == 0, "python said: \(good.output)")
        #expect(good.output.contains("valid"))

        var tampered = body
        tampered[tampered.count - 2] ^= 0x01
        let bad = try runPythonVerifier(
            secret: secret.encoded,
            id: "evt_01PYTHON",
            timestamp: timestamp,
            body: tampered,
            signature: signature
        )
        #expect(bad.status == 1, "python said: \(bad.output)")

        let vector = try runPythonVerifier(
            secret: SpecVector.secret,
            id: SpecVector.id,
            timestamp: SpecVector.timestamp,
            body: SpecVector.payload,
            signature: SpecVector.signature
        )
        #expect(vector.status == 0, "python said: \(vector.output)")
    }
}

/// Runs `python3` with a stdlib-only Standard Webhooks verifier; the body goes through stdin.
func runPythonVerifier(
    secret: String,
    id: String,
    timestamp: Int64,
    body: [UInt8],
    signature: String
) throws -> (status: Int32, output: String) {
    let script = #"""
        import base64, hashlib, hmac, sys
        secret, msg_id, ts, header = sys.argv[1:5]
        if secret.startswith("whsec_"):
            secret = secret[len("whsec_"):]
        key = base64.b64decode(secret + "=" * (-len(secret) % 4))
        body = sys.stdin.buffer.read()
        expected = hmac.new(key, msg_id.encode() + b"." + ts.encode() + b"." + body, hashlib.sha256).digest()
        for entry in header.split(" "):
            version, _, value = entry.partition(",")
            if version == "v1" and hmac.compare_digest(base64.b64decode(value), expected):
                print("valid")
                sys.exit(0)
        print("no matching signature")
        sys.exit(1)
        """#
    let process = try ChildProcess(
        executable: "/usr/bin/env",
        arguments: ["python3", "-c", script, secret, id, String(timestamp), signature],
        environment: ["PATH": "/usr/bin:/bin"],
        standardInput: body
    )
    let status = process.waitUntilExit()
    let (stdout, stderr) = process.output()
    return ((status >> 8) & 0xff, stdout + stderr)
}
