import Testing

@testable import PumphouseUnit

/// A lane's queue of unacknowledged changes, as a caller awaiting an acknowledgement
/// asks it.
@Suite("A lane's queue of unacknowledged changes")
struct LaneQueueTests {
    @Test("a change is found queued exactly while it is: empty, first, last, between, and after acknowledgements out of order")
    func holds() {
        var state = DataPump.Lane.State(nextSequence: 1)
        #expect(!state.holds(1))
        let numbers: [Int64] = [2, 3, 5, 8, 13, 21]
        for number in numbers {
            state.queue.append(DataPump.Outgoing(number: number, frame: SpoolFrame(sequence: number, topic: "t", key: "k", value: [], headers: [])))
        }
        for number in Int64(0)...22 {
            #expect(state.holds(number) == numbers.contains(number), "number \(number)")
        }
        // Acknowledgements leave the queue in number order, whichever goes first.
        state.queue.remove(at: 2)
        state.queue.removeFirst()
        for number in Int64(0)...22 {
            #expect(state.holds(number) == [3, 8, 13, 21].contains(number), "number \(number) after two acknowledgements")
        }
    }
}
