import CLibYAML

/// A problem found while reading YAML text: where, under which key, and what.
struct YAMLProblem: Hashable, Sendable {
    var mark: YAMLMark
    var path: ConfigPath
    var message: String
}

/// Reads one YAML document into a `YAMLNode` tree with libyaml's event parser.
///
/// Aliases are resolved by copying the anchored node; an alias to a node that is still open (a
/// recursive structure) is refused, and so is expansion past `maxNodes` nodes. Duplicate mapping keys,
/// non-scalar keys, merge keys (`<<`), unsupported tags and a second document are refused.
/// Every refusal is collected; a syntax error ends reading.
struct YAMLReader {
    /// The most nodes a document may hold once aliases are expanded.
    var maxNodes = 100_000

    /// Tags a scalar may carry; anything else is refused.
    static let scalarTags: Set<String> = [
        "!", "tag:yaml.org,2002:str", "tag:yaml.org,2002:int", "tag:yaml.org,2002:bool",
        "tag:yaml.org,2002:null", "tag:yaml.org,2002:float",
    ]

    /// Parses `bytes` (UTF-8, UTF-16 with BOM). Returns the root node (nil for an empty document) or the
    /// problems found.
    func read(_ bytes: [UInt8]) -> Result<YAMLNode?, YAMLProblems> {
        if bytes.isEmpty { return .success(nil) }
        let parser = UnsafeMutablePointer<yaml_parser_t>.allocate(capacity: 1)
        defer { parser.deallocate() }
        guard yaml_parser_initialize(parser) == 1 else {
            return .failure(YAMLProblems([YAMLProblem(mark: .start, path: .root, message: "out of memory while starting the YAML parser")]))
        }
        defer { yaml_parser_delete(parser) }
        let event = UnsafeMutablePointer<yaml_event_t>.allocate(capacity: 1)
        defer { event.deallocate() }

        // The parser reads straight from `buffer`, which stays valid until this closure returns.
        return bytes.withUnsafeBufferPointer { buffer in
            yaml_parser_set_input_string(parser, buffer.baseAddress, buffer.count)
            var builder = TreeBuilder(maxNodes: maxNodes)
            while true {
                guard yaml_parser_parse(parser, event) == 1 else {
                    builder.problems.append(Self.syntaxProblem(parser.pointee, bytes: buffer))
                    return .failure(YAMLProblems(builder.problems))
                }
                let finished = event.pointee.type == YAML_STREAM_END_EVENT
                let keepGoing = builder.handle(event.pointee)
                yaml_event_delete(event)
                if finished || !keepGoing { break }
            }
            if builder.problems.isEmpty { return .success(builder.root) }
            return .failure(YAMLProblems(builder.problems))
        }
    }

    /// libyaml's own description of why parsing stopped, at the mark it gives.
    static func syntaxProblem(_ parser: yaml_parser_t, bytes: UnsafeBufferPointer<UInt8>) -> YAMLProblem {
        let problem = parser.problem.map { String(cString: $0) } ?? "unknown problem"
        switch parser.error {
        case YAML_MEMORY_ERROR:
            return YAMLProblem(mark: .start, path: .root, message: "out of memory while parsing YAML")
        case YAML_READER_ERROR:
            var message = "cannot read the text: \(problem)"
            if parser.problem_value >= 0 {
                message += " (byte 0x\(String(parser.problem_value, radix: 16)))"
            }
            return YAMLProblem(mark: mark(ofByteOffset: parser.problem_offset, in: bytes), path: .root, message: message)
        default:
            var message = "YAML syntax error: \(problem)"
            if let context = parser.context.map({ String(cString: $0) }) {
                message += " (\(context) at \(YAMLMark(parser.context_mark)))"
            }
            return YAMLProblem(mark: YAMLMark(parser.problem_mark), path: .root, message: message)
        }
    }

