// A client's webhook receiver for the end-to-end delivery benchmark: verifies each delivery's Standard
// Webhooks signature on its own (HMAC-SHA256 of "id.timestamp.body", not BatchGate's verifier), answers
// 204 when it verifies and 401 when it does not, and records when each one arrived.
// Usage: webhook-receiver <port> <whsec_ secret>
//   POST /hook       a delivery
//   GET  /receipts   one line per verified delivery: `<receipt ms> <batch id> <event type> <webhook-id> <delivery key>`
//   GET  /stats      `verified=<n> rejected=<n> repeated=<n>` (repeated: a webhook-id seen before)
import Crypto
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import Synchronization

/// What the receiver saw, and the key it checks signatures with.
final class Receiver: Sendable {
    struct Receipts {
        var lines: [String] = []
        var seen: Set<String> = []
        var rejected = 0
        var repeated = 0
    }

    /// The parts of a delivery body the receiver records.
    struct Delivery: Decodable {
        struct Batch: Decodable { var id: String }
        struct Key: Decodable { var key: String }
        var type: String
        var data: Batch
        var delivery: Key
    }

    let key: SymmetricKey
    let receipts = Mutex(Receipts())

    init(key: SymmetricKey) { self.key = key }

    /// Whether one of the space-separated `v1,<base64>` signatures is the HMAC of `id.timestamp.body`.
    func verifies(id: String, timestamp: String, signatures: String, body: ByteBuffer) -> Bool {
        var hmac = HMAC<SHA256>(key: key)
        hmac.update(data: Array("\(id).\(timestamp).".utf8))
        hmac.update(data: Array(body.readableBytesView))
        let expected = Array(hmac.finalize())
        for entry in signatures.split(separator: " ") where entry.hasPrefix("v1,") {
            if let given = Data(base64Encoded: String(entry.dropFirst(3))), given.count == expected.count,
                zip(given, expected).reduce(0, { $0 | ($1.0 ^ $1.1) }) == 0
            {
                return true
            }
        }
        return false
    }

    func receive(_ request: Request) async throws -> Response {
        var request = request
        let body = try await request.collectBody(upTo: 4 << 20)
        let arrived = Int64((Date().timeIntervalSince1970 * 1000).rounded(.down))
        let id = request.headers[HTTPField.Name("webhook-id")!] ?? ""
        let timestamp = request.headers[HTTPField.Name("webhook-timestamp")!] ?? ""
        let signatures = request.headers[HTTPField.Name("webhook-signature")!] ?? ""
        guard !id.isEmpty, verifies(id: id, timestamp: timestamp, signatures: signatures, body: body),
            let delivery = try? JSONDecoder().decode(Delivery.self, from: Data(body.readableBytesView))
        else {
            receipts.withLock { $0.rejected += 1 }
            return Response(status: .unauthorized)
        }
        receipts.withLock { receipts in
            if receipts.seen.insert(id).inserted {
                receipts.lines.append("\(arrived) \(delivery.data.id) \(delivery.type) \(id) \(delivery.delivery.key)")
            } else {
                receipts.repeated += 1
            }
        }
        return Response(status: .noContent)
    }
}

let arguments = CommandLine.arguments
guard arguments.count > 2, let port = Int(arguments[1]) else {
    print("usage: webhook-receiver <port> <whsec_ secret>")
    exit(2)
}
var encodedKey = arguments[2].hasPrefix("whsec_") ? String(arguments[2].dropFirst(6)) : arguments[2]
while encodedKey.utf8.count % 4 != 0 { encodedKey += "=" }
guard let keyData = Data(base64Encoded: encodedKey) else {
    print("the secret is not whsec_ followed by base64")
    exit(2)
}
let receiver = Receiver(key: SymmetricKey(data: keyData))

let router = Router()
router.post("/hook") { request, _ in try await receiver.receive(request) }
router.get("/receipts") { _, _ -> Response in
    let text = receiver.receipts.withLock { $0.lines.joined(separator: "\n") + ($0.lines.isEmpty ? "" : "\n") }
    return Response(status: .ok, headers: [.contentType: "text/plain"], body: .init(byteBuffer: ByteBuffer(string: text)))
}
router.get("/stats") { _, _ -> String in
    receiver.receipts.withLock { "verified=\($0.lines.count) rejected=\($0.rejected) repeated=\($0.repeated)\n" }
}
var logger = Logger(label: "webhook-receiver")
logger.logLevel = .warning
let app = Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: port)), logger: logger)
print("webhook receiver listening on 127.0.0.1:\(port)")
fflush(nil)
try await app.runService()
