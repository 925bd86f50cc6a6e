import BatchGateCore
import HTTPTypes
import Hummingbird
import ServiceLifecycle
import Testing

@testable import BatchGateTransport

/// The loopback server every client test talks to.
func makeRouter(slowArrivals: Counter = Counter(), ports: Recorder<Int> = Recorder()) -> Router<PortContext> {
    let router = Router(context: PortContext.self)
    router.get("/echo") { request, _ -> Response in
        let value = request.uri.queryParameters.get("value") ?? ""
        return Response(
            status: .ok,
            headers: [HTTPField.Name("X-Echo")!: value],
            body: ResponseBody(byteBuffer: ByteBuffer(string: value))
        )
    }
    let inspect: @Sendable (Request, PortContext) async throws -> Response = { request, _ in
        let body = try await request.body.collect(upTo: 1 << 20)
        var headers = HTTPFields()
        headers[HTTPField.Name("X-Seen-Method")!] = request.method.rawValue
        for name in ["X-Custom", "X-Empty", "Content-Type", "Expect", "User-Agent", "Content-Length"] {
            if let value = request.headers[HTTPField.Name(name)!] {
                headers[HTTPField.Name("X-Seen-\(name)")!] = value.isEmpty ? "(empty)" : value
            }
        }
        return Response(status: .ok, headers: headers, body: ResponseBody(byteBuffer: body))
    }
    for method in [HTTPRequest.Method.post, .put, .patch, .delete] {
        router.on("/inspect", method: method, use: inspect)
    }
    router.get("/retry") { _, _ -> Response in
        var headers = HTTPFields()
        headers[HTTPField.Name("Retry-After")!] = "7"
        headers.append(HTTPField(name: HTTPField.Name("X-Multi")!, value: "first"))
        headers.append(HTTPField(name: HTTPField.Name("X-Multi")!, value: "second"))
        return Response(status: .serviceUnavailable, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(string: "busy")))
    }
    router.get("/redirect") { _, _ -> Response in
        Response(status: .found, headers: [.location: "/echo?value=followed"])
    }
    router.get("/slow") { _, _ -> Response in
        slowArrivals.increment()
        // Simulates a stalled upstream, until the server shuts down gracefully.
        try await cancelWhenGracefulShutdown { try await Task.sleep(for: .seconds(30)) }
        return Response(status: .ok)
    }
    router.get("/bytes") { request, _ -> Response in
        let count = request.uri.queryParameters.get("count", as: Int.self) ?? 0
        let bytes = ByteBuffer(repeating: UInt8(ascii: "x"), count: count)
        if request.uri.queryParameters.get("chunked") != nil {
            return Response(
                status: .ok,
                body: ResponseBody { writer in
                    var remaining = bytes
                    while let chunk = remaining.readSlice(length: min(1024, remaining.readableBytes)),
                        chunk.readableBytes > 0
                    {
                        try await writer.write(chunk)
                    }
                    try await writer.finish(nil)
                }
            )
        }
        return Response(status: .ok, body: ResponseBody(byteBuffer: bytes))
    }
    router.get("/port") { _, context -> Response in
        ports.record(context.remotePort ?? -1)
        return Response(status: .ok)
    }
    return router
}

private func string(_ bytes: [UInt8]) -> String { String(decoding: bytes, as: UTF8.self) }

private func expectTransportError(
    _ code: TransportError.Code,
    _ operation: () async throws(TransportError) -> ClientResponse,
    sourceLocation: SourceLocation = #_sourceLocation
) async -> TransportError? {
    do {
        let response = try await operation()
        Issue.record("expected \(code), got HTTP \(response.status)", sourceLocation: sourceLocation)
        return nil
    } catch {
        #expect(error.code == code, "\(error)", sourceLocation: sourceLocation)
        return error
    }
}

