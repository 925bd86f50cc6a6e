public import BatchGateFuzzTargets

/// Every fuzz entry point, the decoder ones and those that need the server and transport modules.
public enum ServerFuzzEntries {
    /// The entries of this module.
    public static let server: [FuzzEntry] = [CreateRequestFuzz.entry, ServerSentEventFuzz.entry]

    /// Every entry, in `list` order.
    public static let all: [FuzzEntry] = FuzzEntries.decoders + server
}
