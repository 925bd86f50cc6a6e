import BatchGateCore
import Foundation
import NIOCore
import NIOSSL
public import PostgresNIO

/// A `postgres://` URL read into a connection configuration, the way libpq reads one:
/// `postgres://user:password@host:port/database?sslmode=disable&application_name=x&options=-c%20search_path%3Dy`.
///
/// Supported query parameters: `sslmode` (`disable`, `prefer`, `require`; default `prefer`),
/// `application_name`, `connect_timeout` (seconds) and `options` (`-c name=value` settings sent at
/// connect). Any other parameter is refused by name. Error messages never show the password.
public struct PostgresURL: Sendable {
    public var host: String
    public var port: Int
    public var username: String
    public var password: String?
    public var database: String?
    /// `sslmode`.
    public enum TLSMode: Sendable { case disable, prefer, require }

    public var tls: TLSMode
    public var connectTimeout: Duration = .seconds(10)
    /// Server settings sent at connect (`application_name`, each `-c name=value` of `options`).
    public var startupParameters: [(String, String)] = []

    public init(_ text: String) throws {
        func invalid(_ what: String) -> GatewayError {
            GatewayError(status: 500, code: "invalid_store_url", message: "store.postgres: \(what) (URL not shown).")
        }
        guard let components = URLComponents(string: text), let scheme = components.scheme?.lowercased(),
            scheme == "postgres" || scheme == "postgresql"
        else { throw invalid("expected a postgres:// or postgresql:// URL") }
        guard let host = components.host, !host.isEmpty else { throw invalid("the URL names no host") }
        self.host = host
        if let port = components.port {
            guard (1...65_535).contains(port) else { throw invalid("the port must be between 1 and 65535") }
            self.port = port
        } else {
            self.port = 5432
        }
        guard let user = components.user, !user.isEmpty else { throw invalid("the URL names no user") }
        username = user.removingPercentEncoding ?? user
        password = components.password.map { $0.removingPercentEncoding ?? $0 }
        let path = components.path.hasPrefix("/") ? String(components.path.dropFirst()) : components.path
        database = path.isEmpty ? nil : (path.removingPercentEncoding ?? path)
        tls = .prefer
        for item in components.queryItems ?? [] {
            let value = item.value ?? ""
            switch item.name {
            case "sslmode":
                switch value {
                case "disable": tls = .disable
                case "prefer", "allow": tls = .prefer
                case "require", "verify-ca", "verify-full": tls = .require
                default: throw invalid("sslmode must be disable, prefer or require, got \"\(value)\"")
                }
            case "application_name":
                startupParameters.append(("application_name", value))
            case "connect_timeout":
                guard let seconds = Int(value), (1...600).contains(seconds) else {
                    throw invalid("connect_timeout must be a whole number of seconds from 1 to 600, got \"\(value)\"")
                }
                connectTimeout = .seconds(seconds)
            case "options":
                startupParameters += try Self.settings(inOptions: value, invalid)
            default:
                throw invalid("unknown parameter \"\(item.name)\"; supported: application_name, connect_timeout, options, sslmode")
            }
        }
    }

    /// The `-c name=value` settings of a libpq `options` parameter.
    static func settings(inOptions options: String, _ invalid: (String) -> GatewayError) throws -> [(String, String)] {
        var settings: [(String, String)] = []
        var words = options.split(whereSeparator: \.isWhitespace).map(String.init)[...]
        while let word = words.popFirst() {
            let setting: String
            if word == "-c" {
                guard let next = words.popFirst() else { throw invalid("options: -c needs a name=value") }
                setting = next
            } else if word.hasPrefix("-c") {
                setting = String(word.dropFirst(2))
            } else if word.hasPrefix("--") {
                setting = String(word.dropFirst(2))
            } else {
                throw invalid("options: expected -c name=value, got \"\(word)\"")
            }
            guard let equals = setting.firstIndex(of: "="), equals != setting.startIndex else {
                throw invalid("options: expected name=value, got \"\(setting)\"")
            }
            settings.append((String(setting[..<equals]), String(setting[setting.index(after: equals)...])))
        }
        return settings
    }

    /// The `search_path` the URL's options set, if any: it names the schema the gateway's tables live in.
    public var searchPath: String? {
        startupParameters.last { $0.0 == "search_path" }?.1
    }

    /// The pool's configuration: `poolSize` connections at most, each cancelling statements that run longer
    /// than `statementTimeout`.
    public func clientConfiguration(poolSize: Int, statementTimeout: Duration) -> PostgresClient.Configuration {
        var configuration = PostgresClient.Configuration(
            host: host,
            port: port,
            username: username,
            password: password,
            database: database,
            tls: {
                switch tls {
                case .disable: .disable
                case .prefer: .prefer(.makeClientConfiguration())
                case .require: .require(.makeClientConfiguration())
                }
            }()
        )
        configuration.options.maximumConnections = poolSize
        configuration.options.minimumConnections = 0
        configuration.options.connectTimeout = connectTimeout
        configuration.options.additionalStartupParameters = parameters(statementTimeout: statementTimeout)
        return configuration
    }

    /// A single connection's configuration (the one that listens for changes).
    public func connectionConfiguration(statementTimeout: Duration) throws -> PostgresConnection.Configuration {
        let connectionTLS: PostgresConnection.Configuration.TLS
        switch tls {
        case .disable: connectionTLS = .disable
        case .prefer: connectionTLS = .prefer(try NIOSSLContext(configuration: .makeClientConfiguration()))
        case .require: connectionTLS = .require(try NIOSSLContext(configuration: .makeClientConfiguration()))
        }
        var configuration = PostgresConnection.Configuration(
            host: host,
            port: port,
            username: username,
            password: password,
            database: database,
            tls: connectionTLS
        )
        configuration.options.connectTimeout = .milliseconds(Int64(connectTimeout.components.seconds * 1000))
        configuration.options.additionalStartupParameters = parameters(statementTimeout: statementTimeout)
        return configuration
    }

    private func parameters(statementTimeout: Duration) -> [(String, String)] {
        let milliseconds = statementTimeout.components.seconds * 1000 + statementTimeout.components.attoseconds / 1_000_000_000_000_000
        return [("statement_timeout", "\(milliseconds)")] + startupParameters
    }
}