@Suite("CurlHTTPClient against loopback servers", .serialized, .timeLimit(.minutes(1)))
struct CurlHTTPClientTests {
    @Test("200 concurrent requests each get their own response")
    func concurrentRequests() async throws {
        try await withTestServer(makeRouter()) { port in
            try await CurlHTTPClient.withClient(logger: quietLogger) { client in
                try await withThrowingTaskGroup(of: (Int, ClientResponse).self) { group in
                    for index in 0..<200 {
                        group.addTask {
                            let request = OutgoingRequest(url: "http://127.0.0.1:\(port)/echo?value=v\(index)")
                            return (index, try await client.send(request))
                        }
                    }
                    var seen = Set<Int>()
                    for try await (index, response) in group {
                        #expect(response.status == 200)
                        #expect(string(response.body) == "v\(index)")
                        #expect(response.header("x-echo") == "v\(index)")
                        seen.insert(index)
                    }
                    #expect(seen.count == 200)
                }
            }
        }
    }

    @Test("a POST body and custom headers arrive unchanged")
    func postBodyAndHeaders() async throws {
        try await withTestServer(makeRouter()) { port in
            try await CurlHTTPClient.withClient(logger: quietLogger) { client in
                let body = Array("{\"hello\":\"wörld\"}".utf8) + [UInt8](repeating: 0x41, count: 4000)
                let response = try await client.send(
                    OutgoingRequest(
                        method: "POST",
                        url: "http://127.0.0.1:\(port)/inspect",
                        headers: [("X-Custom", "abc 123"), ("Content-Type", "application/json"), ("X-Empty", "")],
                        body: body
                    )
                )
                #expect(response.status == 200)
                #expect(response.body == body)
                #expect(response.header("X-Seen-Method") == "POST")
                #expect(response.header("X-Seen-X-Custom") == "abc 123")
                #expect(response.header("X-Seen-X-Empty") == "(empty)")
                #expect(response.header("X-Seen-Content-Type") == "application/json")
                #expect(response.header("X-Seen-Content-Length") == "\(body.count)")
                #expect(response.header("X-Seen-User-Agent") == "BatchGate/1.0")
                // libcurl's own defaults for POST are switched off.
                #expect(response.header("X-Seen-Expect") == nil)

                let put = try await client.send(
                    OutgoingRequest(method: "PUT", url: "http://127.0.0.1:\(port)/inspect", body: [1, 2, 3])
                )
                #expect(put.header("X-Seen-Method") == "PUT")
                #expect(put.body == [1, 2, 3])

                let delete = try await client.send(
                    OutgoingRequest(method: "DELETE", url: "http://127.0.0.1:\(port)/inspect")
                )
                #expect(delete.header("X-Seen-Method") == "DELETE")
                #expect(delete.body.isEmpty)

                let empty = try await client.send(
                    OutgoingRequest(method: "POST", url: "http://127.0.0.1:\(port)/inspect")
                )
                #expect(empty.status == 200)
                #expect(empty.body.isEmpty)
                #expect(empty.header("X-Seen-Content-Length") == "0")
                #expect(empty.header("X-Seen-Content-Type") == nil)
            }
        }
    }

    @Test("response headers are exposed as received, including Retry-After")
    func responseHeaders() async throws {
        try await withTestServer(makeRouter()) { port in
            try await CurlHTTPClient.withClient(logger: quietLogger) { client in
                let response = try await client.send(OutgoingRequest(url: "http://127.0.0.1:\(port)/retry"))
                #expect(response.status == 503)
                #expect(string(response.body) == "busy")
                #expect(response.header("retry-after") == "7")
                let now = Timestamp(milliseconds: 1_700_000_000_000)
                #expect(RetryAfter.parse(response.header("Retry-After"), now: now) == .seconds(7))
                #expect(response.headers.filter { $0.name == "X-Multi" }.map(\.value) == ["first", "second"])
                #expect(response.headers.allSatisfy { !$0.name.contains(where: \.isNewline) && !$0.value.contains(where: \.isNewline) })
                #expect(response.header("content-length") == "4")
            }
        }
    }

    @Test("redirects are returned, not followed")
    func redirectNotFollowed() async throws {
        try await withTestServer(makeRouter()) { port in
            try await CurlHTTPClient.withClient(logger: quietLogger) { client in
                let response = try await client.send(OutgoingRequest(url: "http://127.0.0.1:\(port)/redirect"))
                #expect(response.status == 302)
                #expect(response.header("Location") == "/echo?value=followed")
            }
        }
    }

