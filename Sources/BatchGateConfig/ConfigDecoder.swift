import BatchGateCore

/// A scalar's value once `${VAR}` references are expanded and its type is resolved.
struct ResolvedScalar: Hashable, Sendable {
    enum Value: Hashable, Sendable {
        case null
        case bool(Bool)
        case int(Int)
        case float(Double)
        case string(String)
    }

    var value: Value
    /// The text after expansion.
    var text: String
    var style: YAMLScalarStyle
    /// Environment variables the text was built from; such a value is never printed.
    var variables: [String]

    /// `a string`, `an integer`, ... for messages.
    var typeName: String {
        switch value {
        case .null: "null"
        case .bool: "a boolean"
        case .int: "an integer"
        case .float: "a number"
        case .string: "a string"
        }
    }
}

/// Decodes a `YAMLNode` tree into typed values, collecting a problem for everything wrong instead of
/// stopping at the first. Every reading method reports its own problems and returns nil on failure.
struct ConfigDecoder {
    let environment: [String: String]
    let providerKinds: [String: ProviderKindSpec]
    let limits: YAMLLimits
    private(set) var problems: [YAMLProblem] = []
    /// Bytes `${VAR}` references have brought in so far, against `limits.maxEnvironmentBytes`.
    private var environmentBytes = 0
    private var environmentBudgetSpent = false

    init(environment: [String: String], providerKinds: [String: ProviderKindSpec], limits: YAMLLimits = .standard) {
        self.environment = environment
        self.providerKinds = providerKinds
        self.limits = limits
    }

    mutating func report(_ mark: YAMLMark, _ path: ConfigPath, _ message: String) {
        problems.append(YAMLProblem(mark: mark, path: path, message: message))
    }

    // MARK: Secrets

    /// Whether values under a key of this name are secrets and must never be printed.
    static func isSensitive(_ key: String?) -> Bool {
        guard let key = key?.lowercased() else { return false }
        if ["key", "token", "secret", "password", "api_key", "apikey", "passphrase", "credentials"].contains(key) { return true }
        return key.contains("token") || key.contains("secret") || key.contains("password")
            || key.hasSuffix("_key") || key.hasSuffix("-key")
    }

    // MARK: Scalars

    /// Expands and resolves a scalar node; nil (with problems reported) for a collection or a failed expansion.
    mutating func scalar(_ node: YAMLNode, _ path: ConfigPath, expected: String) -> ResolvedScalar? {
        guard case .scalar(let scalar) = node.content else {
            report(node.mark, path, "expected \(expected), got a \(node.content.kindName)")
            return nil
        }
        let expansion: EnvironmentExpansion
        let budget = limits.maxEnvironmentBytes - environmentBytes
        switch EnvironmentExpansion.expand(scalar.text, environment: environment, budget: budget) {
        case .success(let result):
            expansion = result
            environmentBytes += result.insertedBytes
        case .failure(let failures):
            for failure in failures.list {
                guard case .tooLong = failure else {
                    report(node.mark, path, failure.message)
                    continue
                }
                // Reported once, where the budget ran out; later references fail silently.
                if !environmentBudgetSpent {
                    let limit = ByteCount.format(limits.maxEnvironmentBytes)
                    report(node.mark, path, "the values read from the environment add up to more than \(limit) in this file; the limit is \(limit)")
                }
                environmentBudgetSpent = true
            }
            return nil
        }
        guard let value = Self.resolve(expansion.text, style: scalar.style, tag: scalar.tag) else {
            let tag = scalar.tag.map { $0.replacingPrefix("tag:yaml.org,2002:", with: "!!") } ?? ""
            let shown = expansion.variables.isEmpty && !Self.isSensitive(path.lastKey) ? " \(Self.quoted(expansion.text))" : ""
            report(node.mark, path, "value\(shown) is not valid for its tag \(tag)")
            return nil
        }
        return ResolvedScalar(value: value, text: expansion.text, style: scalar.style, variables: expansion.variables)
    }

