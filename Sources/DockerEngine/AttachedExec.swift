import CEngineStream
import Synchronization

/// An exec started ahead of its job (``DockerEngineClient/startAttached(container:_:greeting:timeout:)``): its process runs in the
/// container and waits for its input on stdin, over a connection the engine handed over to the process's streams.
/// The engine's start of a process (40–55 ms here, most of a docker job's cost) is then paid before the job comes.
/// Used once (``DockerEngineClient/finish(_:input:acknowledgement:timeout:streamLimit:)``); closing it unused ends the process's
/// stdin.
public final class AttachedExec: Sendable {
    public let id: String
    private let descriptor: Mutex<Int32>

    init(id: String, descriptor: Int32) {
        self.id = id
        self.descriptor = Mutex(descriptor)
    }

    deinit { close() }

    /// The connection, taken out: nil once taken or closed.
    func take() -> Int32? {
        descriptor.withLock { fd in
            defer { fd = -1 }
            return fd >= 0 ? fd : nil
        }
    }

    /// Ends the exec's stdin (its process then sees the end of its input) unless it was used.
    public func close() { take().map { kiln_stream_close($0) } }
}
