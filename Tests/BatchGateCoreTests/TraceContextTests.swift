import Testing

@testable import BatchGateCore

/// The gateway's own trace sampling and `traceparent` handling (no tracer is bootstrapped here: these
/// are the pure parts).
struct TraceContextTests {
    @Test func traceParentFlagsAreRead() {
        #expect(TraceContext.isSampled("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01") == true)
        #expect(TraceContext.isSampled("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00") == false)
        #expect(TraceContext.isSampled("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-03") == true, "other flag bits are ignored")
        for invalid in [
            "", "garbage", "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-zz", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-011",
            "00-4bf92f3577b34da6a3ce929d0e0e4736_00f067aa0ba902b7x01",
        ] {
            #expect(TraceContext.isSampled(invalid) == nil, "\(invalid)")
        }
    }

    @Test func unsampledTraceParentsAreValidDistinctAndNotSampled() {
        var seen = Set<String>()
        for _ in 0..<1000 {
            let value = TraceContext.unsampledTraceParent()
            #expect(value.utf8.count == 55)
            #expect(TraceContext.isSampled(value) == false)
            #expect(value.allSatisfy { $0 == "-" || $0.isHexDigit })
            seen.insert(value)
        }
        #expect(seen.count == 1000)
    }

    @Test(arguments: [0.0, 0.01, 0.1, 0.5])
    func newTracesAreSampledAtTheConfiguredRate(_ sampling: Double) {
        let threshold = TraceContext.threshold(sampling: sampling)
        let draws = 200_000
        let kept = (0..<draws).reduce(0) { count, _ in count + (TraceContext.nextRandom() < threshold ? 1 : 0) }
        let rate = Double(kept) / Double(draws)
        // Five standard deviations of a binomial at this many draws.
        let tolerance = 5 * (sampling * (1 - sampling) / Double(draws)).squareRoot() + 1e-9
        #expect(abs(rate - sampling) <= tolerance, "kept \(rate) of new traces at sampling \(sampling)")
    }

    @Test func samplingEndsAreExact() {
        #expect(TraceContext.threshold(sampling: 1) == .max)
        #expect(TraceContext.threshold(sampling: 0.999_999_999_999_999_999) == .max)
        #expect(TraceContext.threshold(sampling: 0) == 0)
        #expect(TraceContext.threshold(sampling: -1) == 0)
        #expect(TraceContext.threshold(sampling: .nan) == 0)
    }
}
