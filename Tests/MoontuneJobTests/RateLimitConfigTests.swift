import Foundation
import Testing
@testable import MoontuneConfig
@testable import MoontuneJob
@testable import MoontuneJSON

/// `api.max_requests_per_s` (issue 22): optional, a positive number, with a located error.
@Suite struct RateLimitConfigTests {
    func problems(_ json: String) throws -> [Problem] {
        let folder = try TemporaryFolder()
        let url = try folder.config(json)
        do {
            _ = try JobConfig.load(from: url)
            return []
        } catch {
            return error.problems
        }
    }

    @Test func theStatedLimitIsReadAndRecordedInTheSnapshot() throws {
        let folder = try TemporaryFolder()
        #expect(try JobConfig.load(from: try folder.config(minimalConfig())).config.api.maxRequestsPerSecond == nil)
        let config = try JobConfig.load(from: try folder.config(minimalConfig(top: #""api": {"max_requests_per_s": 2.5}"#))).config
        #expect(config.api.maxRequestsPerSecond == 2.5)
        #expect(config.snapshot()["api"]?["max_requests_per_s"] == .double(2.5))
    }

    @Test(arguments: ["0", "-1", "\"fast\"", "1e9"])
    func aBadLimitIsALocatedError(value: String) throws {
        let found = try problems(minimalConfig(top: #""api": {"max_requests_per_s": \#(value)}"#))
        #expect(found.map(\.field) == ["api.max_requests_per_s"], "\(found)")
        #expect(found.first?.line != nil)
    }
}
