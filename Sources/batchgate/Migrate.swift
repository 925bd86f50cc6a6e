import ArgumentParser
import BatchGateCore
import BatchGateTransport
import Foundation

struct Migrate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Move every non-terminal job of a route from one provider to another, through the gateway's API."
    )

    @Option(help: "The gateway's base URL (default: $BATCHGATE_URL, then http://127.0.0.1:8080).")
    var url: String?

    @Option(help: "An API key of the tenant whose jobs to move (default: $BATCHGATE_API_KEY).")
    var apiKey: String?

    @Option(help: "Only jobs of this route.")
    var route: String

    @Option(help: "Only jobs now on this provider.")
    var from: String

    @Option(help: "The provider to move them to.")
    var to: String

    @Flag(help: "List the jobs that would move, and those that cannot and why; change nothing.")
    var dryRun = false

    func run() async throws {
        let environment = ProcessInfo.processInfo.environment
        guard let key = apiKey ?? environment["BATCHGATE_API_KEY"], !key.isEmpty else {
            throw ValidationError("Give --api-key or set BATCHGATE_API_KEY.")
        }
        let base = url ?? environment["BATCHGATE_URL"] ?? "http://127.0.0.1:8080"
        try await CurlHTTPClient.withClient { transport in
            let client = APIClient(transport: transport, baseURL: base, apiKey: key)
            // Pending first, then running: a job that starts between the two lists shows up in both,
            // never in neither; it is kept once.
            var ids: [String] = []
            var seen = Set<String>()
            for status in ["pending", "running"] {
                var after: String?
                repeat {
                    let query =
                        "/v1/batches?limit=100&lifecycle_status=\(status)&route=\(Self.encode(route))&provider=\(Self.encode(from))"
                        + (after.map { "&after=\($0)" } ?? "")
                    let page = try await client.send("GET", query)
                    if case .array(let items)? = page["data"] {
                        for id in items.compactMap({ $0["id"]?.stringValue }) where seen.insert(id).inserted { ids.append(id) }
                    }
                    after = page["next_after"]?.stringValue
                } while after != nil
            }
            if dryRun {
                // The gateway makes every check of a real migration (the new provider must take the stored
                // input) and changes nothing.
                var movable = 0
                for id in ids {
                    do {
                        _ = try await client.send(
                            "POST",
                            "/v1/batches/\(id)/migrate",
                            body: .object(["provider": .string(to), "dry_run": true])
                        )
                        movable += 1
                        say("would migrate \(id) from \(from) to \(to)")
                    } catch {
                        say("cannot migrate \(id): \(error)")
                    }
                }
                say("\(movable) of \(ids.count) jobs would move (dry run: nothing changed)")
                return
            }
            var failures = 0
            for id in ids {
                do {
                    let moved = try await client.send("POST", "/v1/batches/\(id)/migrate", body: .object(["provider": .string(to)]))
                    say("migrated \(id) → \(moved["provider"]?.stringValue ?? to) (\(moved["lifecycle_status"]?.stringValue ?? "?"))")
                } catch {
                    failures += 1
                    printError("could not migrate \(id): \(error)")
                }
            }
            say("\(ids.count - failures) of \(ids.count) jobs moved from \(from) to \(to)")
            if failures > 0 { throw ExitCode(1) }
        }
    }

    static func encode(_ value: String) -> String {
        value.addingPercentEncoding(withAllowedCharacters: .urlQueryAllowed.subtracting(CharacterSet(charactersIn: "&=+"))) ?? value
    }
}
