import ArgumentParser
import BatchGateCore

struct Validate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Check a providers.yaml and print each problem as file:line:column: key.path: message."
    )

    @OptionGroup var options: ConfigOption

    func run() async throws {
        let configuration = try options.load()
        say("\(options.path): OK (\(configuration.providers.count) providers, \(configuration.routes.count) routes)")
    }
}
