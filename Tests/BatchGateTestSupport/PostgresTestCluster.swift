import BatchGateCore
import BatchGatePostgresStore
import Foundation
import Logging
import PostgresNIO

/// The PostgreSQL cluster tests run against: `BATCHGATE_TEST_POSTGRES_URL` (scripts/test.sh starts a
/// throwaway one). Each test works in a schema of its own, dropped after it.
public enum PostgresTestCluster {
    /// The cluster's URL; nil when none is configured: the caller skips its PostgreSQL case.
    /// `BATCHGATE_REQUIRE_POSTGRES=1` (CI) turns a missing cluster into a failure (`MissingCluster`).
    public static func url() throws -> String? {
        let environment = ProcessInfo.processInfo.environment
        if let url = environment["BATCHGATE_TEST_POSTGRES_URL"], !url.isEmpty { return url }
        if environment["BATCHGATE_REQUIRE_POSTGRES"] == "1" { throw MissingCluster() }
        print("skipped on PostgreSQL: BATCHGATE_TEST_POSTGRES_URL is not set (scripts/test.sh starts a cluster)")
        return nil
    }

    public struct MissingCluster: Error, CustomStringConvertible {
        public var description: String { "BATCHGATE_TEST_POSTGRES_URL is not set, and BATCHGATE_REQUIRE_POSTGRES=1" }
    }

    /// Creates a new schema (named with `prefix`) on the cluster at `base`, runs `body` with a URL whose
    /// tables live in it, then drops it (also when `body` throws).
    public static func withSchema<T>(_ base: String, prefix: String, _ body: (String) async throws -> T) async throws -> T {
        let schema = prefix + Identifier.secret(byteCount: 6).lowercased().filter { $0.isLetter || $0.isNumber }
        try await execute("CREATE SCHEMA \(schema)", on: base)
        let url = base + (base.contains("?") ? "&" : "?") + "options=-c%20search_path%3D\(schema)"
        let result: T
        do {
            result = try await body(url)
        } catch {
            try? await execute("DROP SCHEMA \(schema) CASCADE", on: base)
            throw error
        }
        try await execute("DROP SCHEMA \(schema) CASCADE", on: base)
        return result
    }

    /// Runs one statement on the cluster over a connection of its own.
    public static func execute(_ sql: String, on url: String) async throws {
        let logger = Logger(label: "postgres-test-cluster")
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
}
