import ArgumentParser
import KilnConfiguration

/// `builder-server check-config --config FILE`: validates a scheduler or build-server file and exits non-zero,
/// naming the key, when it is wrong.
struct CheckConfigCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check-config", abstract: "Validate a scheduler or build-server configuration file.")

    @Option(name: .long, help: "The configuration file to check.")
    var config: String

    func run() throws {
        do {
            switch try ConfigurationLoader.load(path: config) {
            case .scheduler(let scheduler):
                print("\(config): valid scheduler configuration (listens on \(scheduler.publicAddress))")
            case .builder(let builder):
                print("\(config): valid build-server configuration (\(builder.publicAddress), scheduler \(builder.schedulerURL))")
            }
        } catch let error as ConfigurationError {
            throw ValidationError("\(config): \(error)")
        }
    }
}
