import ArgumentParser
import BatchGateCore
import Foundation

/// A small client of the gateway's HTTP API for the command line.
struct APIClient: Sendable {
    let transport: any HTTPTransport
    let baseURL: String
    let apiKey: String

    /// Sends a request; a non-2xx answer throws with the API's error message.
    func send(
        _ method: String,
        _ path: String,
        body: JSONValue? = nil,
        headers extra: [(name: String, value: String)] = []
    ) async throws -> JSONValue {
        var headers: [(name: String, value: String)] = [("authorization", "Bearer \(apiKey)")] + extra
        var bytes: [UInt8]?
        if let body {
            headers.append(("content-type", "application/json"))
            bytes = [UInt8](try JSONEncoder().encode(body))
        }
        let response = try await transport.send(
            HTTPRequest(method: method, url: baseURL + path, headers: headers, body: bytes, timeout: .seconds(30))
        )
        let value = (try? JSONDecoder().decode(JSONValue.self, from: Data(response.body))) ?? .null
        guard (200..<300).contains(response.status) else {
            let message = value["error"]?["message"]?.stringValue ?? "HTTP \(response.status)"
            throw ValidationError("\(method) \(path): \(message)")
        }
        return value
    }

    /// Waits until `/readyz` answers 200, for at most `timeout`.
    func waitUntilReady(timeout: Duration = .seconds(30)) async throws {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if let response = try? await transport.send(HTTPRequest(url: baseURL + "/readyz", timeout: .seconds(2))),
                response.status == 200
            {
                return
            }
            try await Task.sleep(for: .milliseconds(50))
        }
        throw ValidationError("The gateway at \(baseURL) did not become ready within \(timeout).")
    }
}
