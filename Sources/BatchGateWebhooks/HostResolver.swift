public import BatchGateCore
import Dispatch
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Turns a host name into addresses. The policy asks it at send time; tests inject their own.
public protocol HostResolver: Sendable {
    /// Every address of `host` (IPv4 and IPv6). Throws `GatewayError` with code `unresolvable_host`
    /// when the name does not resolve or the lookup timed out.
    func resolve(host: String, port: Int) async throws(GatewayError) -> [IPAddress]
}

/// Resolves with the system's `getaddrinfo`, on a dedicated dispatch queue so a slow lookup never
/// blocks a thread of the Swift cooperative pool.
///
/// A lookup that takes longer than `timeout` is abandoned (the blocked queue thread finishes on its
/// own); task cancellation abandons it too.
public struct SystemHostResolver: HostResolver {
    /// How long one lookup may take.
    public var timeout: Duration
    /// The error field used in failures.
    public var field: String

    private static let queue = DispatchQueue(label: "batchgate.webhooks.resolver", attributes: .concurrent)

    /// A resolver with a per-lookup time limit.
    public init(timeout: Duration = .seconds(10), field: String = "webhook.url") {
        self.timeout = timeout
        self.field = field
    }

    /// Every address of `host`, deduplicated, in the order `getaddrinfo` gave them.
    public func resolve(host: String, port: Int) async throws(GatewayError) -> [IPAddress] {
        let lookup = PendingLookup()
        let field = self.field
        let timeout = self.timeout
        let result = await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Result<[IPAddress], GatewayError>, Never>) in
                lookup.install(continuation)
                Self.queue.async {
                    lookup.complete(Self.getAddresses(host: host, port: port, field: field))
                }
                Self.queue.asyncAfter(deadline: .now() + .milliseconds(Int(timeout.milliseconds))) {
                    lookup.complete(
                        .failure(
                            GatewayError(
                                status: 400,
                                code: WebhookURLPolicy.unresolvableCode,
                                message: "Looking up '\(host)' timed out after \(formatDuration(timeout)).",
                                field: field
                            )
                        )
                    )
                }
            }
        } onCancel: {
            lookup.complete(.failure(GatewayError(status: 499, code: "cancelled", message: "The lookup of '\(host)' was cancelled.", field: field)))
        }
        return try result.get()
    }

    private static func getAddresses(host: String, port: Int, field: String) -> Result<[IPAddress], GatewayError> {
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        #if canImport(Darwin)
        hints.ai_socktype = SOCK_STREAM
        #else
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        #endif
        var list: UnsafeMutablePointer<addrinfo>?
        let status = getaddrinfo(host, String(port), &hints, &list)
        guard status == 0 else {
            let reason = gai_strerror(status).map { String(cString: $0) } ?? "error \(status)"
            return .failure(
                GatewayError(
                    status: 400,
                    code: WebhookURLPolicy.unresolvableCode,
                    message: "'\(host)' did not resolve: \(reason).",
                    field: field
                )
            )
        }
        defer { freeaddrinfo(list) }
        var addresses: [IPAddress] = []
        var cursor = list
        while let entry = cursor {
            if let sockaddrPointer = entry.pointee.ai_addr {
                switch entry.pointee.ai_family {
                case AF_INET:
                    let address = UnsafeRawPointer(sockaddrPointer).loadUnaligned(as: sockaddr_in.self)
                    let value = UInt32(bigEndian: address.sin_addr.s_addr)
                    addresses.append(.v4(value))
                case AF_INET6:
                    let address = UnsafeRawPointer(sockaddrPointer).loadUnaligned(as: sockaddr_in6.self)
                    let bytes = withUnsafeBytes(of: address.sin6_addr) { [UInt8]($0) }
                    addresses.append(.v6(bytes))
                default:
                    break
                }
            }
            cursor = entry.pointee.ai_next
        }
        var seen = Set<IPAddress>()
        return .success(addresses.filter { seen.insert($0).inserted })
    }
}

/// One lookup's result slot: the first of (answer, timeout, cancellation) wins; later ones are dropped.
private final class PendingLookup: Sendable {
    private enum State {
        case idle
        case waiting(CheckedContinuation<Result<[IPAddress], GatewayError>, Never>)
        case finished(Result<[IPAddress], GatewayError>?)
    }

    private let state = Mutex<State>(.idle)

    func install(_ continuation: CheckedContinuation<Result<[IPAddress], GatewayError>, Never>) {
        let early: Result<[IPAddress], GatewayError>? = state.withLock { state in
            switch state {
            case .idle:
                state = .waiting(continuation)
                return nil
            case .finished(let result):
                state = .finished(nil)
                return result
            case .waiting:
                preconditionFailure("a lookup is awaited once")
            }
        }
        if let early { continuation.resume(returning: early) }
    }

    func complete(_ result: Result<[IPAddress], GatewayError>) {
        let waiter: CheckedContinuation<Result<[IPAddress], GatewayError>, Never>? = state.withLock { state in
            switch state {
            case .idle:
                state = .finished(result)
                return nil
            case .waiting(let continuation):
                state = .finished(nil)
                return continuation
            case .finished:
                return nil
            }
        }
        waiter?.resume(returning: result)
    }
}

/// `30s`, `1.5s` or `250ms`, for messages.
func formatDuration(_ duration: Duration) -> String {
    let milliseconds = duration.milliseconds
    if milliseconds % 1000 == 0 { return "\(milliseconds / 1000)s" }
    if milliseconds >= 1000 {
        let tenths = milliseconds / 100
        if milliseconds % 100 == 0 { return "\(tenths / 10).\(tenths % 10)s" }
    }
    return "\(milliseconds)ms"
}
