import CArchive

/// The checks every member of an untrusted archive passes, whether it is unpacked (``SafeExtractor``) or re-packed
/// (``ContainerInputsRewriter``): no devices, fifos or sockets, and a relative path that stays inside the root.
struct ArchiveMember {
    let rawName: String
    let type: UInt32
    /// The normalized relative path; nil for a name such as `./` that names the root itself.
    let relativePath: String?

    init(_ entry: OpaquePointer) throws {
        rawName = archive_entry_pathname(entry).map { String(cString: $0) } ?? ""
        type = UInt32(archive_entry_filetype(entry))
        if [FileTypeBits.characterDevice, FileTypeBits.blockDevice, FileTypeBits.fifo, FileTypeBits.socket].contains(type) {
            throw ArchiveError(.forbiddenType, "member '\(rawName)' is a device, fifo or socket; archives may hold only files, directories and links")
        }
        if let relative = ArchivePath.safeRelative(rawName) {
            relativePath = relative
        } else if !rawName.hasPrefix("/") && rawName.split(separator: "/").allSatisfy({ $0 == "." }) {
            relativePath = nil
        } else {
            throw ArchiveError(.unsafePath, "member '\(rawName)' is absolute or climbs out with '..'")
        }
    }

    /// The hard-link target as a relative path inside the archive, or nil when the member is not a hard link.
    func hardLinkTarget(_ entry: OpaquePointer) throws -> String? {
        guard let link = archive_entry_hardlink(entry) else { return nil }
        let target = String(cString: link)
        guard let safeTarget = ArchivePath.safeRelative(target) else {
            throw ArchiveError(.unsafePath, "hard link '\(rawName)' points at '\(target)', outside the archive")
        }
        return safeTarget
    }
}
