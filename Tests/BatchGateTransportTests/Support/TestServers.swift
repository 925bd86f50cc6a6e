import BatchGateCore
import Foundation
import Hummingbird
import Logging
import ServiceLifecycle
import Synchronization
import Testing

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// BatchGate's request type (Hummingbird also exports one called `HTTPRequest`).
typealias OutgoingRequest = BatchGateCore.HTTPRequest
/// BatchGate's response type (Hummingbird also exports one called `HTTPResponse`).
typealias ClientResponse = BatchGateCore.HTTPResponse

struct TestFailure: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

let quietLogger = Logger(label: "batchgate.transport.tests", factory: { _ in SwiftLogNoOpLogHandler() })

/// A request context that records the client's port, to tell connections apart.
struct PortContext: RequestContext {
    var coreContext: CoreRequestContextStorage
    let remotePort: Int?

    init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        remotePort = source.channel.remoteAddress?.port
    }
}

/// Runs a Hummingbird application on 127.0.0.1 with an OS-chosen port for the duration of `body`,
/// then shuts it down gracefully (cancelling a NIO server that holds an accepted, unserved connection
/// traps in NIO).
func withTestServer<R: Sendable>(
    _ router: Router<PortContext>,
    _ body: @Sendable (Int) async throws -> R
) async throws -> R {
    let (ports, portContinuation) = AsyncStream.makeStream(of: Int.self)
    let app = Application(
        router: router,
        configuration: .init(address: .hostname("127.0.0.1", port: 0)),
        onServerRunning: { channel in
            portContinuation.yield(channel.localAddress?.port ?? 0)
            portContinuation.finish()
        },
        logger: quietLogger
    )
    let services = ServiceGroup(services: [app], logger: quietLogger)
    return try await withThrowingTaskGroup(of: Void.self) { group in
        group.addTask {
            defer { portContinuation.finish() }
            try await services.run()
        }
        var iterator = ports.makeAsyncIterator()
        guard let port = await iterator.next(), port > 0 else {
            await services.triggerGracefulShutdown()
            throw TestFailure("the test server did not start")
        }
        do {
            let result = try await body(port)
            await services.triggerGracefulShutdown()
            try await group.waitForAll()
            return result
        } catch {
            await services.triggerGracefulShutdown()
            try? await group.waitForAll()
            throw error
        }
    }
}

/// Polls `condition` every few milliseconds until it holds; fails after `timeout`.
func waitUntil(
    timeout: Duration = .seconds(20),
    _ what: String,
    _ condition: () -> Bool
) async throws {
    let deadline = ContinuousClock.now + timeout
    while !condition() {
        guard ContinuousClock.now < deadline else { throw TestFailure("timed out waiting for \(what)") }
        try await Task.sleep(for: .milliseconds(5))
    }
}

/// A counter shared between a test and its server's handlers.
final class Counter: Sendable {
    private let value = Atomic<Int>(0)
    func increment() { value.add(1, ordering: .relaxed) }
    var current: Int { value.load(ordering: .relaxed) }
}

/// A set of values shared between a test and its server's handlers.
final class Recorder<Value: Hashable & Sendable>: Sendable {
    private let values = Mutex<[Value]>([])
    func record(_ value: Value) { values.withLock { $0.append(value) } }
    var all: [Value] { values.withLock { $0 } }
}

/// A loopback TCP server on a plain POSIX socket that answers one connection with fixed bytes and
/// closes it, for responses no well-behaved HTTP server would send.
final class RawResponseServer: Sendable {
    let port: Int
    private let listener: Int32
    private let finished = Mutex<CheckedContinuation<Void, Never>?>(nil)
    private let done = Atomic<Bool>(false)

    /// Binds 127.0.0.1 on an OS-chosen port.
    init() throws {
        let listener = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard listener >= 0 else { throw TestFailure("socket() failed: errno \(errno)") }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = 0
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(listener, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard bound == 0, listen(listener, 4) == 0 else {
            close(listener)
            throw TestFailure("bind/listen failed: errno \(errno)")
        }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(listener, $0, &length) }
        }
        self.listener = listener
        port = Int(UInt16(bigEndian: address.sin_port))
    }

    /// Serves one connection on its own thread: reads the request head, writes `response`, closes.
    /// Gives up after `timeout` without a client. Await ``finish()`` before the test ends.
    func serveOnce(response: [UInt8], timeout: Duration = .seconds(5)) {
        let listener = listener
        let timeoutMilliseconds = Int32(timeout.components.seconds * 1000)
        let thread = Thread { [self] in
            defer {
                close(listener)
                done.store(true, ordering: .sequentiallyConsistent)
                finished.withLock { $0.take()?.resume() }
            }
            var pollListener = pollfd(fd: listener, events: Int16(POLLIN), revents: 0)
            guard poll(&pollListener, 1, timeoutMilliseconds) == 1 else { return }
            let connection = accept(listener, nil, nil)
            guard connection >= 0 else { return }
            defer { close(connection) }
            var received: [UInt8] = []
            var buffer = [UInt8](repeating: 0, count: 4096)
            let headEnd: [UInt8] = Array("\r\n\r\n".utf8)
            while !received.ends(with: headEnd) && received.count < 65_536 {
                var pollConnection = pollfd(fd: connection, events: Int16(POLLIN), revents: 0)
                guard poll(&pollConnection, 1, timeoutMilliseconds) == 1 else { return }
                let count = buffer.withUnsafeMutableBytes { recv(connection, $0.baseAddress, $0.count, 0) }
                guard count > 0 else { return }
                received.append(contentsOf: buffer[0..<count])
            }
            _ = response.withUnsafeBytes { send(connection, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        }
        thread.start()
    }

    /// Returns once the serving thread has closed its sockets.
    func finish() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let resumeNow = finished.withLock { slot -> Bool in
                if done.load(ordering: .sequentiallyConsistent) { return true }
                slot = continuation
                return false
            }
            if resumeNow { continuation.resume() }
        }
    }
}

extension Array where Element == UInt8 {
    func ends(with suffix: [UInt8]) -> Bool {
        count >= suffix.count && Array(self[(count - suffix.count)...]) == suffix
    }
}

/// A loopback port with nothing listening on it: bound by the OS, then released.
func closedLoopbackPort() throws -> Int {
    let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard descriptor >= 0 else { throw TestFailure("socket() failed: errno \(errno)") }
    defer { close(descriptor) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    let bound = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
            bind(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
        }
    }
    guard bound == 0 else { throw TestFailure("bind failed: errno \(errno)") }
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    _ = withUnsafeMutablePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(descriptor, $0, &length) }
    }
    return Int(UInt16(bigEndian: address.sin_port))
}
