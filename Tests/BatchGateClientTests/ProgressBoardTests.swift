import BatchGateClient
import BatchGateCore
import Testing

@Suite struct ProgressBoardTests {
    let running = JobProgress(id: "bat_a", lifecycle: "running", percent: 40, succeeded: 20, failed: 0, total: 50, elapsedSeconds: 12.34)
    let done = JobProgress(id: "bat_b", lifecycle: "completed", percent: 100, succeeded: 48, failed: 2, total: 50, elapsedSeconds: 3)

    @Test func plainModeGivesOneLinePerUpdateAndFinalLines() {
        var board = ProgressBoard(ids: ["bat_a", "bat_b"], mode: .plain)
        #expect(board.update(running) == "bat_a running 40% 20/0/50 12.3s")
        #expect(board.update(done) == "bat_b completed 100% 48/2/50 3.0s")
        #expect(board.finalLines() == ["final bat_a running 40% 20/0/50 12.3s", "final bat_b completed 100% 48/2/50 3.0s"])
        #expect(!board.allCompleted)
        var finished = running
        finished.lifecycle = "completed"
        finished.percent = 100
        board.update(finished)
        #expect(board.allCompleted)
    }

    @Test func problemIsShown() {
        var job = running
        job.problem = "not_found"
        #expect(ProgressBoard.plainLine(job) == "bat_a running 40% 20/0/50 12.3s (not_found)")
    }

    @Test func terminalModeRedrawsInPlace() {
        var board = ProgressBoard(ids: ["bat_a", "bat_b"], mode: .terminal(barWidth: 10))
        let first = board.redraw()
        #expect(first == "\r\u{1B}[2Kbat_a [----------]   0% 0/0/0 waiting 0.0s\n\r\u{1B}[2Kbat_b [----------]   0% 0/0/0 waiting 0.0s\n")
        board.update(running)
        board.update(done)
        let second = board.redraw()
        #expect(
            second
                == "\u{1B}[2A\r\u{1B}[2Kbat_a [####------]  40% 20/0/50 running 12.3s\n\r\u{1B}[2Kbat_b [##########] 100% 48/2/50 completed 3.0s\n"
        )
    }

    @Test func readsABatchObject() throws {
        let batch: JSONValue = .object([
            "id": "bat_x", "lifecycle_status": "completed",
            "progress": .object(["total": 4, "succeeded": 3, "failed": 1, "pending": 0, "percent": 100]),
            "created_at": "2026-01-15T10:30:00.000Z", "completed_at": "2026-01-15T10:30:12.500Z",
        ])
        let progress = JobProgress(batch: batch, now: Timestamp(milliseconds: 0))
        #expect(progress == JobProgress(id: "bat_x", lifecycle: "completed", percent: 100, succeeded: 3, failed: 1, total: 4, elapsedSeconds: 12.5))
        #expect(progress.isTerminal && progress.isCompleted)

        let created = Timestamp(milliseconds: 1_768_473_000_000)
        #expect(created.rfc3339 == "2026-01-15T10:30:00.000Z")
        let running: JSONValue = .object(["id": "bat_y", "lifecycle_status": "running", "created_at": .string(created.rfc3339)])
        #expect(JobProgress(batch: running, now: created.adding(.milliseconds(1500))).elapsedSeconds == 1.5)
    }
}
