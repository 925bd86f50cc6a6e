// The yardstick for BatchGate's benchmarks: a bare Hummingbird endpoint doing no work of its own.
// Usage: bare-endpoint <port> [<body bytes> | <body file>]
//   GET /fixed   answers a fixed JSON body: the file's bytes, or a JSON object padded to that many bytes
//                (default: a small batch-like object), so it can match the size of the body it stands for.
//   POST /fixed  reads the whole request body (up to 1 MiB) and answers a small JSON object the size of
//                the gateway's answer to an inbound vendor webhook.
import Foundation
import Hummingbird
import Logging

let arguments = CommandLine.arguments
let port = arguments.count > 1 ? Int(arguments[1]) ?? 8090 : 8090
let small = #"{"id":"bat_01JD0000000000000000000000","object":"batch","lifecycle_status":"running"}"#

func fixedBody(_ argument: String?) throws -> [UInt8] {
    guard let argument else { return Array(small.utf8) }
    if let size = Int(argument) {
        // A JSON object of exactly `size` bytes (at least `{"pad":""}`).
        let padding = max(0, size - #"{"pad":""}"#.utf8.count)
        return Array(#"{"pad":""#.utf8) + Array(repeating: UInt8(ascii: "x"), count: padding) + Array(#""}"#.utf8)
    }
    return Array(try Data(contentsOf: URL(fileURLWithPath: argument)))
}

let body = ByteBuffer(bytes: try fixedBody(arguments.count > 2 ? arguments[2] : nil))
let received = ByteBuffer(string: #"{"received":true,"outcome":"applied"}"#)
let router = Router()
router.get("/fixed") { _, _ in
    Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: body))
}
router.post("/fixed") { request, _ in
    var request = request
    _ = try await request.collectBody(upTo: 1 << 20)
    return Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: received))
}
var logger = Logger(label: "bare-endpoint")
logger.logLevel = .warning
let app = Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: port)), logger: logger)
print("bare endpoint listening on 127.0.0.1:\(port), GET body \(body.readableBytes) bytes")
fflush(nil)
try await app.runService()
