import MoondreamSimulatorEngine
import Hummingbird
import NIOCore

/// The request context: Hummingbird's core storage plus the connection's channel, which the
/// drop fault closes to end a request with no answer at all.
struct SimulatorContext: RequestContext {
    var coreContext: CoreRequestContextStorage
    let channel: any Channel

    init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        channel = source.channel
    }
}