    /// The 1-based line and column (in characters) of a byte offset into UTF-8 text.
    static func mark(ofByteOffset offset: Int, in bytes: UnsafeBufferPointer<UInt8>) -> YAMLMark {
        var line = 1
        var column = 1
        for byte in bytes.prefix(offset) {
            if byte == UInt8(ascii: "\n") {
                line += 1
                column = 1
            } else if byte & 0xC0 != 0x80 {
                column += 1
            }
        }
        return YAMLMark(line: line, column: column)
    }
}

/// The problems that stopped a YAML text from being read, in the order found.
struct YAMLProblems: Error, Hashable, Sendable {
    var problems: [YAMLProblem]

    init(_ problems: [YAMLProblem]) { self.problems = problems }
}

extension YAMLMark {
    /// A libyaml mark (0-based) as a 1-based mark.
    init(_ mark: yaml_mark_t) {
        self.init(line: Int(mark.line) + 1, column: Int(mark.column) + 1)
    }
}

/// Turns the parser's events into a node tree, one event at a time.
private struct TreeBuilder {
    private enum Frame {
        case sequence(mark: YAMLMark, anchor: String?, path: ConfigPath, items: [YAMLNode])
        case mapping(mark: YAMLMark, anchor: String?, path: ConfigPath, entries: [YAMLEntry], pendingKey: (key: String, mark: YAMLMark)?)
    }

    let maxNodes: Int
    var problems: [YAMLProblem] = []
    var root: YAMLNode?
    private var stack: [Frame] = []
    private var anchors: [String: YAMLNode] = [:]
    private var nodeCount = 0
    private var documents = 0

    init(maxNodes: Int) { self.maxNodes = maxNodes }

    /// Handles one event; false when reading must stop.
    mutating func handle(_ event: yaml_event_t) -> Bool {
        let mark = YAMLMark(event.start_mark)
        switch event.type {
        case YAML_DOCUMENT_START_EVENT:
            documents += 1
            if documents > 1 {
                problems.append(YAMLProblem(mark: mark, path: .root, message: "the file holds more than one YAML document; only one is allowed"))
                return false
            }
        case YAML_SCALAR_EVENT:
            let data = event.data.scalar
            let text = data.value.map { String(decoding: UnsafeBufferPointer(start: $0, count: data.length), as: UTF8.self) } ?? ""
            let tag = Self.string(data.tag)
            if let tag, !YAMLReader.scalarTags.contains(tag) {
                problems.append(YAMLProblem(mark: mark, path: currentPath, message: "unsupported tag \(tag)"))
            }
            let node = YAMLNode(content: .scalar(YAMLScalar(text, style: Self.style(data.style), tag: tag)), mark: mark)
            return add(node, anchor: Self.string(data.anchor))
        case YAML_SEQUENCE_START_EVENT:
            let data = event.data.sequence_start
            if let tag = Self.string(data.tag), tag != "tag:yaml.org,2002:seq" {
                problems.append(YAMLProblem(mark: mark, path: currentPath, message: "unsupported tag \(tag)"))
            }
            stack.append(.sequence(mark: mark, anchor: Self.string(data.anchor), path: currentPath, items: []))
        case YAML_MAPPING_START_EVENT:
            let data = event.data.mapping_start
            if let tag = Self.string(data.tag), tag != "tag:yaml.org,2002:map" {
                problems.append(YAMLProblem(mark: mark, path: currentPath, message: "unsupported tag \(tag)"))
            }
            stack.append(.mapping(mark: mark, anchor: Self.string(data.anchor), path: currentPath, entries: [], pendingKey: nil))
        case YAML_SEQUENCE_END_EVENT, YAML_MAPPING_END_EVENT:
            guard let frame = stack.popLast() else { return true }
            switch frame {
            case .sequence(let start, let anchor, _, let items):
                return add(YAMLNode(content: .sequence(items), mark: start), anchor: anchor)
            case .mapping(let start, let anchor, _, let entries, _):
                return add(YAMLNode(content: .mapping(entries), mark: start), anchor: anchor)
            }
        case YAML_ALIAS_EVENT:
            let name = Self.string(event.data.alias.anchor) ?? ""
            guard let node = anchors[name] else {
                let message = openAnchors.contains(name)
                    ? "alias *\(name) refers to a node that contains it; recursive structures are not allowed"
                    : "alias *\(name) refers to no anchor defined before it"
                problems.append(YAMLProblem(mark: mark, path: currentPath, message: message))
                return true
            }
            nodeCount += node.nodeCount - 1
            var copy = node
            copy.mark = mark
            return add(copy, anchor: nil)
        default:
            break
        }
        return true
    }