    /// The YAML 1.2 core schema: a plain scalar may be null, a boolean, an integer or a number; a quoted
    /// or block scalar, or one tagged `!!str` or `!`, is a string. Nil when an explicit tag does not fit.
    static func resolve(_ text: String, style: YAMLScalarStyle, tag: String?) -> ResolvedScalar.Value? {
        switch tag {
        case "tag:yaml.org,2002:str", "!": return .string(text)
        case "tag:yaml.org,2002:int": return parseInteger(text).map { .int($0) }
        case "tag:yaml.org,2002:bool": return parseBool(text).map { .bool($0) }
        case "tag:yaml.org,2002:null": return isNull(text) ? .null : nil
        case "tag:yaml.org,2002:float": return parseInteger(text).map { .float(Double($0)) } ?? parseFloat(text).map { .float($0) }
        default: break
        }
        guard style == .plain else { return .string(text) }
        if isNull(text) { return .null }
        if let bool = parseBool(text) { return .bool(bool) }
        if let int = parseInteger(text) { return .int(int) }
        if let float = parseFloat(text) { return .float(float) }
        return .string(text)
    }

    static func isNull(_ text: String) -> Bool { ["", "~", "null", "Null", "NULL"].contains(text) }

    static func parseBool(_ text: String) -> Bool? {
        switch text {
        case "true", "True", "TRUE": true
        case "false", "False", "FALSE": false
        default: nil
        }
    }

    /// Decimal (optionally signed), `0x` hex or `0o` octal; nil on overflow.
    static func parseInteger(_ text: String) -> Int? {
        if text.hasPrefix("0x") { return Int(text.dropFirst(2), radix: 16) }
        if text.hasPrefix("0o") { return Int(text.dropFirst(2), radix: 8) }
        let digits = text.first == "+" || text.first == "-" ? text.dropFirst() : Substring(text)
        guard !digits.isEmpty, digits.allSatisfy({ $0.isASCII && $0.isNumber }) else { return nil }
        return Int(text)
    }

    static func parseFloat(_ text: String) -> Double? {
        switch text {
        case ".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF": return .infinity
        case "-.inf", "-.Inf", "-.INF": return -.infinity
        case ".nan", ".NaN", ".NAN": return .nan
        default: break
        }
        let allowed = Set("0123456789+-.eE")
        guard text.contains(where: \.isNumber), text.allSatisfy({ allowed.contains($0) }) else { return nil }
        return Double(text)
    }

    /// How a found value reads in a message: `"fast"`, `12`, or a note that the value is not shown.
    func describe(_ scalar: ResolvedScalar, _ path: ConfigPath, sensitive: Bool = false) -> String {
        if !scalar.variables.isEmpty {
            let names = scalar.variables.map { "${\($0)}" }.joined(separator: ", ")
            return "\(scalar.typeName) from \(names) (value not shown)"
        }
        if sensitive || Self.isSensitive(path.lastKey) { return "\(scalar.typeName) (value not shown)" }
        switch scalar.value {
        case .null: return "null"
        case .string(let text): return Self.quoted(text)
        case .bool, .int, .float: return scalar.text
        }
    }

    /// A value as a message names it: as written (`airops`), or where it came from (`the value of ${P}`)
    /// when it was built from the environment.
    func shown(_ scalar: ResolvedScalar) -> String {
        if scalar.variables.isEmpty { return scalar.text }
        return "the value of " + scalar.variables.map { "${\($0)}" }.joined(separator: ", ")
    }

    /// Text in double quotes, shortened past 60 characters.
    static func quoted(_ text: String) -> String {
        let short = text.count > 60 ? text.prefix(57) + "..." : Substring(text)
        var escaped = ""
        for character in short {
            switch character {
            case "\"": escaped += "\\\""
            case "\\": escaped += "\\\\"
            case "\n": escaped += "\\n"
            case "\t": escaped += "\\t"
            default: escaped.append(character)
            }
        }
        return "\"\(escaped)\""
    }

    // MARK: Typed values

    /// A string; any non-null scalar is accepted as written. `nonEmpty` refuses `""`.
    mutating func string(_ node: YAMLNode, _ path: ConfigPath, nonEmpty: Bool = true) -> String? {
        stringScalar(node, path, nonEmpty: nonEmpty)?.text
    }

