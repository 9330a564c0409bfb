import MoontuneJob

/// Who an API key is, without the key (`APIKeyID`): jobs with the same key share one budget and
/// one pace; the id is what metrics, `status` and the dashboard show.
public enum KeyIdentity {
    public static func id(ofKey key: String) -> String { APIKeyID.id(ofKey: key) }
}
