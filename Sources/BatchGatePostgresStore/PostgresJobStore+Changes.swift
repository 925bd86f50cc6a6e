public import BatchGateCore
import Logging
import NIOCore
import PostgresNIO

extension PostgresJobStore {
    /// Listens on the store's channel over a connection of its own, reconnecting with backoff when it
    /// drops; every (re)connect begins with `.resync`, since changes made while it was away were not heard.
    public func listenForChanges(_ handle: @escaping @Sendable (StoreChange) async -> Void) async throws {
        let configuration = try url.connectionConfiguration(statementTimeout: statementTimeout)
        var failures = 0
        var connectionID = 0
        while !Task.isCancelled {
            connectionID += 1
            do {
                let connection = try await PostgresConnection.connect(configuration: configuration, id: connectionID, logger: logger)
                do {
                    try await connection.listen(on: channel) { notifications in
                        failures = 0
                        await handle(.resync)
                        for try await notification in notifications {
                            if let change = Self.change(notification.payload) { await handle(change) }
                        }
                    }
                } catch {
                    try? await connection.close().get()
                    throw error
                }
                try? await connection.close().get()
            } catch {
                if Task.isCancelled { return }
                failures += 1
                logger.warning("store change listener lost its connection", metadata: ["failures": "\(failures)", "error": "\(error)"])
            }
            // 100 ms, doubling to 5 s.
            let delay = Duration.milliseconds(100 * (1 << min(failures, 6)))
            do { try await Task.sleep(for: min(delay, .seconds(5))) } catch { return }
        }
    }

    /// A change from a notification's payload: `j <version> <job id>`, `d <job id>` or `r`.
    static func change(_ payload: String) -> StoreChange? {
        let parts = payload.split(separator: " ", maxSplits: 2)
        switch parts.first {
        case "j":
            guard parts.count == 3, let version = Int(parts[1]) else { return nil }
            return .job(id: String(parts[2]), version: version)
        case "d":
            guard parts.count == 2 else { return nil }
            return .deliveries(jobID: String(parts[1]))
        case "r":
            return .leasesReleased
        default:
            return nil
        }
    }
}
