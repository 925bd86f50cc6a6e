import BatchGateCore
import Foundation
import Logging
import Synchronization

/// Log lines as JSON, one object per line on standard error, for log shippers (`server.log_format: json`):
/// `{"ts", "level", "label", "message", "source", <metadata…>}`. Metadata values are strings; nested
/// dictionaries and arrays are written as JSON. Lines never interleave.
struct JSONLogHandler: LogHandler {
    let label: String
    var logLevel: Logger.Level = .info
    var metadata: Logger.Metadata = [:]
    var metadataProvider: Logger.MetadataProvider?

    private static let output = Mutex<Void>(())

    init(label: String, metadataProvider: Logger.MetadataProvider?) {
        self.label = label
        self.metadataProvider = metadataProvider
    }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        var fields: [(String, String)] = [
            ("ts", Timestamp.now().rfc3339),
            ("level", event.level.rawValue),
            ("label", label),
            ("message", event.message.description),
            ("source", event.source),
        ]
        var merged = metadataProvider?.get() ?? [:]
        merged.merge(metadata) { _, new in new }
        merged.merge(event.metadata ?? [:]) { _, new in new }
        for (key, value) in merged.sorted(by: { $0.key < $1.key }) where !["ts", "level", "label", "message", "source"].contains(key) {
            fields.append((key, Self.text(value)))
        }
        var line = "{"
        for (index, (key, value)) in fields.enumerated() {
            if index > 0 { line += "," }
            line += Self.quoted(key) + ":" + Self.quoted(value)
        }
        line += "}\n"
        Self.output.withLock { _ in FileHandle.standardError.write(Data(line.utf8)) }
    }

    /// A metadata value as text: strings as they are, nested values as JSON.
    static func text(_ value: Logger.Metadata.Value) -> String {
        switch value {
        case .string(let string): string
        case .stringConvertible(let convertible): convertible.description
        case .array(let values): "[" + values.map { quoted(text($0)) }.joined(separator: ",") + "]"
        case .dictionary(let values):
            "{" + values.sorted { $0.key < $1.key }.map { quoted($0.key) + ":" + quoted(text($0.value)) }.joined(separator: ",") + "}"
        }
    }

    static func quoted(_ text: String) -> String { JSONText.quoted(text) }
}
