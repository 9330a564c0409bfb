import Crypto
import Foundation

/// Who an API key is, without the key: the first 12 hex digits of its SHA-256. What `status`,
/// metrics and the dashboard show for a key, and how `serve` tells keys apart.
public enum APIKeyID {
    public static func id(ofKey key: String) -> String {
        let digest = SHA256.hash(data: Data(key.utf8))
        return digest.prefix(6).map { String(format: "%02x", $0) }.joined()
    }
}