    /// A string scalar, with what is needed to describe it in a later message.
    mutating func stringScalar(_ node: YAMLNode, _ path: ConfigPath, nonEmpty: Bool = true) -> ResolvedScalar? {
        guard let scalar = scalar(node, path, expected: "a string") else { return nil }
        if case .null = scalar.value {
            report(node.mark, path, "expected a string, got null")
            return nil
        }
        if nonEmpty && scalar.text.isEmpty {
            let source = scalar.variables.isEmpty ? "" : " (it comes from \(scalar.variables.map { "${\($0)}" }.joined(separator: ", ")))"
            report(node.mark, path, "must not be empty\(source)")
            return nil
        }
        return scalar
    }

    /// An integer within `range`; `bound` writes the range's ends in the message.
    mutating func int(
        _ node: YAMLNode,
        _ path: ConfigPath,
        in range: ClosedRange<Int> = Int.min...Int.max,
        bound: (Int) -> String = { "\($0)" }
    ) -> Int? {
        guard let scalar = scalar(node, path, expected: "an integer") else { return nil }
        guard case .int(let value) = scalar.value else {
            var message = "expected an integer, got \(describe(scalar, path))"
            if scalar.style != .plain, Self.parseInteger(scalar.text) != nil { message += "; quoted values are strings: remove the quotes" }
            report(node.mark, path, message)
            return nil
        }
        guard range.contains(value) else {
            let bounds: String
            switch (range.lowerBound == Int.min, range.upperBound == Int.max) {
            case (false, true): bounds = "at least \(bound(range.lowerBound))"
            case (true, false): bounds = "at most \(bound(range.upperBound))"
            default: bounds = "between \(bound(range.lowerBound)) and \(bound(range.upperBound))"
            }
            report(node.mark, path, "must be \(bounds), got \(describe(scalar, path))")
            return nil
        }
        return value
    }

    /// `true` or `false`.
    mutating func bool(_ node: YAMLNode, _ path: ConfigPath) -> Bool? {
        guard let scalar = scalar(node, path, expected: "true or false") else { return nil }
        guard case .bool(let value) = scalar.value else {
            var message = "expected true or false, got \(describe(scalar, path))"
            if scalar.style != .plain, Self.parseBool(scalar.text) != nil { message += "; quoted values are strings: remove the quotes" }
            report(node.mark, path, message)
            return nil
        }
        return value
    }

    /// A positive duration such as `200ms`, `15s`, `10m` or `1h`, within `range`.
    mutating func duration(_ node: YAMLNode, _ path: ConfigPath, in range: ClosedRange<Duration>) -> Duration? {
        durationScalar(node, path, in: range)?.duration
    }

    /// A duration within `range`, with its scalar so a later message can name it without showing a value
    /// that came from the environment.
    mutating func durationScalar(
        _ node: YAMLNode,
        _ path: ConfigPath,
        in range: ClosedRange<Duration>
    ) -> (duration: Duration, scalar: ResolvedScalar)? {
        let expected = "a duration like 200ms, 15s or 10m"
        guard let scalar = scalar(node, path, expected: expected) else { return nil }
        switch DurationText.parse(scalar.text) {
        case .valid(let duration) where scalar.value == .string(scalar.text):
            guard range.contains(duration) else {
                let bounds = "between \(DurationText.format(range.lowerBound)) and \(DurationText.format(range.upperBound))"
                report(node.mark, path, "must be \(bounds), got \(describe(scalar, path))")
                return nil
            }
            return (duration, scalar)
        case .zero where scalar.value == .string(scalar.text):
            report(node.mark, path, "must be longer than zero, got \(describe(scalar, path))")
        default:
            report(node.mark, path, "expected \(expected), got \(describe(scalar, path))")
        }
        return nil
    }

