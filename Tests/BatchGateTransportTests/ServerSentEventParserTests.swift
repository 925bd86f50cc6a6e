import BatchGateTransport
import Testing

@Suite struct ServerSentEventParserTests {
    private func parse(_ chunks: [String]) -> [ServerSentEventItem] {
        var parser = ServerSentEventParser()
        return chunks.flatMap { parser.feed(Array($0.utf8)) }
    }

    @Test func eventWithTypeIDAndJoinedData() {
        let items = parse(["event: batch\nid: 7\ndata: {\"a\":\ndata: 1}\n\n"])
        #expect(items == [.event(ServerSentEvent(type: "batch", data: "{\"a\":\n1}", lastEventID: "7"))])
    }

    @Test(arguments: ["\n", "\r\n", "\r"])
    func everyLineEndingWorks(_ end: String) {
        let items = parse(["data: x" + end + end + "data: y" + end + end])
        #expect(items == [.event(ServerSentEvent(data: "x")), .event(ServerSentEvent(data: "y"))])
    }

    @Test func linesSplitAcrossChunksIncludingCRLF() {
        let text = "event: batch\r\nid: 3\r\ndata: hello\r\n\r\n"
        var parser = ServerSentEventParser()
        var items: [ServerSentEventItem] = []
        for byte in Array(text.utf8) { items += parser.feed([byte]) }
        #expect(items == [.event(ServerSentEvent(type: "batch", data: "hello", lastEventID: "3"))])
        #expect(parser.lastEventID == "3")
    }

    @Test func commentsAreReportedAndDoNotDispatch() {
        let items = parse([": heartbeat\n\n:\n\n"])
        #expect(items == [.comment("heartbeat"), .comment("")])
    }

    @Test func fieldRules() {
        // No space after the colon; only one space is stripped; a field without a colon has an empty value.
        let items = parse(["data:a\ndata:  b\ndata\n\n"])
        #expect(items == [.event(ServerSentEvent(data: "a\n b\n"))])
    }

    @Test func eventWithoutDataIsDroppedAndTypeResets() {
        let items = parse(["event: batch\nid: 1\n\ndata: x\n\n"])
        #expect(items == [.event(ServerSentEvent(type: "message", data: "x", lastEventID: "1"))])
    }

    @Test func idPersistsAndNULIsIgnored() {
        let items = parse(["id: 5\ndata: a\n\ndata: b\n\nid: 6\u{0}\ndata: c\n\nid\ndata: d\n\n"])
        #expect(
            items == [
                .event(ServerSentEvent(data: "a", lastEventID: "5")), .event(ServerSentEvent(data: "b", lastEventID: "5")),
                .event(ServerSentEvent(data: "c", lastEventID: "5")), .event(ServerSentEvent(data: "d", lastEventID: "")),
            ]
        )
    }

    @Test func retryTakesOnlyDigitsAndUnknownFieldsAreIgnored() {
        var parser = ServerSentEventParser()
        _ = parser.feed(Array("retry: 1500\nretry: 2s\nfoo: bar\n\n".utf8))
        #expect(parser.retryMilliseconds == 1500)
    }

    @Test func leadingBOMIsDroppedAndUnfinishedEventWaits() {
        var parser = ServerSentEventParser()
        #expect(parser.feed([0xEF, 0xBB, 0xBF] + Array("data: x\n".utf8)).isEmpty)
        #expect(parser.feed(Array("\n".utf8)) == [.event(ServerSentEvent(data: "x"))])
        #expect(parser.feed(Array("data: never dispatched".utf8)).isEmpty)
    }
}
