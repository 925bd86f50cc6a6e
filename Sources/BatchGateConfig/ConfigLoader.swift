public import BatchGateCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// One problem in a configuration file, printed as `file:line:column: key.path: message`.
///
/// Line and column are 1-based. `keyPath` uses dots and `[i]` (`auth.api_keys[1].tenant`) and is empty for
/// problems that belong to no key, such as a YAML syntax error. The message never contains a secret: values
/// of secret-looking keys (`token`, `key`, `api_key`, `secret`, `password`, ...) and values built from
/// environment variables are described, never shown.
public struct ConfigDiagnostic: Error, Sendable, Hashable, CustomStringConvertible {
    /// The file as the caller named it.
    public var file: String
    /// 1-based line of the offending value, key or mapping.
    public var line: Int
    /// 1-based column, counted in characters.
    public var column: Int
    /// Where in the configuration, e.g. `routes.scrape.targets[0].weight`; empty when no key applies.
    public var keyPath: String
    /// What is wrong, for humans; never contains a secret.
    public var message: String

    /// A diagnostic at `file:line:column`.
    public init(file: String, line: Int, column: Int, keyPath: String, message: String) {
        self.file = file
        self.line = line
        self.column = column
        self.keyPath = keyPath
        self.message = message
    }

    /// `file:line:column: key.path: message`, or `file:line:column: message` without a key path.
    public var description: String {
        keyPath.isEmpty ? "\(file):\(line):\(column): \(message)" : "\(file):\(line):\(column): \(keyPath): \(message)"
    }
}

/// Every problem found in a configuration file, in file order.
public struct ConfigErrors: Error, Sendable, Hashable, CustomStringConvertible {
    /// Never empty when thrown by `ConfigLoader`.
    public var diagnostics: [ConfigDiagnostic]

    /// Wraps diagnostics, kept in the order given.
    public init(diagnostics: [ConfigDiagnostic]) {
        self.diagnostics = diagnostics
    }

    /// One diagnostic per line.
    public var description: String { diagnostics.map(\.description).joined(separator: "\n") }
}

/// Reads `providers.yaml` (CONTRACT §5) into a `GatewayConfiguration`.
///
/// The whole file is checked and every problem reported at once: YAML syntax (libyaml's message and mark),
/// duplicate keys, unknown keys, wrong types, values out of their bounds (`ConfigBounds`), missing keys,
/// `${VAR}` references to unset variables, unknown provider kinds and routes naming missing or unsuitable
/// providers. A file past a `YAMLLimits` bound (size, nesting depth, alias expansion) is refused as soon
/// as the bound is crossed. Nothing is returned unless the file has no problem at all.
public enum ConfigLoader {
    /// Loads the file at `path`; an unreadable or oversized file is one diagnostic at `path:1:1`.
    ///
    /// - Parameters:
    ///   - environment: what `${VAR}` reads, usually `ProcessInfo.processInfo.environment`.
    ///   - providerKinds: the provider kinds the gateway has, keyed by their `kind:` name.
    ///   - limits: the bounds the file is read within.
    public static func load(
        path: String,
        environment: [String: String],
        providerKinds: [String: ProviderKindSpec],
        limits: YAMLLimits = .standard
    ) throws(ConfigErrors) -> GatewayConfiguration {
        let bytes: [UInt8]
        switch readFile(path, limit: limits.maxFileBytes) {
        case .success(let contents):
            bytes = contents
        case .failure(let failure):
            throw ConfigErrors(diagnostics: [ConfigDiagnostic(file: path, line: 1, column: 1, keyPath: "", message: failure.description)])
        }
        return try load(bytes: bytes, file: path, environment: environment, providerKinds: providerKinds, limits: limits)
    }

    /// Loads configuration text; `file` is the name diagnostics carry.
    ///
    /// - Parameters:
    ///   - environment: what `${VAR}` reads.
    ///   - providerKinds: the provider kinds the gateway has, keyed by their `kind:` name.
    ///   - limits: the bounds the text is read within.
    public static func load(
        yaml: String,
        file: String,
        environment: [String: String],
        providerKinds: [String: ProviderKindSpec],
        limits: YAMLLimits = .standard
    ) throws(ConfigErrors) -> GatewayConfiguration {
        try load(bytes: Array(yaml.utf8), file: file, environment: environment, providerKinds: providerKinds, limits: limits)
    }

    /// Parses `200ms`, `15s`, `10m` or `1h`: a whole number and one unit. Nil for anything else, and for zero.
    public static func parseDuration(_ text: String) -> Duration? {
        if case .valid(let duration) = DurationText.parse(text) { return duration }
        return nil
    }

    static func load(
        bytes: [UInt8],
        file: String,
        environment: [String: String],
        providerKinds: [String: ProviderKindSpec],
        limits: YAMLLimits = .standard
    ) throws(ConfigErrors) -> GatewayConfiguration {
        let root: YAMLNode?
        switch YAMLReader(limits: limits).read(bytes) {
        case .success(let node):
            root = node
        case .failure(let failure):
            throw errors(failure.problems, file: file)
        }
        var decoder = ConfigDecoder(environment: environment, providerKinds: providerKinds, limits: limits)
        guard let configuration = decoder.decode(root), decoder.problems.isEmpty else {
            throw errors(decoder.problems, file: file)
        }
        return configuration
    }

    /// Diagnostics in file order; problems at the same place keep the order they were found in.
    static func errors(_ problems: [YAMLProblem], file: String) -> ConfigErrors {
        let ordered = problems.enumerated().sorted { ($0.element.mark, $0.offset) < ($1.element.mark, $1.offset) }
        return ConfigErrors(
            diagnostics: ordered.map { _, problem in
                ConfigDiagnostic(
                    file: file,
                    line: problem.mark.line,
                    column: problem.mark.column,
                    keyPath: problem.path.description,
                    message: problem.message
                )
            }
        )
    }

    /// The bytes of a file of at most `limit` bytes, or why they cannot be read. A regular file larger than
    /// `limit` is refused by its size, unread; anything else (a pipe) is read until it passes `limit`.
    static func readFile(_ path: String, limit: Int) -> Result<[UInt8], ReadFailure> {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { return .failure(ReadFailure(errno: errno)) }
        defer { close(descriptor) }
        var status = stat()
        guard fstat(descriptor, &status) == 0 else { return .failure(ReadFailure(errno: errno)) }
        if (status.st_mode & S_IFMT) == S_IFDIR { return .failure(ReadFailure(errno: EISDIR)) }
        if (status.st_mode & S_IFMT) == S_IFREG, status.st_size > limit {
            return .failure(ReadFailure(message: YAMLReader.sizeMessage(Int(status.st_size), limit: limit)))
        }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 64 * 1024)
        while true {
            let count = chunk.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, $0.count) }
            if count < 0 {
                if errno == EINTR { continue }
                return .failure(ReadFailure(errno: errno))
            }
            if count == 0 { return .success(bytes) }
            bytes.append(contentsOf: chunk[..<count])
            if bytes.count > limit {
                return .failure(ReadFailure(message: "the file is larger than its limit of \(ByteCount.format(limit))"))
            }
        }
    }

    /// Why a file could not be read, as its diagnostic says it.
    struct ReadFailure: Error, CustomStringConvertible {
        var description: String

        init(message: String) { description = message }

        /// `cannot read the file: ` and the system's reason, e.g. `No such file or directory`.
        init(errno code: Int32) {
            description = "cannot read the file: " + (strerror(code).map { String(cString: $0) } ?? "error \(code)")
        }
    }
}
