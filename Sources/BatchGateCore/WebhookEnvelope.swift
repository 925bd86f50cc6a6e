/// The body of a webhook to a client (CONTRACT §4):
/// `{"id", "type", "created_at", "delivery": {"key", "attempt", "max_attempts"}, "data": <batch object>}`.
///
/// The batch object is fixed when the event is created; the envelope is written per attempt, so
/// `delivery.attempt` is always the attempt being made.
public enum WebhookEnvelope {
    public static func body(
        eventID: String,
        type: String,
        createdAt: Timestamp,
        deliveryKey: String,
        attempt: Int,
        maxAttempts: Int,
        data: [UInt8]
    ) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(data.count + 200)
        func append(_ text: String) { out.append(contentsOf: text.utf8) }
        append(#"{"id":"#)
        append(quoted(eventID))
        append(#","type":"#)
        append(quoted(type))
        append(#","created_at":"#)
        append(quoted(createdAt.rfc3339))
        append(#","delivery":{"key":"#)
        append(quoted(deliveryKey))
        append(#","attempt":\#(attempt),"max_attempts":\#(maxAttempts)},"data":"#)
        out.append(contentsOf: data)
        append("}")
        return out
    }

    /// A JSON string literal. Our ids, types and keys are ASCII, but escape anyway.
    static func quoted(_ text: String) -> String { JSONText.quoted(text) }
}
