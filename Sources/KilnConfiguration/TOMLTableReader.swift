import KilnProtocol
import TOMLKit

/// Reads one TOML table key by key, remembering which keys were read so that ``finish()`` can refuse the rest:
/// sccache-dist's configs use `deny_unknown_fields`, and so does Kiln.
struct TOMLTableReader {
    private let table: TOMLTable
    /// The dotted path of this table (empty for the document).
    let path: String
    private var used: Set<String> = []

    init(_ table: TOMLTable, path: String = "") {
        self.table = table
        self.path = path
    }

    func keyPath(_ key: String) -> String { path.isEmpty ? key : "\(path).\(key)" }

    private mutating func value(_ key: String) -> (any TOMLValueConvertible)? {
        used.insert(key)
        return table[key]
    }

    func has(_ key: String) -> Bool { table[key] != nil }

    private func typeError(_ key: String, _ expected: String) -> ConfigurationError {
        ConfigurationError(.invalidValue, key: keyPath(key), "expected \(expected)")
    }

    private func missing(_ key: String, _ expected: String) -> ConfigurationError {
        let present = table.keys.sorted().joined(separator: ", ")
        return ConfigurationError(
            .missingKey, key: keyPath(key), "is required: \(expected) (keys present here: \(present.isEmpty ? "none" : present))")
    }

    mutating func string(_ key: String) throws -> String? {
        guard let raw = value(key) else { return nil }
        guard let text = raw.string else { throw typeError(key, "a string") }
        return text
    }

    mutating func requiredString(_ key: String, _ expected: String = "a string") throws -> String {
        guard let text = try string(key) else { throw missing(key, expected) }
        return text
    }

    mutating func integer(_ key: String) throws -> Int? {
        guard let raw = value(key) else { return nil }
        guard let number = raw.int else { throw typeError(key, "an integer") }
        return number
    }

    /// A number, integer or float.
    mutating func number(_ key: String) throws -> Double? {
        guard let raw = value(key) else { return nil }
        if let number = raw.double { return number }
        guard let number = raw.int else { throw typeError(key, "a number") }
        return Double(number)
    }

    /// A `"uid:gid"` that a compile runs as: both numbers above 0 (compiles never run as root).
    mutating func userIDs(_ key: String) throws -> (uid: Int, gid: Int)? {
        guard let text = try string(key) else { return nil }
        let parts = text.split(separator: ":").compactMap { Int($0) }
        guard parts.count == 2, parts[0] > 0, parts[1] > 0, parts.allSatisfy({ $0 < Int(UInt32.max) }) else {
            throw ConfigurationError(.invalidValue, key: keyPath(key), "'\(text)' is not 'uid:gid' with both above 0 (compiles never run as root)")
        }
        return (parts[0], parts[1])
    }

    mutating func bool(_ key: String) throws -> Bool? {
        guard let raw = value(key) else { return nil }
        guard let flag = raw.bool else { throw typeError(key, "true or false") }
        return flag
    }

    mutating func stringArray(_ key: String) throws -> [String]? {
        guard let raw = value(key) else { return nil }
        guard let array = raw.array else { throw typeError(key, "an array of strings") }
        return try array.map { element in
            guard let text = element.string else { throw typeError(key, "an array of strings") }
            return text
        }
    }

    mutating func table(_ key: String) throws -> TOMLTableReader? {
        guard let raw = value(key) else { return nil }
        guard let table = raw.table else { throw typeError(key, "a table ([\(keyPath(key))])") }
        return TOMLTableReader(table, path: keyPath(key))
    }

    mutating func requiredTable(_ key: String, _ expected: String) throws -> TOMLTableReader {
        guard let table = try table(key) else { throw missing(key, expected) }
        return table
    }

    /// A socket address `ip:port` (IPv6 in brackets).
    mutating func address(_ key: String) throws -> ServerID? {
        guard let text = try string(key) else { return nil }
        guard let address = ServerID(text) else {
            throw ConfigurationError(
                .invalidValue, key: keyPath(key), "'\(text)' is not an address; expected ip:port such as 127.0.0.1:10501 or [::1]:10501")
        }
        return address
    }

    mutating func requiredAddress(_ key: String) throws -> ServerID {
        guard let address = try address(key) else { throw missing(key, "an address ip:port") }
        return address
    }

    /// A size in bytes: an integer, or a string such as "10G", "512 MiB" (sccache ≥ 0.11 clients take these).
    mutating func byteCount(_ key: String) throws -> UInt64? {
        guard let raw = value(key) else { return nil }
        if let number = raw.int {
            guard number >= 0 else { throw typeError(key, "a size in bytes (not negative)") }
            return UInt64(number)
        }
        guard let text = raw.string, let bytes = ByteCountParser.parse(text) else {
            throw typeError(key, "a size: an integer number of bytes or a string such as \"10G\" or \"512 MiB\"")
        }
        return bytes
    }

    /// Refuses keys that were never read.
    func finish() throws {
        let unknown = Set(table.keys).subtracting(used).sorted()
        guard let first = unknown.first else { return }
        let known = used.sorted().joined(separator: ", ")
        throw ConfigurationError(.unknownKey, key: keyPath(first), "is not a known key here (known: \(known))")
    }
}

/// "10G", "10 GiB", "512M", "1024": binary multiples, as sccache's size parser.
enum ByteCountParser {
    static func parse(_ text: String) -> UInt64? {
        let trimmed = text.filter { $0 != " " }
        let digits = trimmed.prefix { $0.isNumber }
        guard let number = UInt64(digits) else { return nil }
        let unit = trimmed.dropFirst(digits.count).uppercased()
        let shifts: [String: UInt64] = [
            "": 0, "B": 0, "K": 10, "KB": 10, "KIB": 10, "M": 20, "MB": 20, "MIB": 20,
            "G": 30, "GB": 30, "GIB": 30, "T": 40, "TB": 40, "TIB": 40,
        ]
        guard let shift = shifts[unit] else { return nil }
        let (value, overflow) = number.multipliedReportingOverflow(by: 1 << shift)
        return overflow ? nil : value
    }
}
