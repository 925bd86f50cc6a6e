import CBatchGateFuzzDriver
import Foundation

/// The command line of the fuzz drivers: `batchgate-fuzz list`, or
/// `batchgate-fuzz TARGET [libFuzzer flags] [corpus folders]` (or `BATCHGATE_FUZZ_TARGET=TARGET`).
///
/// A driver built with `-sanitize=fuzzer` hands the process to libFuzzer. Built without it (an
/// ordinary `swift build`), `batchgate-fuzz TARGET FILE_OR_FOLDER...` runs each input once and prints
/// the steps that accepted it: a way to reproduce a crash under the debugger.
public enum FuzzCommandLine {
    /// The entry libFuzzer's callback runs; set once before libFuzzer starts and only read after, on
    /// libFuzzer's thread.
    nonisolated(unsafe) private static var selected: FuzzEntry?

    /// Picks the entry from the command line or the environment and runs it.
    public static func main(entries: [FuzzEntry]) -> Never {
        let arguments = CommandLine.arguments
        let named = arguments.count > 1 && !arguments[1].hasPrefix("-") && !arguments[1].contains("/") ? arguments[1] : nil
        if named == "list" {
            for entry in entries { print("\(entry.name)\t\(entry.summary)") }
            exit(0)
        }
        guard let name = named ?? ProcessInfo.processInfo.environment["BATCHGATE_FUZZ_TARGET"] else {
            fail("usage: \(arguments[0]) list | TARGET [libFuzzer flags] [corpus folders]")
        }
        guard let entry = entries.first(where: { $0.name == name }) else {
            fail("unknown fuzz target '\(name)'; known: \(entries.map(\.name).joined(separator: ", "))")
        }
        let rest = Array(arguments.dropFirst(named == nil ? 1 : 2))
        guard batchgate_fuzz_has_libfuzzer() != 0 else { replay(entry, rest) }

        selected = entry
        // libFuzzer's fork and merge modes rerun this binary with the flags only: the name goes by the environment.
        setenv("BATCHGATE_FUZZ_TARGET", entry.name, 1)
        // libFuzzer reads every non-flag argument as a corpus folder: drop the target name.
        let skip = named == nil ? -1 : 1
        let count = Int(CommandLine.argc)
        let argv = UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>.allocate(capacity: count + 1)
        var kept = 0
        for index in 0..<count where index != skip {
            argv[kept] = CommandLine.unsafeArgv[index]
            kept += 1
        }
        argv[kept] = nil
        var argc = CInt(kept)
        var argvPointer: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = argv
        exit(
            batchgate_fuzz_run_driver(&argc, &argvPointer) { data, size in
                guard let entry = FuzzCommandLine.selected else { return 0 }
                let input = data.map { Array(UnsafeBufferPointer(start: $0, count: size)) } ?? []
                FuzzRuntime.runBlocking(entry, input)
                return 0
            }
        )
    }

    /// Runs each file (and each file in each folder) once, printing the steps that accepted it.
    private static func replay(_ entry: FuzzEntry, _ paths: [String]) -> Never {
        let files = paths.filter { !$0.hasPrefix("-") }.flatMap { path -> [String] in
            var isFolder: ObjCBool = false
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isFolder) else {
                fail("no such file or folder: \(path)")
            }
            guard isFolder.boolValue else { return [path] }
            let names = (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []
            return names.filter { !$0.hasPrefix(".") }.sorted().map { "\(path)/\($0)" }
        }
        guard !files.isEmpty else {
            fail("this driver was built without -sanitize=fuzzer: give input files or folders to run once (scripts/fuzz.sh builds the fuzzer)")
        }
        for file in files {
            guard let data = FileManager.default.contents(atPath: file) else { fail("cannot read \(file)") }
            let accepted = FuzzRuntime.runBlocking(entry, Array(data))
            print("\(file): accepted by \(accepted.isEmpty ? "no step" : accepted.sorted().joined(separator: ", "))")
        }
        exit(0)
    }

    /// Writes `message` to standard error and exits with status 2.
    private static func fail(_ message: String) -> Never {
        FileHandle.standardError.write(Data((message + "\n").utf8))
        exit(2)
    }
}
