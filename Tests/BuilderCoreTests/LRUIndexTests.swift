import BuilderCore
import Testing

@Suite struct LRUIndexTests {
    @Test func evictsLeastRecentlyUsedFirst() {
        var index = LRUIndex<String>(capacity: 100)
        let evictedByA = index.insert("a", size: 40)
        #expect(evictedByA.isEmpty)
        let evictedByB = index.insert("b", size: 40)
        #expect(evictedByB.isEmpty)
        index.touch("a")
        let evictedByC = index.insert("c", size: 40)
        #expect(evictedByC == ["b"], "b is the least recently used once a was touched")
        #expect(index.keysByRecency == ["a", "c"])
        #expect(index.totalSize == 80)
    }

    @Test func pinnedEntriesAreNeverEvictedUntilReleased() {
        var index = LRUIndex<String>(capacity: 100)
        _ = index.insert("old", size: 60)
        let pinnedOld = index.pin("old")
        #expect(pinnedOld)
        let evictedByNew = index.insert("new", size: 60)
        #expect(evictedByNew.isEmpty, "old is pinned, so the total may exceed the capacity")
        #expect(index.totalSize == 120)
        let evictedOnRelease = index.unpin("old")
        #expect(evictedOnRelease == ["old"], "released, the excess goes at once")
        #expect(index.keysByRecency == ["new"])
    }

    @Test func newEntryIsNotItsOwnVictimAndResizingReplaces() {
        var index = LRUIndex<Int>(capacity: 10)
        _ = index.insert(1, size: 5)
        let evictedByTwo = index.insert(2, size: 10)
        #expect(evictedByTwo == [1])
        #expect(index.contains(2) && !index.contains(1))
        _ = index.insert(2, size: 3)
        #expect(index.totalSize == 3, "re-inserting replaces the size, it does not add")
        #expect(!index.fits(11) && index.fits(10))
        let pinnedUnknown = index.pin(99)
        #expect(!pinnedUnknown, "unknown keys cannot be pinned")
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
