import MoontuneConfig
import MoontuneJSON
import Crypto

extension SHA256Digest {
    /// Lower-case hex, the form recorded in databases, index caches and fingerprints.
    package var hexString: String {
        var text = ""
        text.reserveCapacity(Self.byteCount * 2)
        for byte in self {
            text.append(Self.hexDigits[Int(byte >> 4)])
            text.append(Self.hexDigits[Int(byte & 0x0F)])
        }
        return text
    }

    private static let hexDigits = Array("0123456789abcdef")
}
