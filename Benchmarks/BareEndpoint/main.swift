// The yardstick for BatchGate's read path: a bare Hummingbird endpoint returning a fixed body.
// Usage: bare-endpoint <port>
import Hummingbird
import Logging

let port = CommandLine.arguments.count > 1 ? Int(CommandLine.arguments[1]) ?? 8090 : 8090
let router = Router()
let body = ByteBuffer(string: #"{"id":"bat_01JD0000000000000000000000","object":"batch","lifecycle_status":"running"}"#)
router.get("/fixed") { _, _ in
    Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: body))
}
var logger = Logger(label: "bare-endpoint")
logger.logLevel = .warning
let app = Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: port)), logger: logger)
try await app.runService()
