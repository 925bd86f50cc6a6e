import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

#if canImport(Glibc)
private let systemBind = Glibc.bind
#else
private let systemBind = Darwin.bind
#endif

/// Free TCP ports on 127.0.0.1, for servers whose URL must be known before they start.
public enum LoopbackPort {
    /// Ports below the kernel's ephemeral range (32768–60999 on Linux), so a port handed out here is never
    /// also picked by the kernel for a listener on port 0 or an outgoing connection before it is used.
    static let range = 20_000..<32_768
    /// Every port handed out by this process, never handed out twice.
    private static let handedOut = Mutex<Set<Int>>([])
    /// Processes using this type at once (two test runs side by side) take separate slices of `range`: each
    /// holds an exclusive `flock` on one slot file for its lifetime (one descriptor, released by the kernel
    /// when the process ends) and draws ports from that slot's slice.
    static let slotCount = 8
    static let slotDirectory = "/tmp/batchgate-loopback-ports"
    static let slice: Range<Int> = {
        let size = range.count / slotCount
        let slot = claimSlot() ?? Int.random(in: 0..<slotCount)
        return (range.lowerBound + slot * size)..<(range.lowerBound + (slot + 1) * size)
    }()

    /// A port on 127.0.0.1 that is free now and that this process has not handed out before, from this
    /// process's slice of the range below the kernel's ephemeral ports when possible, else one the kernel picks.
    public static func reserve() throws -> Int {
        for _ in 0..<200 {
            let candidate = Int.random(in: slice)
            let fresh = handedOut.withLock { $0.insert(candidate).inserted }
            if fresh, isFree(candidate) { return candidate }
        }
        let port = try kernelPort()
        handedOut.withLock { _ = $0.insert(port) }
        return port
    }

    /// The first slot whose lock file this process could lock; nil when every slot is taken or locking is
    /// not possible here (then slices may be shared, and the bind check still applies).
    static func claimSlot() -> Int? {
        _ = mkdir(slotDirectory, 0o777)
        for slot in 0..<slotCount {
            let fd = open("\(slotDirectory)/slot-\(slot)", O_CREAT | O_RDWR | O_CLOEXEC, 0o666)
            guard fd >= 0 else { return nil }
            if flock(fd, LOCK_EX | LOCK_NB) == 0 { return slot }  // kept open: the lock lasts as long as the process
            close(fd)
        }
        return nil
    }

    /// Whether `port` can be bound on 127.0.0.1 now.
    static func isFree(_ port: Int) -> Bool {
        (try? bind(port: port)) != nil
    }

    /// A port the kernel picks, released at once.
    static func kernelPort() throws -> Int {
        try bind(port: 0)
    }

    private static func bind(port: Int) throws -> Int {
        #if canImport(Glibc)
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        #else
        let fd = socket(AF_INET, SOCK_STREAM, 0)
        #endif
        guard fd >= 0 else { throw SimulatorError(code: "no_socket", message: "socket() failed: errno \(errno)") }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = UInt16(port).bigEndian
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { systemBind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0 else { throw SimulatorError(code: "no_port", message: "bind() failed: errno \(errno)") }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let named = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        guard named == 0 else { throw SimulatorError(code: "no_port", message: "getsockname() failed: errno \(errno)") }
        return Int(UInt16(bigEndian: address.sin_port))
    }
}
