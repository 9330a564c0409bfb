/// Anything the server numbers by its step (a checkpoint), so that decisions about it need not
/// know the API client's types.
public protocol StepNumbered {
    /// The finetune's step on the server.
    var step: Int { get }
}
