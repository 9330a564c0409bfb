import Foundation
import MoondreamAPI
import Testing
@testable import MoontuneJob
@testable import MoontuneConfig
@testable import MoontuneDataset
@testable import MoontuneRewards
@testable import MoontuneJSON

@Suite("Example configs")
struct ExampleConfigTests {
    /// The repository's configs/ folder, found from this file's path.
    static let configs = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("configs")

    @Test(arguments: ["point", "detect", "query"])
    func exampleConfigIsValid(skill: String) throws {
        let report = validateJob(configURL: Self.configs.appendingPathComponent("\(skill)/config.json"))
        #expect(report.problems.lines == [])
        #expect(report.warnings == [])
        #expect(report.train?.skills == [try #require(Skill(rawValue: skill))])
        #expect(report.summary.train.examples == 16)
        #expect(report.summary.eval?.examples == 4)
    }
}
