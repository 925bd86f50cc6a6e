/// Replaces `${VAR}` and `${VAR:-default}` in a scalar's text with values from an environment.
///
/// `${VAR:-default}` uses `default` when `VAR` is unset or empty. `$${` writes a literal `${`.
/// A `$` not followed by `{` is kept as is.
struct EnvironmentExpansion: Hashable, Sendable {
    /// The text with every reference replaced.
    var text: String
    /// The variables referenced, in order; a value built from any of them is never printed.
    var variables: [String]
    /// The bytes the references brought in (values and defaults).
    var insertedBytes: Int = 0

    /// What can be wrong with a reference.
    enum Failure: Hashable, Sendable {
        /// `${VAR}` without a default, and `VAR` is not in the environment.
        case missing(String)
        /// `${` without a closing `}`.
        case unterminated
        /// The name between `${` and `}` (or `:-`) is not `[A-Za-z_][A-Za-z0-9_]*`.
        case invalidName(String)
        /// The references would bring in more than the byte budget allowed.
        case tooLong(budget: Int)

        var message: String {
            switch self {
            case .missing(let name): "environment variable \(name) is not set (write ${\(name):-default} to give a default)"
            case .unterminated: "unterminated ${ in value; write $${ for a literal ${"
            case .invalidName(let name): "\"\(name)\" is not a valid environment variable name in ${...}"
            case .tooLong(let budget): "the values read from the environment are longer than \(ByteCount.format(budget))"
            }
        }
    }

    /// Every reference that could not be expanded, in order.
    struct Failures: Error, Hashable, Sendable {
        var list: [Failure]
    }

    /// Expands every reference in `text`; returns all failures when any reference cannot be expanded.
    ///
    /// `budget` is the most bytes the references may bring in; past it, expansion stops with `.tooLong`
    /// before the text grows any further.
    static func expand(_ text: String, environment: [String: String], budget: Int = .max) -> Result<EnvironmentExpansion, Failures> {
        guard text.contains("$") else { return .success(EnvironmentExpansion(text: text, variables: [])) }
        var output = ""
        var variables: [String] = []
        var failures: [Failure] = []
        var inserted = 0
        var rest = Substring(text)
        while let dollar = rest.firstIndex(of: "$") {
            output += rest[..<dollar]
            let afterDollar = rest[rest.index(after: dollar)...]
            if afterDollar.hasPrefix("${") {
                output += "${"
                rest = afterDollar.dropFirst(2)
                continue
            }
            guard afterDollar.hasPrefix("{") else {
                output += "$"
                rest = afterDollar
                continue
            }
            let body = afterDollar.dropFirst()
            guard let close = body.firstIndex(of: "}") else {
                failures.append(.unterminated)
                break
            }
            let reference = body[..<close]
            rest = body[body.index(after: close)...]
            let name: Substring
            let fallback: Substring?
            if let separator = reference.firstRange(of: ":-") {
                name = reference[..<separator.lowerBound]
                fallback = reference[separator.upperBound...]
            } else {
                name = reference
                fallback = nil
            }
            guard isValidName(name) else {
                failures.append(.invalidName(String(name)))
                continue
            }
            variables.append(String(name))
            let replacement: Substring
            if let value = environment[String(name)], fallback == nil || !value.isEmpty {
                replacement = Substring(value)
            } else if let fallback {
                replacement = fallback
            } else {
                failures.append(.missing(String(name)))
                continue
            }
            inserted += replacement.utf8.count
            if inserted > budget {
                failures.append(.tooLong(budget: budget))
                break
            }
            output += replacement
        }
        if !failures.isEmpty { return .failure(Failures(list: failures)) }
        output += rest
        return .success(EnvironmentExpansion(text: output, variables: variables, insertedBytes: inserted))
    }

    private static func isValidName(_ name: Substring) -> Bool {
        guard let first = name.unicodeScalars.first, first == "_" || (first.isASCII && first.properties.isAlphabetic) else {
            return false
        }
        return name.unicodeScalars.allSatisfy { $0 == "_" || ($0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0))) }
    }
}
