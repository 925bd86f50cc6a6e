import BatchGateCore
import BatchGatePostgresStore
import PostgresNIO
import Testing

/// `store.postgres` URLs, read as libpq reads them; a bad one is refused with a message that names the
/// part at fault and never shows the password.
@Suite struct PostgresURLTests {
    @Test func aFullURLIsReadPartByPart() throws {
        let url = try PostgresURL(
            "postgresql://gate%40way:p%40ss%2Fw0rd@db.internal:6543/batch%20gate?sslmode=require&application_name=bg&connect_timeout=7&options=-c%20search_path%3Dgateway%20-cstatement_timeout%3D5s"
        )
        #expect(url.host == "db.internal")
        #expect(url.port == 6543)
        #expect(url.username == "gate@way")
        #expect(url.password == "p@ss/w0rd")
        #expect(url.database == "batch gate")
        #expect(url.tls == .require)
        #expect(url.connectTimeout == .seconds(7))
        #expect(url.startupParameters.map { "\($0.0)=\($0.1)" } == ["application_name=bg", "search_path=gateway", "statement_timeout=5s"])
        #expect(url.searchPath == "gateway")
    }

    @Test func defaultsAreLibpqs() throws {
        let url = try PostgresURL("postgres://gw@localhost")
        #expect(url.port == 5432)
        #expect(url.password == nil)
        #expect(url.database == nil)
        #expect(url.tls == .prefer)
        #expect(url.searchPath == nil)
        #expect(try PostgresURL("postgres://gw@h/db?sslmode=disable").tls == .disable)
    }

    @Test(arguments: [
        ("mysql://gw:secret@h/db", "expected a postgres:// or postgresql:// URL"),
        ("postgres://gw:secret@/db", "the URL names no host"),
        ("postgres://:secret@h/db", "the URL names no user"),
        ("postgres://gw:secret@h:0/db", "the port must be between 1 and 65535"),
        ("postgres://gw:secret@h/db?sslmode=sometimes", "sslmode must be disable, prefer or require, got \"sometimes\""),
        ("postgres://gw:secret@h/db?pool=5", "unknown parameter \"pool\"; supported: application_name, connect_timeout, options, sslmode"),
        ("postgres://gw:secret@h/db?connect_timeout=0", "connect_timeout must be a whole number of seconds from 1 to 600, got \"0\""),
        ("postgres://gw:secret@h/db?options=-c", "options: -c needs a name=value"),
        ("postgres://gw:secret@h/db?options=search_path", "options: expected -c name=value, got \"search_path\""),
        ("postgres://gw:secret@h/db?options=-c%20=x", "options: expected name=value, got \"=x\""),
        ("not a url at all", "expected a postgres:// or postgresql:// URL"),
    ])
    func aBadURLIsRefusedByName(_ text: String, _ problem: String) {
        do {
            _ = try PostgresURL(text)
            Issue.record("accepted \(text)")
        } catch let error as GatewayError {
            #expect(error.code == "invalid_store_url")
            #expect(error.message == "store.postgres: \(problem) (URL not shown).")
            #expect(!error.message.contains("secret"))
        } catch {
            Issue.record("unexpected \(error)")
        }
    }

    @Test func statementTimeoutAndPoolSizeReachTheConfiguration() throws {
        let url = try PostgresURL("postgres://gw@h/db?options=-c%20search_path%3Dx")
        let pool = url.clientConfiguration(poolSize: 12, statementTimeout: .milliseconds(2500))
        #expect(pool.options.maximumConnections == 12)
        #expect(pool.options.additionalStartupParameters.map { "\($0.0)=\($0.1)" } == ["statement_timeout=2500", "search_path=x"])
    }
}
