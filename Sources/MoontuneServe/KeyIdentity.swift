import Crypto
import Foundation

/// Who an API key is, without the key: the first 12 hex digits of its SHA-256. Jobs with the
/// same key share one budget; the id is what metrics, `status` and the dashboard show.
public enum KeyIdentity {
    public static func id(ofKey key: String) -> String {
        let digest = SHA256.hash(data: Data(key.utf8))
        return digest.prefix(6).map { String(format: "%02x", $0) }.joined()
    }
}
