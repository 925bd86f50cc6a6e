/// A position in a YAML text, 1-based.
struct YAMLMark: Hashable, Sendable, Comparable, CustomStringConvertible {
    var line: Int
    var column: Int

    static let start = YAMLMark(line: 1, column: 1)

    static func < (lhs: YAMLMark, rhs: YAMLMark) -> Bool {
        (lhs.line, lhs.column) < (rhs.line, rhs.column)
    }

    var description: String { "\(line):\(column)" }
}

/// How a scalar was written; a quoted or block scalar is always a string.
enum YAMLScalarStyle: Hashable, Sendable {
    case plain, singleQuoted, doubleQuoted, literal, folded
}

/// A scalar as written: its text, its style and its explicit tag (e.g. `tag:yaml.org,2002:str`), if any.
struct YAMLScalar: Hashable, Sendable {
    var text: String
    var style: YAMLScalarStyle
    var tag: String?

    init(_ text: String, style: YAMLScalarStyle = .plain, tag: String? = nil) {
        self.text = text
        self.style = style
        self.tag = tag
    }
}

/// One `key: value` pair of a mapping; keys are always scalars.
struct YAMLEntry: Hashable, Sendable {
    var key: String
    var keyMark: YAMLMark
    var value: YAMLNode
}

/// A node of a parsed YAML document, with the mark where it starts.
///
/// A tree from `YAMLReader` is never deeper than its `YAMLLimits.maxDepth`, so the synthesized
/// comparison and hashing, and any conversion that recurses over a tree, stay within a small stack.
struct YAMLNode: Hashable, Sendable {
    enum Content: Hashable, Sendable {
        case scalar(YAMLScalar)
        case sequence([YAMLNode])
        /// Entries in file order; keys are unique.
        case mapping([YAMLEntry])
    }

    var content: Content
    var mark: YAMLMark
}
