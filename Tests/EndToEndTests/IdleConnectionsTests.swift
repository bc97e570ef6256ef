import Foundation
import KilnTestSupport
import Testing

/// Issue 20, item 3: silent and stalled connections never stop a farm. Both servers start with the soft
/// descriptor limit systemd gives by default (1,024) and 1,100 connections are held open to each: most send
/// nothing, some stop halfway through an HTTP request or a TLS ClientHello. A real compile must still be
/// distributed (before: the servers ran out of descriptors and the client compiled locally).
@Suite(.serialized, .requires(Binaries.missingPrerequisite)) struct IdleConnectionsTests {
    @Test func elevenHundredSilentConnectionsToEachServerDoNotStopACompile() throws {
        let farm = try Farm()
        farm.softDescriptorLimit = 1024
        try farm.startKilnScheduler()
        let builderPort = freePort()
        let builder = try farm.startKilnBuilder(port: builderPort)
        try farm.waitForServers(1)
        let halfRequest = Array("POST /api/v1/scheduler/alloc_job HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Le".utf8)
        let halfClientHello: [UInt8] = [0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xFC, 0x03, 0x03]
        var held: [Int32] = []
        defer { held.forEach { close($0) } }
        for index in 0..<2200 {
            let port = index % 2 == 0 ? farm.schedulerPort : builderPort
            let stall = index % 20 == 1 ? (port == builderPort ? halfClientHello : halfRequest) : []
            if let descriptor = try LoopbackConnection.open(port: port, sending: stall) { held.append(descriptor) }
        }
        // A server that cannot accept leaves connections in its backlog or unanswered: those count as not held.
        print("IdleConnectionsTests: \(held.count) of 2,200 connections held open")
        let client = try SccacheClient(farm: farm, version: "0.4.0", name: "idle")
        try client.start()
        try SchedulerConformanceTests.compileAndCompare(client, "idle", farm: farm, salt: 41)
        let stats = try client.stats()
        #expect(stats.total == 1, "the compile was distributed with 2,200 connections held: \(stats)\n\(farm.logs)")
        #expect(builder.log.contains("raised the open-descriptor limit"), "the builder raised its soft limit at start")
    }
}