    /// The path of the node that comes next.
    private var currentPath: ConfigPath {
        switch stack.last {
        case nil:
            return .root
        case .sequence(_, _, let path, let items):
            return path.appending(index: items.count)
        case .mapping(_, _, let path, _, let pendingKey):
            return pendingKey.map { path.appending($0.key) } ?? path
        }
    }

    private var openAnchors: Set<String> {
        Set(stack.compactMap { frame in
            switch frame {
            case .sequence(_, let anchor, _, _), .mapping(_, let anchor, _, _, _): anchor
            }
        })
    }

    /// Places a finished node in its parent; false when the document grew past the node limit.
    private mutating func add(_ node: YAMLNode, anchor: String?) -> Bool {
        nodeCount += 1
        if nodeCount > maxNodes {
            problems.append(YAMLProblem(mark: node.mark, path: currentPath, message: "the document expands to more than \(maxNodes) nodes (check its aliases)"))
            return false
        }
        if let anchor { anchors[anchor] = node }
        guard let frame = stack.popLast() else {
            root = node
            return true
        }
        switch frame {
        case .sequence(let mark, let anchor, let path, var items):
            items.append(node)
            stack.append(.sequence(mark: mark, anchor: anchor, path: path, items: items))
        case .mapping(let mark, let anchor, let path, var entries, let pendingKey):
            if let pendingKey {
                entries.append(YAMLEntry(key: pendingKey.key, keyMark: pendingKey.mark, value: node))
                stack.append(.mapping(mark: mark, anchor: anchor, path: path, entries: entries, pendingKey: nil))
            } else {
                let key = keyText(node, mappingPath: path, entries: entries)
                stack.append(.mapping(mark: mark, anchor: anchor, path: path, entries: entries, pendingKey: (key, node.mark)))
            }
        }
        return true
    }

    /// The text of a mapping key, recording a problem for a non-scalar, merge or duplicate key.
    private mutating func keyText(_ node: YAMLNode, mappingPath: ConfigPath, entries: [YAMLEntry]) -> String {
        guard case .scalar(let scalar) = node.content else {
            problems.append(YAMLProblem(mark: node.mark, path: mappingPath, message: "a mapping key must be a scalar, not a \(node.content.kindName)"))
            return "?"
        }
        if scalar.text == "<<" && scalar.style == .plain {
            problems.append(YAMLProblem(mark: node.mark, path: mappingPath, message: "merge keys (<<) are not supported; write the keys out"))
        } else if let first = entries.first(where: { $0.key == scalar.text }) {
            problems.append(YAMLProblem(
                mark: node.mark, path: mappingPath.appending(scalar.text),
                message: "duplicate key \"\(scalar.text)\" (first given at \(first.keyMark))"))
        }
        return scalar.text
    }

    private static func string(_ pointer: UnsafeMutablePointer<yaml_char_t>?) -> String? {
        pointer.map { String(cString: UnsafeRawPointer($0).assumingMemoryBound(to: CChar.self)) }
    }

    private static func style(_ style: yaml_scalar_style_t) -> YAMLScalarStyle {
        switch style {
        case YAML_SINGLE_QUOTED_SCALAR_STYLE: .singleQuoted
        case YAML_DOUBLE_QUOTED_SCALAR_STYLE: .doubleQuoted
        case YAML_LITERAL_SCALAR_STYLE: .literal
        case YAML_FOLDED_SCALAR_STYLE: .folded
        default: .plain
        }
    }
}

extension YAMLNode.Content {
    /// `scalar`, `sequence` or `mapping`.
    var kindName: String {
        switch self {
        case .scalar: "scalar"
        case .sequence: "sequence"
        case .mapping: "mapping"
        }
    }
}
