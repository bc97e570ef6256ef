import Foundation
import JWTKit

/// The JSON encoder for Kiln's tokens: header fields in the order Rust's `jsonwebtoken` writes them
/// (`{"typ":"JWT","alg":"HS256"}`), claims in declaration order, compact. With it Kiln's tokens are byte for byte
/// the ones sccache-dist makes (protocol §6.2–6.3), which the test vectors check.
struct HeaderOrderEncoder: JWTJSONEncoder {
    func encode<T: Encodable>(_ value: T) throws -> Data {
        if let header = value as? JWTHeader {
            let order = ["typ", "alg", "kid"]
            var text = "{"
            for name in order + header.fields.keys.filter({ !order.contains($0) }).sorted() {
                guard let field = header.fields[name] else { continue }
                if text.count > 1 { text += "," }
                let fieldJSON = String(decoding: try JSONEncoder().encode(field), as: UTF8.self)
                text += "\"\(name)\":\(fieldJSON)"
            }
            return Data((text + "}").utf8)
        }
        let encoder = JSONEncoder()
        // exp < job_id and exp < server_id: sorted keys give jsonwebtoken's declaration order for both claim sets.
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return try encoder.encode(value)
    }
}
