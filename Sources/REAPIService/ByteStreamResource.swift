import ContentStore

/// A ByteStream resource name as REAPI lays it out: `{instance}/blobs/{hash}/{size}` to read and
/// `{instance}/uploads/{uuid}/blobs/{hash}/{size}[/{anything}]` to write. The instance name may itself hold
/// slashes, so the name is read from the `blobs` segment that a valid digest follows.
struct ByteStreamResource: Equatable {
    enum Kind { case read, upload }
    let digest: BlobDigest

    /// Parses `name` as a resource of `kind`; nil when it is not one (compressed-blobs names included: this
    /// server offers no compression).
    init?(_ name: String, as kind: Kind) {
        let parts = name.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        for index in parts.indices where parts[index] == "blobs" && index + 2 < parts.count {
            guard let size = Int64(parts[index + 2]), let digest = try? BlobDigest(hash: parts[index + 1], sizeBytes: size) else {
                continue
            }
            switch kind {
            case .read:
                guard index + 3 == parts.count else { continue }
            case .upload:
                guard index >= 2, parts[index - 2] == "uploads", !parts[index - 1].isEmpty else { continue }
            }
            self.digest = digest
            return
        }
        return nil
    }
}
