/// A problem with a simulator's configuration or fault specification.
public struct SimulatorError: Error, Sendable, Hashable, CustomStringConvertible {
    /// Stable, machine-readable, e.g. `invalid_fault`.
    public var code: String
    /// For humans.
    public var message: String
    /// The part of the specification at fault, e.g. `ratelimit=2:1x`.
    public var field: String?

    /// Makes an error with its code, message and the failing part.
    public init(code: String, message: String, field: String? = nil) {
        self.code = code
        self.message = message
        self.field = field
    }

    /// `code at field: message`.
    public var description: String {
        field.map { "\(code) at \($0): \(message)" } ?? "\(code): \(message)"
    }
}
