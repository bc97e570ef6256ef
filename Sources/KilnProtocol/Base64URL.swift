import Foundation

/// base64url without padding (RFC 4648 §5), as JWTs and sccache's keys use it.
public enum Base64URL {
    private static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".utf8)

    /// Encoded here rather than by Foundation's standard base64 and three replacements: those go through
    /// NSString, and a job token's encoding cost tens of microseconds that way (every run_job checks one).
    public static func encode(_ bytes: some Sequence<UInt8>) -> String {
        let input = Array(bytes)
        var output: [UInt8] = []
        output.reserveCapacity((input.count * 4 + 2) / 3)
        var index = 0
        while index < input.count {
            let count = min(3, input.count - index)
            var group = UInt32(input[index]) << 16
            if count > 1 { group |= UInt32(input[index + 1]) << 8 }
            if count > 2 { group |= UInt32(input[index + 2]) }
            // One character per six bits present: 2, 3 or 4 for 1, 2 or 3 bytes, no padding.
            for shift in stride(from: 18, through: 18 - 6 * count, by: -6) {
                output.append(alphabet[Int((group >> UInt32(shift)) & 0x3f)])
            }
            index += count
        }
        return String(decoding: output, as: UTF8.self)
    }

    /// nil unless `text` is base64url with no padding and no other characters.
    public static func decode(_ text: some StringProtocol) -> [UInt8]? {
        let allowed = Set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
        guard text.allSatisfy({ allowed.contains($0) }), text.count % 4 != 1 else { return nil }
        var standard = text.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        standard += String(repeating: "=", count: (4 - standard.count % 4) % 4)
        return Data(base64Encoded: standard).map { Array($0) }
    }
}
