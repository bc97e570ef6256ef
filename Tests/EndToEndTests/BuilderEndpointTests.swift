import Foundation
import KilnProtocol
import KilnTestSupport
import Testing

/// Kiln's build server over real HTTPS, driven with curl: its certificate, job-token checks, refused uploads,
/// duplicate and malformed requests. The job tokens come from Kiln's scheduler (alloc_job), as in a real farm.
@Suite(.serialized, .requires(Binaries.missingPrerequisite)) struct BuilderEndpointTests {
    /// A farm with one Kiln builder, plus what a client learns from the scheduler.
    struct Probe {
        let farm: Farm
        let builder: ManagedProcess
        let server: String
        let certificatePath: String
        let certificate: ServerCertificateHttpResponse

        init(
            sandbox: BuilderSandboxKind = .overlay, tables: String = "", maxJobs: Int? = nil, sccacheDistScheduler: Bool = false,
            schedulerSettings: String = ""
        ) throws {
            farm = try Farm()
            if sccacheDistScheduler { try farm.startSccacheDistScheduler() } else { try farm.startKilnScheduler(topLevel: schedulerSettings) }
            let port = freePort()
            builder = try farm.startKilnBuilder(port: port, maxJobs: maxJobs, sandbox: sandbox, tables: tables)
            try farm.waitForServers(1)
            server = "127.0.0.1:\(port)"
            let body = try Self.curl(["\(farm.schedulerURL)/api/v1/scheduler/server_certificate/\(server)"], in: farm).body
            certificate = try BincodeDecoder().decode(ServerCertificateHttpResponse.self, from: body)
            certificatePath = try farm.directory.write("builder.pem", certificate.certPEM)
        }

        /// curl with the response body written to a file (bodies are binary); returns (HTTP status, headers, body).
        static func curl(_ arguments: [String], in farm: Farm) throws -> (status: Int, headers: String, body: [UInt8]) {
            let bodyPath = farm.root + "/curl-body-\(UUID().uuidString)"
            let headerPath = bodyPath + ".headers"
            defer { unlink(bodyPath); unlink(headerPath) }
            let result = try runToCompletion(
                "/usr/bin/curl", ["-s", "-o", bodyPath, "-D", headerPath, "-w", "%{http_code}", "--max-time", "60"] + arguments,
                timeoutSeconds: 90)
            let body = FileManager.default.contents(atPath: bodyPath).map { [UInt8]($0) } ?? []
            let headers = (try? String(contentsOfFile: headerPath, encoding: .utf8)) ?? ""
            return (Int(result.output.suffix(3)) ?? -1, headers, body)
        }

        /// POSTs to the build server over HTTPS, trusting only its certificate.
        func post(
            _ path: String, token: String?, body: [UInt8], chunked: Bool = false, maxTime: Int? = nil
        ) throws -> (status: Int, headers: String, body: [UInt8]) {
            let bodyFile = try farm.directory.write("request-\(UUID().uuidString)", body)
            var arguments = maxTime.map { ["--max-time", "\($0)"] } ?? []
            arguments += [
                "--cacert", certificatePath, "-X", "POST", "--data-binary", "@\(bodyFile)", "-H", "Content-Type: application/octet-stream",
            ]
            if let token { arguments += ["-H", "Authorization: Bearer \(token)"] }
            if chunked { arguments += ["-H", "Transfer-Encoding: chunked"] }
            return try Self.curl(arguments + ["https://\(server)/api/v1/distserver/\(path)"], in: farm)
        }

        /// alloc_job through the scheduler, as a client does.
        func allocate(_ toolchain: Toolchain) throws -> AllocJobSuccess {
            guard case .success(let success) = try allocation(toolchain) else { throw TestFailure("alloc_job answered Fail") }
            return success
        }

        /// alloc_job's answer, `Fail` included.
        func allocation(_ toolchain: Toolchain) throws -> AllocJobHttpResponse {
            let bodyFile = try farm.directory.write("alloc-\(UUID().uuidString)", try BincodeEncoder().encode(toolchain))
            let answer = try Self.curl(
                [
                    "-X", "POST", "--data-binary", "@\(bodyFile)", "-H", "Content-Type: application/octet-stream", "-H",
                    "Authorization: Bearer \(farm.clientToken)", "\(farm.schedulerURL)/api/v1/scheduler/alloc_job",
                ], in: farm)
            guard answer.status == 200 else { throw TestFailure("alloc_job answered \(answer.status)") }
            return try BincodeDecoder().decode(AllocJobHttpResponse.self, from: answer.body)
        }
    }

    @Test func certificateIsSelfSignedP256WithSHA256AndTheIPSAN() throws {
        let probe = try Probe()
        let text = try runCommand("/usr/bin/openssl", ["x509", "-in", probe.certificatePath, "-noout", "-text"]).output
        #expect(text.contains("Signature Algorithm: ecdsa-with-SHA256"))
        #expect(text.contains("Public-Key: (256 bit)") && text.contains("NIST CURVE: P-256"))
        #expect(text.contains("IP Address:127.0.0.1"))
        #expect(text.contains("TLS Web Server Authentication"))
        #expect(text.contains("Subject: CN = \(probe.server)") && text.contains("Issuer: CN = \(probe.server)"))
        let serial = try runCommand("/usr/bin/openssl", ["x509", "-in", probe.certificatePath, "-noout", "-serial"]).output
        #expect(!serial.contains("serial=00\n") && !serial.contains("serial=-"), "a random positive serial: \(serial)")
        let der = try runCommand(
            "/usr/bin/openssl", ["x509", "-in", probe.certificatePath, "-outform", "DER", "-out", probe.farm.root + "/cert.der"])
        #expect(der.status == 0)
        let digest = try runCommand("/usr/bin/sha256sum", [probe.farm.root + "/cert.der"]).output.prefix(64)
        #expect(String(digest) == DigestHex.standard(probe.certificate.certDigest), "cert_digest is SHA-256 of the DER")
        let dates = try runCommand("/usr/bin/openssl", ["x509", "-in", probe.certificatePath, "-noout", "-checkend", "0"])
        #expect(dates.status == 0, "valid now")
        let alpn = try Probe.curl(["--cacert", probe.certificatePath, "-v", "--http2", "https://\(probe.server)/"], in: probe.farm)
        #expect(alpn.status == 404, "HTTP/1.1 only: an h2-capable client still gets an HTTP/1.1 answer")
    }

    @Test func jobTokensAreCheckedWithA401() throws {
        let probe = try Probe()
        let toolchain = Toolchain(archiveID: String(repeating: "1", count: 64))
        let job = try probe.allocate(toolchain)
        #expect(job.needToolchain)
        let missing = try probe.post("submit_toolchain/\(job.jobAlloc.jobID)", token: nil, body: [1, 2, 3])
        #expect(missing.status == 401 && missing.headers.contains("Bearer error=\"invalid_jwt\""))
        let otherJob = try probe.post("run_job/\(job.jobAlloc.jobID.rawValue + 1)", token: job.jobAlloc.auth, body: [0, 0, 0, 0])
        #expect(otherJob.status == 401, "a token names exactly one job")
        let forged = try probe.post("assign_job/\(job.jobAlloc.jobID)", token: job.jobAlloc.auth + "x", body: try BincodeEncoder().encode(toolchain))
        #expect(forged.status == 401)
        let badPath = try probe.post("run_job/not-a-number", token: job.jobAlloc.auth, body: [])
        #expect(badPath.status == 404)
    }

    @Test func aForgedUploadIsRefusedAndNotCached() throws {
        let probe = try Probe()
        let toolchain = Toolchain(archiveID: String(repeating: "2", count: 64))
        let job = try probe.allocate(toolchain)
        let upload = try probe.post(
            "submit_toolchain/\(job.jobAlloc.jobID)", token: job.jobAlloc.auth, body: Array(repeating: 7, count: 3 << 20), chunked: true)
        #expect(upload.status == 200)
        #expect(try BincodeDecoder().decode(SubmitToolchainResult.self, from: upload.body) == .cannotCache)
        let again = try probe.allocate(toolchain)
        #expect(again.needToolchain, "a refused upload is not in the cache")
    }

    /// Issue 20, item 4: run_job for a job the server no longer holds (already run) is answered JobNotFound
    /// before its body is read. The body here comes from a pipe that never ends: a server that read it first
    /// would never answer (curl gives up after 30 s and the test fails).
    @Test func aRunJobForAJobNoLongerHeldIsAnsweredBeforeItsBody() throws {
        let bench = try HostileBench(try Probe())
        let job = try bench.allocate()
        #expect(try bench.run("true", job: job).exitCode == 0)
        let fifo = bench.probe.farm.root + "/stalled-body"
        #expect(mkfifo(fifo, 0o600) == 0)
        let writer = Thread {
            let handle = FileHandle(forWritingAtPath: fifo)
            handle?.write(Data([0, 0, 0, 8, 1, 2, 3, 4]))
            Thread.sleep(forTimeInterval: 60)  // holds the pipe open: the body never ends
            try? handle?.close()
        }
        writer.start()
        let answer = try Self.Probe.curl(
            [
                "--max-time", "30", "--cacert", bench.probe.certificatePath, "-X", "POST", "-T", fifo, "-H",
                "Content-Type: application/octet-stream", "-H", "Authorization: Bearer \(job.auth)",
                "https://\(bench.probe.server)/api/v1/distserver/run_job/\(job.jobID)",
            ], in: bench.probe.farm)
        #expect(answer.status == 200, "answered while the body was still coming")
        #expect(try BincodeDecoder().decode(RunJobResult.self, from: answer.body) == .jobNotFound)
        #expect(bench.servesAPlainJob())
    }

    @Test func duplicateAndMalformedRequestsNeverCrashTheServer() throws {
        let probe = try Probe()
        let toolchain = Toolchain(archiveID: String(repeating: "3", count: 64))
        let job = try probe.allocate(toolchain)
        let path = "assign_job/\(job.jobAlloc.jobID)"
        let duplicate = try probe.post(path, token: job.jobAlloc.auth, body: try BincodeEncoder().encode(toolchain))
        #expect(duplicate.status == 200, "upstream panics on a duplicate id")
        #expect(try BincodeDecoder().decode(AssignJobResult.self, from: duplicate.body) == .forToolchain(cached: false))
        #expect(try probe.post(path, token: job.jobAlloc.auth, body: [0xFF, 0xFF]).status == 400)
        #expect(try probe.post(path, token: job.jobAlloc.auth, body: Array(repeating: 1, count: 1 << 20)).status == 400)
        let garbage = try probe.post("run_job/\(job.jobAlloc.jobID)", token: job.jobAlloc.auth, body: [0, 0, 0, 5, 1, 2, 3, 4, 5, 6, 7])
        #expect(garbage.status == 400)
        let huge = try probe.post("run_job/\(job.jobAlloc.jobID)", token: job.jobAlloc.auth, body: [0xFF, 0xFF, 0xFF, 0xFF, 0])
        #expect(huge.status == 400, "a header length beyond the limit is refused before reading it")
        #expect(try probe.allocate(toolchain).needToolchain, "the server still answers")
        #expect(probe.builder.isRunning)
    }
}
