public import Foundation

/// The JSON that stores keep of jobs, inputs, results and delivery attempts: every store back end writes
/// and reads the same bytes, so a database can move between them.
public enum StoredJSON {
    public static func encode(_ value: some Encodable) throws -> Data {
        try JSONEncoder().encode(value)
    }

    public static func decode<T: Decodable>(_ type: T.Type, from data: Data) throws -> T {
        try JSONDecoder().decode(type, from: data)
    }
}
