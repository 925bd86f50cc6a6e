import BatchGateCore
import BatchGatePostgresStore
import BatchGateStore
import Foundation
import Logging
import PostgresNIO
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
/// PostgreSQL tests use the cluster `BATCHGATE_TEST_POSTGRES_URL` names (scripts/test.sh starts a throwaway
/// one). Without it they are skipped with a note, unless `BATCHGATE_REQUIRE_POSTGRES=1` (CI), which fails them.
struct StoreFixture: Sendable {
    let backend: StoreBackend
    /// The SQLite file, or the PostgreSQL URL with its schema.
    let location: String
    private let cleanup: @Sendable () async -> Void

    static let logger = Logger(label: "store-tests")

    static var postgresURL: String? {
        ProcessInfo.processInfo.environment["BATCHGATE_TEST_POSTGRES_URL"].flatMap { $0.isEmpty ? nil : $0 }
    }

    /// Runs `body` with a new empty store location of `backend`, or returns without running it when no
    /// PostgreSQL test cluster is configured (recorded as an issue when one is required).
    static func with(_ backend: StoreBackend, _ body: (StoreFixture) async throws -> Void) async throws {
        let fixture: StoreFixture
        switch backend {
        case .sqlite:
            let directory = FileManager.default.temporaryDirectory.appendingPathComponent("bg-store-\(Identifier.secret(byteCount: 6))")
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            fixture = StoreFixture(backend: backend, location: directory.appendingPathComponent("store.sqlite").path) {
                try? FileManager.default.removeItem(at: directory)
            }
        case .postgres:
            guard let base = postgresURL else {
                if ProcessInfo.processInfo.environment["BATCHGATE_REQUIRE_POSTGRES"] == "1" {
                    Issue.record("BATCHGATE_TEST_POSTGRES_URL is not set, and BATCHGATE_REQUIRE_POSTGRES=1")
                } else {
                    print("skipped on PostgreSQL: BATCHGATE_TEST_POSTGRES_URL is not set (scripts/test.sh starts a cluster)")
                }
                return
            }
            let schema = "t_" + Identifier.secret(byteCount: 6).lowercased().filter { $0.isLetter || $0.isNumber }
            try await admin(base, "CREATE SCHEMA \(schema)")
            let separator = base.contains("?") ? "&" : "?"
            fixture = StoreFixture(backend: backend, location: base + separator + "options=-c%20search_path%3D\(schema)") {
                try? await admin(base, "DROP SCHEMA \(schema) CASCADE")
            }
        }
        do {
            try await body(fixture)
        } catch {
            await fixture.cleanup()
            throw error
        }
        await fixture.cleanup()
    }

    /// Runs one statement on the test cluster over a connection of its own.
    static func admin(_ url: String, _ sql: String) async throws {
        let configuration = try PostgresURL(url).connectionConfiguration(statementTimeout: .seconds(30))
        let connection = try await PostgresConnection.connect(configuration: configuration, id: 0, logger: logger)
        do {
            try await connection.query(PostgresQuery(unsafeSQL: sql), logger: logger)
        } catch {
            try? await connection.close().get()
            throw error
        }
        try await connection.close().get()
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
