import ArgumentParser
import BatchGateConfig
import BatchGateCore
import BatchGateProviders
import BatchGateServer
import Foundation
import Logging

@main
struct BatchGateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "batchgate",
        abstract: "One API, one status model and one webhook stream for several asynchronous batch vendors.",
        version: BatchGateVersion.current,
        subcommands: [
            Serve.self, Validate.self, Simulate.self, Demo.self, Migrate.self, Submit.self, Status.self, Cancel.self, Watch.self,
        ],
        defaultSubcommand: Serve.self
    )
}

/// `--config`, defaulting to `$BATCHGATE_CONFIG`, then `providers.yaml`.
struct ConfigOption: ParsableArguments {
    @Option(name: .long, help: "The providers.yaml to use (default: $BATCHGATE_CONFIG, then ./providers.yaml).")
    var config: String?

    var path: String {
        config ?? ProcessInfo.processInfo.environment["BATCHGATE_CONFIG"] ?? "providers.yaml"
    }

    /// Loads the file, or prints every problem as `file:line:column: key.path: message` and exits 1.
    func load() throws -> GatewayConfiguration {
        do {
            return try ConfigLoader.load(
                path: path,
                environment: ProcessInfo.processInfo.environment,
                providerKinds: ProviderRegistry.standard.kindSpecs
            )
        } catch {
            for diagnostic in error.diagnostics { printError(diagnostic.description) }
            throw ExitCode(1)
        }
    }
}

/// Logs to standard error at `$LOG_LEVEL` (default `info`).
func makeLogger(_ label: String, defaultLevel: Logger.Level = .info, format: ServerSettings.LogFormat = .text) -> Logger {
    // Lines written while an API request is handled carry its request_id.
    var logger = Logger(label: label) { label in
        switch format {
        case .text: StreamLogHandler.standardError(label: label, metadataProvider: LogScope.metadataProvider)
        case .json: JSONLogHandler(label: label, metadataProvider: LogScope.metadataProvider)
        }
    }
    logger.logLevel = ProcessInfo.processInfo.environment["LOG_LEVEL"].flatMap(Logger.Level.init(rawValue:)) ?? defaultLevel
    return logger
}

func printError(_ line: String) {
    FileHandle.standardError.write(Data((line + "\n").utf8))
}

/// Prints a line and flushes, so that a process reading our output through a pipe sees it at once.
func say(_ line: String) {
    print(line)
    fflush(nil)
}
