import BatchGateCore
import Hummingbird
import Testing

@testable import BatchGateTransport

@Suite(.timeLimit(.minutes(1)))
struct CurlStreamTests {
    func streamingRouter() -> Router<PortContext> {
        let router = Router(context: PortContext.self)
        router.get("/drip") { _, _ -> Response in
            Response(
                status: .ok,
                headers: [.contentType: "text/event-stream"],
                body: ResponseBody { writer in
                    for part in ["one ", "two ", "three"] {
                        try await writer.write(ByteBuffer(string: part))
                        try await Task.sleep(for: .milliseconds(30))
                    }
                    try await writer.finish(nil)
                }
            )
        }
        router.get("/forever") { _, _ -> Response in
            Response(
                status: .ok,
                body: ResponseBody { writer in
                    while true {
                        try await writer.write(ByteBuffer(string: "tick\n"))
                        try await Task.sleep(for: .milliseconds(20))
                    }
                }
            )
        }
        router.get("/empty") { _, _ -> Response in Response(status: .noContent) }
        return router
    }

    @Test func headFirstThenChunksAsTheyArrive() async throws {
        try await withTestServer(streamingRouter()) { port in
            try await CurlHTTPClient.withClient { client in
                let (status, contentType, chunks) = try await client.stream(BatchGateCore.HTTPRequest(url: "http://127.0.0.1:\(port)/drip")) {
                    parts in
                    var status = 0
                    var contentType: String?
                    var chunks: [String] = []
                    for try await part in parts {
                        switch part {
                        case .head(let code, let headers):
                            #expect(chunks.isEmpty && status == 0, "the head comes once, first")
                            status = code
                            contentType = headers.first { $0.name.lowercased() == "content-type" }?.value
                        case .body(let bytes):
                            chunks.append(String(decoding: bytes, as: UTF8.self))
                        }
                    }
                    return (status, contentType, chunks)
                }
                #expect(status == 200)
                #expect(contentType == "text/event-stream")
                #expect(chunks.joined() == "one two three")
                #expect(chunks.count >= 2, "chunks arrive as they are written: \(chunks)")
            }
        }
    }

    @Test func aResponseWithoutBodyStillHasItsHead() async throws {
        try await withTestServer(streamingRouter()) { port in
            try await CurlHTTPClient.withClient { client in
                let parts = try await client.stream(BatchGateCore.HTTPRequest(url: "http://127.0.0.1:\(port)/empty")) { parts in
                    var seen: [Int] = []
                    for try await case .head(let status, _) in parts { seen.append(status) }
                    return seen
                }
                #expect(parts == [204])
            }
        }
    }

    @Test func returningEarlyAbortsTheTransfer() async throws {
        try await withTestServer(streamingRouter()) { port in
            try await CurlHTTPClient.withClient { client in
                let first = try await client.stream(BatchGateCore.HTTPRequest(url: "http://127.0.0.1:\(port)/forever", timeout: .seconds(30))) {
                    parts in
                    for try await case .body(let bytes) in parts { return String(decoding: bytes, as: UTF8.self) }
                    return ""
                }
                #expect(first.hasPrefix("tick"))
                try await waitUntil("the transfer left the multi handle") { client.activeTransferCount == 0 }
                // The client still works for whole responses.
                let echo = try await client.send(BatchGateCore.HTTPRequest(url: "http://127.0.0.1:\(port)/empty"))
                #expect(echo.status == 204)
            }
        }
    }

    @Test func connectionFailureIsThrown() async throws {
        let port = try closedLoopbackPort()
        _ = try await CurlHTTPClient.withClient { client in
            await #expect(throws: TransportError.self) {
                try await client.stream(BatchGateCore.HTTPRequest(url: "http://127.0.0.1:\(port)/", timeout: .seconds(5))) { parts in
                    for try await _ in parts {}
                }
            }
        }
    }
}