    @Test("a server slower than the request timeout gives .timeout promptly")
    func timeout() async throws {
        try await withTestServer(makeRouter()) { port in
            try await CurlHTTPClient.withClient(logger: quietLogger) { client in
                let started = ContinuousClock.now
                let error = await expectTransportError(.timeout) { () async throws(TransportError) in
                    try await client.send(
                        OutgoingRequest(url: "http://127.0.0.1:\(port)/slow", timeout: .milliseconds(200))
                    )
                }
                let elapsed = ContinuousClock.now - started
                #expect(elapsed >= .milliseconds(190))
                // Far sooner than the 30 s the server stalls for.
                #expect(elapsed < .seconds(15), "took \(elapsed)")
                #expect(error?.message.contains("127.0.0.1:\(port)") == true)
            }
        }
    }

    @Test("a connection closed mid-response gives .connection")
    func closedMidResponse() async throws {
        let server = try RawResponseServer()
        server.serveOnce(response: Array("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\npartial".utf8))
        try await CurlHTTPClient.withClient(logger: quietLogger) { client in
            _ = await expectTransportError(.connection) { () async throws(TransportError) in
                try await client.send(OutgoingRequest(url: "http://127.0.0.1:\(server.port)/", timeout: .seconds(5)))
            }
        }
        await server.finish()
    }

    @Test("a connection closed before any response gives .connection")
    func closedBeforeResponse() async throws {
        let server = try RawResponseServer()
        server.serveOnce(response: [])
        try await CurlHTTPClient.withClient(logger: quietLogger) { client in
            _ = await expectTransportError(.connection) { () async throws(TransportError) in
                try await client.send(OutgoingRequest(url: "http://127.0.0.1:\(server.port)/", timeout: .seconds(5)))
            }
        }
        await server.finish()
    }

    @Test("cancelling the task aborts the transfer and throws .cancelled")
    func cancellation() async throws {
        let arrivals = Counter()
        try await withTestServer(makeRouter(slowArrivals: arrivals)) { port in
            try await CurlHTTPClient.withClient(logger: quietLogger) { client in
                let task = Task {
                    try await client.send(OutgoingRequest(url: "http://127.0.0.1:\(port)/slow", timeout: .seconds(20)))
                }
                try await waitUntil("the request to reach the server") { arrivals.current == 1 }
                #expect(client.activeTransferCount == 1)
                let cancelled = ContinuousClock.now
                task.cancel()
                let result = await task.result
                // Far sooner than the 20 s request timeout or the 30 s the server stalls for.
                #expect(ContinuousClock.now - cancelled < .seconds(10))
                switch result {
                case .success(let response):
                    Issue.record("expected .cancelled, got HTTP \(response.status)")
                case .failure(let error):
                    #expect((error as? TransportError)?.code == .cancelled, "\(error)")
                }
                try await waitUntil("the transfer to leave the multi handle") { client.activeTransferCount == 0 }

                // The client still works afterwards.
                let response = try await client.send(OutgoingRequest(url: "http://127.0.0.1:\(port)/echo?value=after"))
                #expect(string(response.body) == "after")
            }
        }
    }

    @Test("a task cancelled before sending gets .cancelled without a transfer")
    func alreadyCancelled() async throws {
        try await CurlHTTPClient.withClient(logger: quietLogger) { client in
            let port = try closedLoopbackPort()
            let task = Task {
                withUnsafeCurrentTask { $0?.cancel() }
                return try await client.send(OutgoingRequest(url: "http://127.0.0.1:\(port)/"))
            }
            let result = await task.result
            #expect((result.failureValue as? TransportError)?.code == .cancelled)
        }
    }

    @Test("connection refused gives .connection")
    func connectionRefused() async throws {
        let port = try closedLoopbackPort()
        try await CurlHTTPClient.withClient(logger: quietLogger) { client in
            let error = await expectTransportError(.connection) { () async throws(TransportError) in
                try await client.send(OutgoingRequest(url: "http://127.0.0.1:\(port)/x", timeout: .seconds(5)))
            }
            #expect(error?.message.contains("127.0.0.1:\(port)") == true)
        }
    }

