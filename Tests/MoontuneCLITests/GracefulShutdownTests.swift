import Foundation
import Logging
@testable import MoontuneCLI
import Testing

@Suite struct GracefulShutdownTests {
    /// The disposition of a signal as a number (reading it means setting it; it is put back).
    static func disposition(_ number: Int32) -> Int {
        let current = signal(number, SIG_IGN)
        signal(number, current)
        return unsafeBitCast(current, to: Int.self)
    }

    @Test func theBodysValueIsReturnedAndTheSignalDispositionsAreRestored() async throws {
        let before = (Self.disposition(SIGTERM), Self.disposition(SIGINT))
        let value = try await GracefulShutdown.run(logger: Logger(label: "test"), maximumGracefulDuration: .seconds(5)) { 42 }
        #expect(value == 42)
        #expect(Self.disposition(SIGTERM) == before.0, "SIGTERM's disposition is put back")
        #expect(Self.disposition(SIGINT) == before.1, "SIGINT's disposition is put back")
    }
}
