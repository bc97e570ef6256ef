/// Hex renderings of digests.
public enum DigestHex {
    private static let digits: [Character] = Array("0123456789abcdef")

    /// Ordinary lowercase hex: high nibble first.
    public static func standard(_ bytes: some Sequence<UInt8>) -> String {
        var text = ""
        for byte in bytes {
            text.append(digits[Int(byte >> 4)])
            text.append(digits[Int(byte & 0x0F)])
        }
        return text
    }

    /// sccache's `hex()` (its `util.rs`): the **low** nibble first for each byte. sccache names toolchains with it
    /// (`archive_id`), so an upload can only be checked against its id when rendered this way (protocol §8.2).
    public static func sccache(_ bytes: some Sequence<UInt8>) -> String {
        var text = ""
        for byte in bytes {
            text.append(digits[Int(byte & 0x0F)])
            text.append(digits[Int(byte >> 4)])
        }
        return text
    }
}

extension DigestHex {
    /// Standard lowercase hex (an alias that reads well outside digest code).
    public static func hex(_ bytes: some Sequence<UInt8>) -> String { standard(bytes) }
}
