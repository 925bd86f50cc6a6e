/// One message a streaming vendor pushed, decoded and normalised.
public struct StreamUpdate: Sendable, Hashable {
    public enum Kind: String, Sendable, Hashable {
        /// The state and every row so far (sent on connect).
        case snapshot
        /// One row changed.
        case row
        /// The batch finished (completed, cancelled or failed).
        case terminal
        /// The connection is alive; may carry the vendor status.
        case keepalive
    }

    public var kind: Kind
    /// The vendor's message type, verbatim (`progress` for untyped per-row messages).
    public var messageType: String
    /// The batch-level state the message tells, if it tells one.
    public var observation: ProviderObservation?
    /// Rows the message carries, keyed by their zero-based index.
    public var rows: [StreamRow]
    /// The message as the vendor sent it, kept as the vendor event for `row` and `terminal` messages
    /// (empty for snapshots and keepalives, which are repeated on every connect).
    public var payload: [UInt8]

    public init(kind: Kind, messageType: String, observation: ProviderObservation? = nil, rows: [StreamRow] = [], payload: [UInt8] = []) {
        self.kind = kind
        self.messageType = messageType
        self.observation = observation
        self.rows = rows
        self.payload = payload
    }
}

/// One row of a streamed batch as the vendor last showed it.
public struct StreamRow: Sendable, Hashable {
    public var index: Int
    /// The result as the API shows it; `status` is `pending` while the vendor still works on (or retries) it.
    public var result: ItemResult
    /// The vendor will not change this row again (succeeded, or failed with no retry announced).
    public var isFinal: Bool

    public init(index: Int, result: ItemResult, isFinal: Bool) {
        self.index = index
        self.result = result
        self.isFinal = isFinal
    }
}

/// How one observation connection ended without an error.
public enum StreamEnd: Sendable, Hashable {
    /// A terminal message arrived.
    case terminal
    /// The vendor closed the connection, or it went silent past the idle timeout: reconnect.
    case disconnected(String)
}

/// A provider whose vendor pushes progress over a long-lived connection (one per upstream batch).
///
/// The gateway keeps one connection open per running batch, reconnects with backoff and merges the
/// snapshot sent on every connect by row index, and polls `poll(providerBatchID:)` while it cannot connect.
public protocol StreamingBatchProvider: BatchProvider {
    /// Observes one upstream batch: connects, hands each decoded message to `onUpdate` in order, and
    /// returns when the batch reached a terminal message or the connection ended. Throws `.rejected`
    /// when the vendor refused the credentials (retrying will not help), a retryable error otherwise.
    func observe(providerBatchID: String, onUpdate: @escaping @Sendable (StreamUpdate) async throws -> Void) async throws -> StreamEnd
}

extension BatchProvider {
    /// Asks the vendor to pause the batch. Providers that cannot pause throw `.notSupported`.
    public func pause(providerBatchID: String) async throws(ProviderError) {
        throw ProviderError(.notSupported, "Provider \(name) cannot pause a batch.")
    }

    /// Asks the vendor to resume a paused batch. Providers that cannot pause throw `.notSupported`.
    public func resume(providerBatchID: String) async throws(ProviderError) {
        throw ProviderError(.notSupported, "Provider \(name) cannot resume a batch.")
    }
}

/// The rows of one streamed batch as the gateway holds them: what the stream and the store said so far.
///
/// Merging is by row index, so a snapshot repeated on every reconnect counts no row twice: a final row
/// (succeeded, or failed with no retry announced) never changes again; a row still pending takes the
/// newest message about it. Only a few bytes are kept per row (its status and a fingerprint of its
/// result); the results themselves are in the store.
public struct StreamRowBook: Sendable, Hashable {
    struct Entry: Sendable, Hashable {
        var isFinal: Bool
        /// Tells whether a newer message changes the row (a hash of its result, stable within a process).
        var fingerprint: Int
    }

    private var rows: [Int: Entry] = [:]
    public private(set) var succeeded = 0
    public private(set) var failed = 0

    public init() {}

    /// A book of rows already stored: succeeded and failed results are final, pending ones are not.
    public init(stored: [ItemResult]) {
        for result in stored {
            _ = merge([StreamRow(index: result.index, result: result, isFinal: result.status != .pending)])
        }
    }

    /// Rows that are final.
    public var finalCount: Int { succeeded + failed }

    /// Folds `incoming` in and returns the results that changed (to be stored).
    public mutating func merge(_ incoming: [StreamRow]) -> [ItemResult] {
        var changed: [Int: ItemResult] = [:]
        for row in incoming {
            let entry = Entry(isFinal: row.isFinal, fingerprint: row.result.hashValue)
            if let existing = rows[row.index] {
                guard !existing.isFinal, existing != entry else { continue }
            }
            if row.isFinal {
                switch row.result.status {
                case .succeeded: succeeded += 1
                case .failed: failed += 1
                case .pending: break
                }
            }
            rows[row.index] = entry
            changed[row.index] = row.result
        }
        return changed.keys.sorted().map { changed[$0]! }
    }
}