    /// An `http` or `https` URL with a host and no credentials, query or fragment; trailing slashes removed.
    mutating func httpURL(_ node: YAMLNode, _ path: ConfigPath) -> String? {
        guard let scalar = stringScalar(node, path) else { return nil }
        switch URLText.httpURL(scalar.text) {
        case .success(let url):
            return url
        case .failure(let problem):
            let got = problem.revealsSecret ? "" : ", got \(describe(scalar, path))"
            report(node.mark, path, problem.message + got)
            return nil
        }
    }

    // MARK: Collections

    /// A mapping's entries, looked up by key.
    struct Mapping {
        var node: YAMLNode
        var entries: [YAMLEntry]

        subscript(key: String) -> YAMLNode? { entries.first { $0.key == key }?.value }

        /// The mark of `key`'s key, or of the mapping when it is absent.
        func keyMark(_ key: String) -> YAMLMark { entries.first { $0.key == key }?.keyMark ?? node.mark }
    }

    /// A mapping whose keys are all in `allowed` (nil: any key) and which has every key in `required`.
    /// Unknown keys and missing keys are reported; the mapping is returned anyway so its valid keys can
    /// still be checked.
    mutating func mapping(_ node: YAMLNode, _ path: ConfigPath, allowed: [String]?, required: [String] = []) -> Mapping? {
        guard case .mapping(let entries) = node.content else {
            report(node.mark, path, "expected a mapping, got \(kindDescription(node, path))")
            return nil
        }
        if let allowed {
            for entry in entries where !allowed.contains(entry.key) {
                report(entry.keyMark, path.appending(entry.key), Self.unknownKeyMessage(entry.key, allowed: allowed))
            }
        }
        for key in required where !entries.contains(where: { $0.key == key }) {
            report(node.mark, path, "missing required key \"\(key)\"")
        }
        return Mapping(node: node, entries: entries)
    }

    /// A sequence's items.
    mutating func sequence(_ node: YAMLNode, _ path: ConfigPath) -> [YAMLNode]? {
        guard case .sequence(let items) = node.content else {
            report(node.mark, path, "expected a sequence, got \(kindDescription(node, path))")
            return nil
        }
        return items
    }

    /// `a mapping`, `a sequence`, or a scalar as `describe` shows it.
    func kindDescription(_ node: YAMLNode, _ path: ConfigPath) -> String {
        switch node.content {
        case .mapping: return "a mapping"
        case .sequence: return "a sequence"
        case .scalar(let scalar):
            // Shown as written: an unexpanded `${VAR}` reveals nothing of the environment.
            let value = Self.resolve(scalar.text, style: scalar.style, tag: scalar.tag) ?? .string(scalar.text)
            let resolved = ResolvedScalar(value: value, text: scalar.text, style: scalar.style, variables: [])
            if Self.isSensitive(path.lastKey) { return resolved.typeName + " (value not shown)" }
            return describe(resolved, path)
        }
    }

    static func unknownKeyMessage(_ key: String, allowed: [String]) -> String {
        var message = "unknown key \(quoted(key))"
        // A suggestion is at most 2 edits away, so keys of very different lengths are never compared.
        let length = key.count
        let best = allowed.lazy.filter { abs($0.count - length) <= 2 }.map { (name: $0, distance: editDistance(key, $0)) }
            .min { $0.distance < $1.distance }
        if let best, best.distance <= max(1, min(2, length / 3)) {
            message += " (did you mean \"\(best.name)\"?)"
        }
        return message + "; allowed keys: " + allowed.sorted().joined(separator: ", ")
    }

    /// The Levenshtein distance between two strings.
    static func editDistance(_ a: String, _ b: String) -> Int {
        let a = Array(a)
        let b = Array(b)
        if a.isEmpty || b.isEmpty { return max(a.count, b.count) }
        var previous = Array(0...b.count)
        var current = previous
        for i in 1...a.count {
            current[0] = i
            for j in 1...b.count {
                current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
            }
            swap(&previous, &current)
        }
        return previous[b.count]
    }
}

extension String {
    fileprivate func replacingPrefix(_ prefix: String, with replacement: String) -> String {
        hasPrefix(prefix) ? replacement + dropFirst(prefix.count) : self
    }
}
