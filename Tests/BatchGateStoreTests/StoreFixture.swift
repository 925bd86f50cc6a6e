import BatchGateCore
import BatchGatePostgresStore
import BatchGateStore
import BatchGateTestSupport
import Foundation
import Logging
import Testing

/// The store back ends every contract test runs against.
enum StoreBackend: String, CaseIterable, Sendable, CustomTestStringConvertible {
    case sqlite
    case postgres

    var testDescription: String { rawValue }
}

/// A new, empty store of one back end (a temporary SQLite file, or a new schema of the test PostgreSQL
/// cluster), opened as several replicas, and removed after the test.
///
/// PostgreSQL tests use `PostgresTestCluster`: skipped with a note without a cluster, failed in CI.
struct StoreFixture: Sendable {
    let backend: StoreBackend
    /// The SQLite file, or the PostgreSQL URL with its schema.
    let location: String

    static let logger = Logger(label: "store-tests")

    /// A new pending URL batch of `tenant`, its id and creation time at `ms` (so ids order as `ms` does).
    static func job(at ms: Int64 = 1_700_000_000_000, tenant: String = "acme") -> Job {
        Job(
            id: Identifier.make(prefix: "bat", at: Timestamp(milliseconds: ms)),
            tenant: tenant,
            kind: .urlBatch,
            route: "scrape",
            provider: "airops",
            providerKind: "olostep-airops",
            createdAt: Timestamp(milliseconds: ms),
            inboundSecret: "s"
        )
    }

    /// Runs `body` with a new empty store location of `backend`, or returns without running it when no
    /// PostgreSQL test cluster is configured (a failure when one is required).
    static func with(_ backend: StoreBackend, _ body: (StoreFixture) async throws -> Void) async throws {
        switch backend {
        case .sqlite:
            let directory = FileManager.default.temporaryDirectory.appendingPathComponent("bg-store-\(Identifier.secret(byteCount: 6))")
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(at: directory) }
            try await body(StoreFixture(backend: backend, location: directory.appendingPathComponent("store.sqlite").path))
        case .postgres:
            guard let base = try PostgresTestCluster.url() else { return }
            try await PostgresTestCluster.withSchema(base, prefix: "t_") { url in
                try await body(StoreFixture(backend: backend, location: url))
            }
        }
    }

    /// Opens the store as replica `owner`; `body` gets it, and it is closed after.
    func open<T>(owner: String = "replica-a", _ body: (any JobStore) async throws -> T) async throws -> T {
        switch backend {
        case .sqlite:
            return try await body(try SQLiteJobStore(path: location, owner: owner))
        case .postgres:
            let store = try await PostgresJobStore(settings: PostgresSettings(url: location, poolSize: 8), owner: owner, logger: Self.logger)
            do {
                let result = try await body(store)
                await store.close()
                return result
            } catch {
                await store.close()
                throw error
            }
        }
    }

    /// Opens the store as two replicas.
    func open<T>(_ a: String, _ b: String, _ body: (any JobStore, any JobStore) async throws -> T) async throws -> T {
        try await open(owner: a) { first in try await open(owner: b) { second in try await body(first, second) } }
    }
}
