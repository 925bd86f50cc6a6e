package import BatchGateCore
package import BatchGateWebhooks
import Foundation

/// Reads and checks the body of `POST /v1/batches`, naming the failing field of any problem.
package enum CreateRequest {
    package struct Parsed: Sendable {
        package var route: RouteSettings
        package var input: JobInput
        var metadata: JSONValue
        var webhook: WebhookSubscription?
        /// The request with its object keys sorted: equal for equal requests, however their keys were ordered.
        var canonicalBody: [UInt8]
    }

    static let maxItems = 10_000
    static let maxMetadataBytes = 16_384
    static let maxCustomIDLength = 255

    package static func parse(_ body: [UInt8], routes: [String: RouteSettings], urlPolicy: WebhookURLPolicy) throws(GatewayError) -> Parsed {
        let root = try decodeJSON(body)
        guard case .object(let members) = root else { throw .invalid(nil, "The body must be a JSON object.") }
        try refuseUnknown(members, allowed: ["route", "input", "metadata", "webhook"], at: nil)

        guard let routeValue = members["route"] else { throw .invalid("route", "route is required.") }
        guard case .string(let routeName) = routeValue else { throw .invalid("route", "route must be a string.") }
        guard let route = routes[routeName] else {
            throw .invalid(
                "route",
                "Unknown route '\(QueryParameters.shown(routeName))'; known routes: \(routes.keys.sorted().joined(separator: ", "))."
            )
        }
        guard let inputValue = members["input"] else { throw .invalid("input", "input is required.") }
        guard case .object(let input) = inputValue else { throw .invalid("input", "input must be an object.") }

        let parsedInput: JobInput
        switch route.kind {
        case .urlBatch: parsedInput = .urlBatch(try urlBatch(input))
        case .documentTagging: parsedInput = .documentTagging(try documentTagging(input))
        }

        var metadata = JSONValue.object([:])
        if let value = members["metadata"], value != .null {
            guard value.isObject else { throw .invalid("metadata", "metadata must be an object.") }
            let size = (try? JSONEncoder().encode(value).count) ?? 0
            guard size <= maxMetadataBytes else {
                throw .invalid("metadata", "metadata is \(size) bytes; at most \(maxMetadataBytes) are allowed.")
            }
            metadata = value
        }
        var webhook: WebhookSubscription?
        if let value = members["webhook"], value != .null {
            webhook = try subscription(value, urlPolicy: urlPolicy)
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let canonical = (try? encoder.encode(root)).map { [UInt8]($0) } ?? body
        return Parsed(route: route, input: parsedInput, metadata: metadata, webhook: webhook, canonicalBody: canonical)
    }

    /// `webhook: {url, secret?, events?}` (CONTRACT §4).
    static func subscription(_ value: JSONValue, urlPolicy: WebhookURLPolicy) throws(GatewayError) -> WebhookSubscription {
        guard case .object(let fields) = value else { throw .invalid("webhook", "webhook must be an object with a url.") }
        try refuseUnknown(fields, allowed: ["url", "secret", "events"], at: "webhook")
        guard case .string(let url)? = fields["url"], !url.isEmpty else {
            throw .invalid("webhook.url", "webhook.url is required and must be a string.")
        }
        try urlPolicy.validate(url)
        var secret: String?
        if let value = fields["secret"], value != .null {
            guard case .string(let text) = value else { throw .invalid("webhook.secret", "webhook.secret must be a string.") }
            secret = try WebhookSecret(parsing: text, field: "webhook.secret").encoded
        }
        var events = WebhookEventType.defaultSubscription
        if let value = fields["events"], value != .null {
            guard case .array(let items) = value, !items.isEmpty else {
                throw .invalid("webhook.events", "webhook.events must be a non-empty array of event types.")
            }
            events = []
            for (index, item) in items.enumerated() {
                guard case .string(let name) = item, let type = WebhookEventType(rawValue: name) else {
                    throw .invalid(
                        "webhook.events[\(index)]",
                        "Unknown event type; one of \(WebhookEventType.allCases.map(\.rawValue).joined(separator: ", "))."
                    )
                }
                if !events.contains(type) { events.append(type) }
            }
        }
        return WebhookSubscription(url: url, secret: secret, events: events)
    }

    /// The body as JSON, checked for encoding, depth and structure before it is decoded (see ``JSONBody``).
    static func decodeJSON(_ body: [UInt8]) throws(GatewayError) -> JSONValue {
        try JSONBody.decode(body)
    }

    static func refuseUnknown(_ members: [String: JSONValue], allowed: Set<String>, at path: String?) throws(GatewayError) {
        for key in members.keys.sorted() where !allowed.contains(key) {
            let field = path.map { "\($0).\(key)" } ?? key
            throw .invalid(field, "Unknown field '\(key)'; allowed: \(allowed.sorted().joined(separator: ", ")).")
        }
    }

    private static func urlBatch(_ input: [String: JSONValue]) throws(GatewayError) -> URLBatchInput {
        try refuseUnknown(input, allowed: ["urls", "custom_ids", "schema", "options", "brands", "country"], at: "input")
        let urls = try strings(input["urls"], field: "input.urls", required: true) ?? []
        guard !urls.isEmpty else { throw .invalid("input.urls", "input.urls must list at least one URL.") }
        guard urls.count <= maxItems else {
            throw .invalid("input.urls", "input.urls has \(urls.count) URLs; at most \(maxItems) are allowed per batch.")
        }
        for (index, url) in urls.enumerated() where !isHTTPURL(url) {
            throw .invalid("input.urls[\(index)]", "Not an absolute http(s) URL.")
        }
        let customIDs = try strings(input["custom_ids"], field: "input.custom_ids", required: false)
        if let customIDs {
            guard customIDs.count == urls.count else {
                throw .invalid("input.custom_ids", "input.custom_ids has \(customIDs.count) entries for \(urls.count) URLs.")
            }
            for (index, customID) in customIDs.enumerated() where !(1...maxCustomIDLength).contains(customID.count) {
                throw .invalid("input.custom_ids[\(index)]", "A custom_id must be 1–\(maxCustomIDLength) characters long.")
            }
        }
        let schema = try object(input["schema"], field: "input.schema")
        let options = try object(input["options"], field: "input.options")
        let brands = try strings(input["brands"], field: "input.brands", required: false)
        var country: String?
        if let value = input["country"], value != .null {
            guard case .string(let code) = value, code.count == 2, code.allSatisfy({ $0.isLetter && $0.isASCII }) else {
                throw .invalid("input.country", "input.country must be a two-letter country code such as \"US\".")
            }
            country = code.uppercased()
        }
        return URLBatchInput(urls: urls, customIDs: customIDs, schema: schema, options: options, brands: brands, country: country)
    }

    private static func documentTagging(_ input: [String: JSONValue]) throws(GatewayError) -> DocumentTaggingInput {
        try refuseUnknown(input, allowed: ["documents", "config"], at: "input")
        guard case .array(let items)? = input["documents"] else {
            throw .invalid("input.documents", "input.documents must be an array of documents.")
        }
        guard !items.isEmpty else { throw .invalid("input.documents", "input.documents must list at least one document.") }
        guard items.count <= maxItems else {
            throw .invalid("input.documents", "input.documents has \(items.count) documents; at most \(maxItems) are allowed.")
        }
        var documents: [TaggingDocument] = []
        for (index, item) in items.enumerated() {
            let path = "input.documents[\(index)]"
            guard case .object(let fields) = item else { throw .invalid(path, "Each document must be an object.") }
            try refuseUnknown(fields, allowed: ["title", "file_path", "file_source_type", "description"], at: path)
            let title = try nonEmptyString(fields["title"], field: "\(path).title")
            let filePath = try nonEmptyString(fields["file_path"], field: "\(path).file_path")
            let sourceType = try nonEmptyString(fields["file_source_type"], field: "\(path).file_source_type")
            guard ["url", "s3", "local"].contains(sourceType) else {
                throw .invalid("\(path).file_source_type", "file_source_type must be one of url, s3, local.")
            }
            var description: String?
            if let value = fields["description"], value != .null {
                guard case .string(let text) = value else { throw .invalid("\(path).description", "description must be a string.") }
                description = text
            }
            documents.append(TaggingDocument(title: title, filePath: filePath, fileSourceType: sourceType, description: description))
        }
        return DocumentTaggingInput(documents: documents, config: try object(input["config"], field: "input.config"))
    }

    private static func strings(_ value: JSONValue?, field: String, required: Bool) throws(GatewayError) -> [String]? {
        guard let value, value != .null else {
            if required { throw .invalid(field, "\(field) is required.") }
            return nil
        }
        guard case .array(let items) = value else { throw .invalid(field, "\(field) must be an array of strings.") }
        var out: [String] = []
        out.reserveCapacity(items.count)
        for (index, item) in items.enumerated() {
            guard case .string(let text) = item else { throw .invalid("\(field)[\(index)]", "Must be a string.") }
            out.append(text)
        }
        return out
    }

    private static func object(_ value: JSONValue?, field: String) throws(GatewayError) -> JSONValue? {
        guard let value, value != .null else { return nil }
        guard value.isObject else { throw .invalid(field, "\(field) must be an object.") }
        return value
    }

    private static func nonEmptyString(_ value: JSONValue?, field: String) throws(GatewayError) -> String {
        guard case .string(let text)? = value, !text.isEmpty else {
            throw .invalid(field, "\(field) is required and must be a non-empty string.")
        }
        return text
    }

    /// An absolute http or https URL with a host and no whitespace.
    static func isHTTPURL(_ text: String) -> Bool {
        guard text.count <= 2048, !text.contains(where: { $0.isWhitespace }),
            let components = URLComponents(string: text),
            let scheme = components.scheme?.lowercased(), scheme == "http" || scheme == "https",
            let host = components.host, !host.isEmpty
        else { return false }
        return true
    }
}
