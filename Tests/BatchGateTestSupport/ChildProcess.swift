public import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A child process started with `posix_spawn`, for tests that run the `batchgate` binary or a script.
///
/// Not Foundation's `Process`: on Linux its `run()` reads `/proc/self/fd` with an over-read of each
/// directory entry (swift-corelibs-foundation PR #5472, not in Swift 6.3.1) and crashes now and then in a
/// test process with many sockets open. Output goes to temporary files, so a chatty child never blocks on
/// a full pipe; the child gets no descriptor of this process but its standard three.
public final class ChildProcess: @unchecked Sendable {
    public let pid: pid_t
    private let outputDirectory: URL
    private let lock = NSLock()
    private var exitStatus: Int32?

    /// Starts `executable` with `arguments` and exactly `environment`; `standardInput` is written to its
    /// stdin (empty: /dev/null).
    public init(executable: String, arguments: [String], environment: [String: String], standardInput: [UInt8] = []) throws {
        outputDirectory = FileManager.default.temporaryDirectory.appendingPathComponent("bg-child-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: outputDirectory, withIntermediateDirectories: true)
        let inputPath = outputDirectory.appendingPathComponent("stdin").path
        try Data(standardInput).write(to: URL(fileURLWithPath: inputPath))

        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, inputPath, O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, outputDirectory.appendingPathComponent("stdout").path, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        posix_spawn_file_actions_addopen(&actions, 2, outputDirectory.appendingPathComponent("stderr").path, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        #if canImport(Glibc)
        // glibc 2.34+; not exported to Swift by its module map, so looked up by name.
        typealias AddCloseFrom = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32
        if let symbol = dlsym(nil, "posix_spawn_file_actions_addclosefrom_np") {
            _ = unsafeBitCast(symbol, to: AddCloseFrom.self)(&actions, 3)
        }
        #endif

        let argv = ([executable] + arguments).map { strdup($0) } + [nil]
        let envp = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer {
            for pointer in argv { free(pointer) }
            for pointer in envp { free(pointer) }
        }
        var child: pid_t = 0
        let result = posix_spawn(&child, executable, &actions, nil, argv, envp)
        guard result == 0 else { throw SpawnError(executable: executable, code: result) }
        pid = child
    }

    /// Sends `signal` unless the child has been reaped already.
    public func signal(_ signal: Int32) {
        lock.lock()
        defer { lock.unlock() }
        if exitStatus == nil { kill(pid, signal) }
    }

    /// Waits for the child to end; returns its raw wait status.
    @discardableResult
    public func waitUntilExit() -> Int32 {
        lock.lock()
        defer { lock.unlock() }
        if let exitStatus { return exitStatus }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) == -1 && errno == EINTR {}
        exitStatus = status
        return status
    }

    /// Whether the child is still running (it is reaped if it has ended).
    public var isRunning: Bool {
        lock.lock()
        defer { lock.unlock() }
        guard exitStatus == nil else { return false }
        var status: Int32 = 0
        if waitpid(pid, &status, WNOHANG) == pid {
            exitStatus = status
            return false
        }
        return true
    }

    /// The exit code, or nil when a signal ended it (waits for the end).
    public var exitCode: Int32? {
        let status = waitUntilExit()
        return status & 0x7f == 0 ? (status >> 8) & 0xff : nil
    }

    /// What it wrote to stdout and stderr so far.
    public func output() -> (stdout: String, stderr: String) {
        func read(_ name: String) -> String {
            let data = (try? Data(contentsOf: outputDirectory.appendingPathComponent(name))) ?? Data()
            return String(decoding: data, as: UTF8.self)
        }
        return (read("stdout"), read("stderr"))
    }

    deinit {
        if isRunning {
            kill(pid, SIGKILL)
            waitUntilExit()
        }
        try? FileManager.default.removeItem(at: outputDirectory)
    }
}

/// `posix_spawn` refused to start a child.
public struct SpawnError: Error, CustomStringConvertible {
    public var executable: String
    public var code: Int32
    public var description: String { "cannot start \(executable): \(String(cString: strerror(code)))" }
}
