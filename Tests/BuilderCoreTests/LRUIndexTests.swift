import BuilderCore
import Testing

@Suite struct LRUIndexTests {
    @Test func evictsLeastRecentlyUsedFirst() {
        var index = LRUIndex<String>(capacity: 100)
        let value1 = index.insert("a", size: 40)
        #expect(value1.isEmpty)
        let value2 = index.insert("b", size: 40)
        #expect(value2.isEmpty)
        index.touch("a")
        let value3 = index.insert("c", size: 40)
        #expect(value3 == ["b"], "b is the least recently used once a was touched")
        #expect(index.keysByRecency == ["a", "c"])
        #expect(index.totalSize == 80)
    }

    @Test func pinnedEntriesAreNeverEvictedUntilReleased() {
        var index = LRUIndex<String>(capacity: 100)
        _ = index.insert("old", size: 60)
        let value4 = index.pin("old")
        #expect(value4)
        let value5 = index.insert("new", size: 60)
        #expect(value5.isEmpty, "old is pinned, so the total may exceed the capacity")
        #expect(index.totalSize == 120)
        let value6 = index.unpin("old")
        #expect(value6 == ["old"], "released, the excess goes at once")
        #expect(index.keysByRecency == ["new"])
    }

    @Test func newEntryIsNotItsOwnVictimAndResizingReplaces() {
        var index = LRUIndex<Int>(capacity: 10)
        _ = index.insert(1, size: 5)
        let value7 = index.insert(2, size: 10)
        #expect(value7 == [1])
        #expect(index.contains(2) && !index.contains(1))
        _ = index.insert(2, size: 3)
        #expect(index.totalSize == 3, "re-inserting replaces the size, it does not add")
        #expect(!index.fits(11) && index.fits(10))
        let value8 = index.pin(99)
        #expect(!value8, "unknown keys cannot be pinned")
    }

    @Test func pinsNestAndOnlyUnpinnedEntriesGo() {
        var index = LRUIndex<String>(capacity: 1)
        _ = index.insert("x", size: 1)
        let firstPin = index.pin("x")
        let secondPin = index.pin("x")
        #expect(firstPin && secondPin)
        let whileInserting = index.insert("y", size: 1)
        #expect(whileInserting.isEmpty, "x is pinned and y is the entry being inserted")
        let afterOneUnpin = index.unpin("x")
        #expect(afterOneUnpin == ["y"] && index.isPinned("x"), "one pin is still held, so y goes")
        let afterLastUnpin = index.unpin("x")
        #expect(afterLastUnpin.isEmpty && index.totalSize == 1)
    }
}
