import ArgumentParser
import BatchGateClient
import BatchGateCore
import BatchGateTransport
import Foundation

struct Watch: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Follow batches' event streams and show live progress; exit 0 when every one completed."
    )

    @OptionGroup var client: ClientOptions

    @Argument(help: "The batch ids.")
    var ids: [String]

    @Flag(help: "Print one line per event even on a terminal.")
    var plain = false

    func validate() throws {
        guard !ids.isEmpty else { throw ValidationError("Give at least one batch id.") }
        for id in ids { _ = try batchPath(id) }
    }

    /// What a follower tells the board.
    enum Update: Sendable {
        case progress(JobProgress, ended: Bool)
        case tick
    }

    func run() async throws {
        let terminal = !plain && isatty(1) != 0
        let ids = ids
        let board = try await client.withClient { api, transport in
            await Self.show(ids, api: api, transport: transport, terminal: terminal)
        }
        if !board.allCompleted { throw ExitCode(1) }
    }

    /// Follows every batch's event stream concurrently and draws the board (redrawn in place on a
    /// terminal, one plain line per event otherwise) until each batch ended; returns the final board.
    static func show(_ ids: [String], api: APIClient, transport: CurlHTTPClient, terminal: Bool) async -> ProgressBoard {
        var board = ProgressBoard(ids: ids, mode: terminal ? .terminal(barWidth: 30) : .plain)
        let (updates, sink) = AsyncStream.makeStream(of: Update.self)
        await withTaskGroup(of: Void.self) { group in
            for id in ids {
                group.addTask { await Self.follow(id, api: api, transport: transport, into: sink) }
            }
            if terminal {
                group.addTask {
                    while (try? await Task.sleep(for: .milliseconds(500))) != nil { sink.yield(.tick) }
                }
                print(board.redraw(), terminator: "")
                fflush(nil)
            }
            var ended = Set<String>()
            var received: [String: ContinuousClock.Instant] = [:]
            var latest: [String: JobProgress] = [:]
            var printed: [String: String] = [:]
            for await update in updates {
                switch update {
                case .progress(let progress, let done):
                    if done { ended.insert(progress.id) }
                    received[progress.id] = .now
                    latest[progress.id] = progress
                    let line = board.update(progress)
                    // A change the line does not show (a row starting) prints nothing new.
                    if !terminal && printed[progress.id] != line {
                        say(line)
                        printed[progress.id] = line
                    }
                case .tick:
                    // Elapsed time moves on between events for batches still running.
                    for (id, progress) in latest where !progress.isTerminal && progress.problem == nil && !ended.contains(id) {
                        var moved = progress
                        moved.elapsedSeconds += (ContinuousClock.now - (received[id] ?? .now)).seconds
                        board.update(moved)
                    }
                }
                if terminal {
                    print(board.redraw(), terminator: "")
                    fflush(nil)
                }
                if ended.count == ids.count { break }
            }
            group.cancelAll()
        }
        if !terminal {
            for line in board.finalLines() { say(line) }
        }
        return board
    }

    /// Follows one batch's `events_url` until a terminal event, reconnecting with `Last-Event-ID`
    /// after a dropped connection (at most `maxFailures` times in a row).
    static func follow(
        _ id: String,
        api: APIClient,
        transport: CurlHTTPClient,
        into sink: AsyncStream<Update>.Continuation
    ) async {
        let maxFailures = 5
        var last = JobProgress(id: id)
        do {
            let batch = try await api.send("GET", try batchPath(id))
            last = JobProgress(batch: batch, now: .now())
            // A running batch's current state comes as the stream's first event.
            guard !last.isTerminal else {
                sink.yield(.progress(last, ended: true))
                return
            }
            guard let eventsURL = batch["events_url"]?.stringValue else {
                throw ClientError(code: "no_events_url", message: "the batch object has no events_url")
            }
            var lastEventID: String?
            var failures = 0
            while true {
                do {
                    if try await stream(
                        eventsURL,
                        api: api,
                        transport: transport,
                        lastEventID: &lastEventID,
                        onBatch: { progress in
                            last = progress
                            failures = 0
                            sink.yield(.progress(progress, ended: progress.isTerminal))
                        }
                    ) {
                        return
                    }
                    failures += 1
                } catch let error as ClientError {
                    throw error
                } catch {
                    if Task.isCancelled { throw error }
                    failures += 1
                    if failures >= maxFailures { throw error }
                }
                if failures >= maxFailures {
                    throw ClientError(code: "stream_ended", message: "the event stream ended \(failures) times before the batch finished")
                }
                try await Task.sleep(for: .milliseconds(500 * failures))
            }
        } catch {
            last.problem = "\(error)"
            sink.yield(.progress(last, ended: true))
        }
    }

    /// One connection to the events stream; true once a terminal event arrived.
    private static func stream(
        _ url: String,
        api: APIClient,
        transport: CurlHTTPClient,
        lastEventID: inout String?,
        onBatch: (JobProgress) -> Void
    ) async throws -> Bool {
        var headers: [(name: String, value: String)] = [("authorization", "Bearer \(api.apiKey)"), ("accept", "text/event-stream")]
        if let lastEventID { headers.append(("last-event-id", lastEventID)) }
        return try await transport.stream(HTTPRequest(url: url, headers: headers, timeout: .seconds(7 * 86_400))) { parts in
            var parser = ServerSentEventParser()
            var status = 0
            var errorBody: [UInt8] = []
            for try await part in parts {
                switch part {
                case .head(let code, _):
                    status = code
                case .body(let bytes) where status != 200:
                    errorBody += bytes.prefix(max(0, 4096 - errorBody.count))
                case .body(let bytes):
                    for case .event(let event) in parser.feed(bytes) where event.type == "batch" {
                        guard let batch = try? JSONDecoder().decode(JSONValue.self, from: Data(event.data.utf8)) else { continue }
                        lastEventID = event.lastEventID.isEmpty ? lastEventID : event.lastEventID
                        let progress = JobProgress(batch: batch, now: .now())
                        onBatch(progress)
                        if progress.isTerminal { return true }
                    }
                }
            }
            if status != 200 {
                let value = try? JSONDecoder().decode(JSONValue.self, from: Data(errorBody))
                throw ClientError(
                    code: value?["error"]?["code"]?.stringValue ?? "http_\(status)",
                    message: "GET events: " + (value?["error"]?["message"]?.stringValue ?? "HTTP \(status)")
                )
            }
            return false
        }
    }
}