    @Test("bodies over maxResponseBytes fail, with and without Content-Length", arguments: [false, true])
    func responseBodyLimit(chunked: Bool) async throws {
        try await withTestServer(makeRouter()) { port in
            var configuration = CurlHTTPClient.Configuration()
            configuration.maxResponseBytes = 4096
            try await CurlHTTPClient.withClient(configuration: configuration, logger: quietLogger) { client in
                let suffix = chunked ? "&chunked=1" : ""
                let fits = try await client.send(
                    OutgoingRequest(url: "http://127.0.0.1:\(port)/bytes?count=4096\(suffix)")
                )
                #expect(fits.body.count == 4096)
                let error = await expectTransportError(.connection) { () async throws(TransportError) in
                    try await client.send(OutgoingRequest(url: "http://127.0.0.1:\(port)/bytes?count=10000\(suffix)"))
                }
                #expect(error?.message.contains("exceeds the limit of 4096 bytes") == true, "\(String(describing: error))")
            }
        }
    }

    @Test("sequential requests reuse connections")
    func connectionReuse() async throws {
        let ports = Recorder<Int>()
        try await withTestServer(makeRouter(ports: ports)) { port in
            try await CurlHTTPClient.withClient(logger: quietLogger) { client in
                for _ in 0..<50 {
                    let response = try await client.send(OutgoingRequest(url: "http://127.0.0.1:\(port)/port"))
                    #expect(response.status == 200)
                }
            }
        }
        #expect(ports.all.count == 50)
        #expect(Set(ports.all).count <= 3, "distinct client ports: \(Set(ports.all).count)")
    }

    @Test("allowRemoteAddress can refuse the connected address")
    func remoteAddressFilter() async throws {
        try await withTestServer(makeRouter()) { port in
            let seen = Recorder<String>()
            var configuration = CurlHTTPClient.Configuration()
            configuration.allowRemoteAddress = { address in
                seen.record(address)
                return false
            }
            try await CurlHTTPClient.withClient(configuration: configuration, logger: quietLogger) { client in
                let error = await expectTransportError(.connection) { () async throws(TransportError) in
                    try await client.send(OutgoingRequest(url: "http://127.0.0.1:\(port)/echo?value=x"))
                }
                #expect(error?.message.contains("remote address 127.0.0.1 is not allowed") == true)
            }
            #expect(seen.all == ["127.0.0.1"])
        }
    }

    @Test("shutdown fails requests in flight and later ones with .cancelled")
    func shutdownFailsOutstanding() async throws {
        let arrivals = Counter()
        try await withTestServer(makeRouter(slowArrivals: arrivals)) { port in
            let client = try CurlHTTPClient(logger: quietLogger)
            async let pending = capture { () async throws(TransportError) -> ClientResponse in
                try await client.send(OutgoingRequest(url: "http://127.0.0.1:\(port)/slow", timeout: .seconds(20)))
            }
            try await waitUntil("the request to reach the server") { arrivals.current == 1 }
            client.shutdown()
            let error = await pending.failureValue
            #expect(error?.code == .cancelled)
            #expect(error?.message.contains("shut down") == true)
            client.shutdown()
            let later = await expectTransportError(.cancelled) { () async throws(TransportError) in
                try await client.send(OutgoingRequest(url: "http://127.0.0.1:\(port)/echo?value=x"))
            }
            #expect(later?.message.contains("shut down") == true)
        }
    }

    @Test("a client released without shutdown stops its event thread")
    func deinitStopsThread() async throws {
        try await withTestServer(makeRouter()) { port in
            weak var weakLoop: CurlEventLoop?
            do {
                let client = try CurlHTTPClient(logger: quietLogger)
                weakLoop = client.loop
                let response = try await client.send(OutgoingRequest(url: "http://127.0.0.1:\(port)/echo?value=x"))
                #expect(response.status == 200)
            }
            // deinit joined the event thread, which held the last other reference to the loop.
            #expect(weakLoop == nil)
        }
    }
}

private func capture(
    _ operation: () async throws(TransportError) -> ClientResponse
) async -> Result<ClientResponse, TransportError> {
    do throws(TransportError) {
        return .success(try await operation())
    } catch {
        return .failure(error)
    }
}

extension Result {
    var failureValue: Failure? {
        if case .failure(let error) = self { return error }
        return nil
    }
}
