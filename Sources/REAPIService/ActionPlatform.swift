import BuilderCore
import GRPCCore
import REAPIWire

/// The platform an action asks for. Only `container-image` is honoured (a docker builder runs the action in that
/// image; an overlay builder refuses it); other properties (`OSFamily`, pools) are taken as met by every builder.
enum ActionPlatform {
    static let containerImageProperty = "container-image"

    /// The image named by the action's platform (REAPI v2.2 puts it on the Action, earlier clients on the
    /// Command; the Action wins), `docker://` dropped; nil when none is named.
    static func containerImage(
        of action: Build_Bazel_Remote_Execution_V2_Action, command: Build_Bazel_Remote_Execution_V2_Command
    ) throws -> String? {
        let named = [action.platform, command.platform].lazy.compactMap { platform in
            platform.properties.first { $0.name == containerImageProperty }?.value
        }
        guard let value = named.first else { return nil }
        let image = value.hasPrefix("docker://") ? String(value.dropFirst("docker://".count)) : value
        guard !image.isEmpty, image.utf8.count <= HostRootToolchain.maxImageLength, image.utf8.allSatisfy(isImageReferenceByte) else {
            throw RPCError(
                code: .invalidArgument,
                message: "container-image '\(value.prefix(100))' is not an image reference (docker://NAME[:TAG][@DIGEST])")
        }
        return image
    }

    /// Letters, digits and the separators of Docker's reference grammar.
    private static func isImageReferenceByte(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"): true
        case UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "-"), UInt8(ascii: "/"), UInt8(ascii: ":"), UInt8(ascii: "@"): true
        default: false
        }
    }
}
