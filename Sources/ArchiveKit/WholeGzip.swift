import CDeflate

#if canImport(Glibc)
    import Glibc
#endif

/// Inflates a gzip file whole in memory with libdeflate, three to four times as fast as zlib's stream here: a
/// toolchain archive (30 MB of gzip for gcc) is inflated by every builder that unpacks it, and that inflate is
/// most of the unpack's CPU. Only for a single-member gzip whose trailer announces at most `maxOutput` bytes;
/// anything else (not gzip, several members, larger, damaged) is left to libarchive's streaming read, which
/// reports what is wrong with it.
enum WholeGzip {
    /// The tar inside the gzip file at `path`, or nil when it is not one this inflates whole.
    static func inflate(file path: String, maxOutput: Int) -> [UInt8]? {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { return nil }
        defer { close(descriptor) }
        let size = Int(lseek(descriptor, 0, SEEK_END))
        guard size >= 18, size <= maxOutput else { return nil }  // 18: a gzip header and trailer
        var magic: [UInt8] = [0, 0]
        var trailer: [UInt8] = [0, 0, 0, 0]
        guard pread(descriptor, &magic, 2, 0) == 2, magic == [0x1f, 0x8b], pread(descriptor, &trailer, 4, off_t(size - 4)) == 4 else {
            return nil
        }
        // ISIZE: the inflated length modulo 2^32, as the writer claims it; checked against what inflates.
        let announced = trailer.reversed().reduce(0) { $0 << 8 | Int($1) }
        guard announced > 0, announced <= maxOutput, let compressed = readAll(descriptor, size: size) else { return nil }
        guard let decompressor = libdeflate_alloc_decompressor() else { return nil }
        defer { libdeflate_free_decompressor(decompressor) }
        var consumed = 0
        var produced = 0
        let output = [UInt8](unsafeUninitializedCapacity: announced) { buffer, count in
            let result = compressed.withUnsafeBytes { input in
                libdeflate_gzip_decompress_ex(decompressor, input.baseAddress, size, buffer.baseAddress, announced, &consumed, &produced)
            }
            count = result == LIBDEFLATE_SUCCESS ? produced : 0
        }
        return consumed == size && produced == announced && output.count == announced ? output : nil
    }

    private static func readAll(_ descriptor: Int32, size: Int) -> [UInt8]? {
        var complete = true
        let bytes = [UInt8](unsafeUninitializedCapacity: size) { buffer, count in
            var offset = 0
            while offset < size {
                let read = pread(descriptor, buffer.baseAddress! + offset, size - offset, off_t(offset))
                if read < 0 && errno == EINTR { continue }
                guard read > 0 else { break }
                offset += read
            }
            complete = offset == size
            count = complete ? size : 0
        }
        return complete ? bytes : nil
    }
}
