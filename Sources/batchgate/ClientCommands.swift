import ArgumentParser
import BatchGateClient
import BatchGateCore
import BatchGateTransport
import Foundation

/// `--url` and `--api-key` of the commands that are clients of the gateway's API.
struct ClientOptions: ParsableArguments {
    @Option(help: "The gateway's base URL (default: $BATCHGATE_URL, then http://127.0.0.1:8080).")
    var url: String?

    @Option(help: "An API key of your tenant (default: $BATCHGATE_API_KEY).")
    var apiKey: String?

    /// The base URL without a trailing slash.
    var baseURL: String {
        let base = url ?? ProcessInfo.processInfo.environment["BATCHGATE_URL"] ?? "http://127.0.0.1:8080"
        return base.hasSuffix("/") ? String(base.dropLast()) : base
    }

    /// The API key; refuses to go on without one.
    func key() throws -> String {
        guard let key = apiKey ?? ProcessInfo.processInfo.environment["BATCHGATE_API_KEY"], !key.isEmpty else {
            throw ValidationError("Give --api-key or set BATCHGATE_API_KEY.")
        }
        return key
    }

    /// Runs `body` with an API client, and the HTTP client under it, for as long as `body` runs; an API
    /// error becomes a `ClientError`.
    /// Sends one call that answers with a batch object and prints it: the object with `json`, else `summary`.
    func printBatch(_ method: String, _ path: String, json: Bool, summary: @escaping @Sendable (JSONValue) -> String) async throws {
        try await withClient { api, _ in
            let batch = try await api.send(method, path)
            if json { try printJSON(batch) } else { say(summary(batch)) }
        }
    }

    func withClient<R: Sendable>(_ body: (APIClient, CurlHTTPClient) async throws -> R) async throws -> R {
        let key = try key()
        let base = baseURL
        return try await CurlHTTPClient.withClient { transport in
            do {
                return try await body(APIClient(transport: transport, baseURL: base, apiKey: key), transport)
            } catch let error as ValidationError {
                // The API refused: not a usage mistake, so no usage text and exit 1.
                throw ClientError(code: "api_error", message: error.message)
            }
        }
    }
}

/// A failure of a client command: a stable code and a message for humans.
struct ClientError: Error, CustomStringConvertible {
    var code: String
    var message: String

    var description: String { message }
}

/// Prints a batch object as one line of JSON.
func printJSON(_ value: JSONValue) throws {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
    say(String(decoding: try encoder.encode(value), as: UTF8.self))
}

/// The path segment for a batch id, refusing anything that is not one.
func batchPath(_ id: String) throws -> String {
    guard Identifier.isWellFormed(id, prefix: "bat") else {
        throw ValidationError("'\(id)' is not a batch id (bat_…).")
    }
    return "/v1/batches/\(id)"
}

struct Submit: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Create a batch on a route and print its id.")

    @OptionGroup var client: ClientOptions

    @Option(help: "The route to submit to, e.g. scrape.")
    var route: String

    @Option(help: "A JSON file holding the whole `input` object.")
    var inputFile: String?

    @Option(help: "Comma-separated URLs of a url_batch.")
    var urls: String?

    @Option(help: "A JSON file with the documents of a document_tagging batch (an array, or {\"documents\": [...]}).")
    var documentsFile: String?

    @Option(help: "Makes a retried submit return the same batch.")
    var idempotencyKey: String?

    @Option(name: .customLong("webhook-url"), help: "Where to send the batch's webhooks.")
    var webhookURL: String?

    @Flag(help: "Print the created batch object instead of its id.")
    var json = false

    func validate() throws {
        let given = [inputFile, urls, documentsFile].compactMap { $0 }.count
        guard given == 1 else { throw ValidationError("Give exactly one of --input-file, --urls and --documents-file.") }
    }

    func run() async throws {
        var request: [String: JSONValue] = ["route": .string(route), "input": try input()]
        if let webhookURL { request["webhook"] = .object(["url": .string(webhookURL)]) }
        let headers: [(name: String, value: String)] = idempotencyKey.map { [("Idempotency-Key", $0)] } ?? []
        try await client.withClient { api, _ in
            let created = try await api.send("POST", "/v1/batches", body: .object(request), headers: headers)
            if json {
                try printJSON(created)
            } else {
                say(created["id"]?.stringValue ?? "")
            }
        }
    }

    private func input() throws -> JSONValue {
        if let urls {
            let list = urls.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
            return .object(["urls": .array(list.map(JSONValue.string))])
        }
        if let inputFile { return try Self.readJSON(inputFile, option: "--input-file") }
        let documents = try Self.readJSON(documentsFile ?? "", option: "--documents-file")
        if case .array = documents { return .object(["documents": documents]) }
        return documents
    }

    private static func readJSON(_ path: String, option: String) throws -> JSONValue {
        guard let data = FileManager.default.contents(atPath: path) else { throw ValidationError("\(option): cannot read \(path).") }
        do {
            return try JSONDecoder().decode(JSONValue.self, from: data)
        } catch {
            throw ValidationError("\(option): \(path) is not valid JSON.")
        }
    }
}

struct Status: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Print a one-line summary of a batch.")

    @OptionGroup var client: ClientOptions

    @Argument(help: "The batch id.")
    var id: String

    @Flag(help: "Print the batch object instead.")
    var json = false

    func run() async throws {
        try await client.printBatch("GET", try batchPath(id), json: json) { batch in
            ProgressBoard.plainLine(JobProgress(batch: batch, now: .now())) + " provider=\(batch["provider"]?.stringValue ?? "?")"
        }
    }
}

struct Cancel: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Ask the gateway to cancel a batch.")

    @OptionGroup var client: ClientOptions

    @Argument(help: "The batch id.")
    var id: String

    @Flag(help: "Print the batch object instead.")
    var json = false

    func run() async throws {
        let id = id
        try await client.printBatch("POST", try batchPath(id) + "/cancel", json: json) { batch in
            "\(id) cancel requested (\(batch["lifecycle_status"]?.stringValue ?? "?"))"
        }
    }
}
