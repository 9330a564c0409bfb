import Foundation
import MoondreamAPI
import MoontuneDecisions
import MoontuneLoop
@testable import MoontuneConsole
@testable import MoontuneReport
import Testing

/// Training warnings in a running job's log: one line when a warning appears, one when it clears.
@Suite struct WarningLogTests {
    func statistics(truncated: Int, of count: Int) -> StepStatistics {
        let reasons: [String?] = (0..<count).map { $0 < truncated ? "length" : "stop" }
        return StepStatistics(groups: [GroupOutcome(skill: .query, rewards: Array(repeating: 0, count: count).enumerated().map { Double($0.offset % 2) },
                                                    finishReasons: reasons, answerLengths: Array(repeating: 3, count: count))])
    }

    @Test func aWarningIsLoggedOnceWhenItAppearsAndOnceWhenItClears() {
        let capture = Capture()
        let observer = ConsoleObserver(interactive: false, format: .json, verbosity: .normal, redactor: SecretRedactor(secrets: []),
                                       write: capture.write)
        observer.record(.started(job: "w", finetuneID: "01F", resumedAt: 0, totalSteps: 20, previousState: nil))
        for step in 1...6 { observer.record(.stepApplied(step: step, totalSteps: 20, statistics: statistics(truncated: 3, of: 4))) }
        for step in 7...12 { observer.record(.stepApplied(step: step, totalSteps: 20, statistics: statistics(truncated: 0, of: 4))) }
        let lines = capture.output.split(separator: "\n")
        let appeared = lines.filter { $0.contains(#""event":"warning""#) }
        let cleared = lines.filter { $0.contains(#""event":"warning_cleared""#) }
        #expect(appeared.count == 1, "\(capture.output)")
        #expect(appeared.first?.contains(#""kind":"truncation""#) == true)
        #expect(appeared.first?.contains("a truncation rate of 75% over the last 1 step") == true, "\(appeared)")
        #expect(appeared.first?.contains(#""level":"warn""#) == true)
        #expect(cleared.count == 1, "\(capture.output)")
        #expect(lines.firstIndex { $0.contains(#""event":"warning_cleared""#) }! > lines.firstIndex { $0.contains("\"step\":9,") }!,
                "it clears once the last five steps' rate is at most 20%")
        #expect(lines.filter { $0.contains(#""event":"step""#) }.allSatisfy { $0.contains("truncation_rate") })
    }

    @Test func theTrackerFollowsEachWarningByKind() {
        var tracker = WarningTracker()
        var change = tracker.stepApplied(step: 1, statistics: statistics(truncated: 4, of: 4))
        #expect(change.appeared.map(\.kind) == ["truncation"] && change.cleared.isEmpty)
        change = tracker.stepApplied(step: 2, statistics: statistics(truncated: 4, of: 4))
        #expect(change.appeared.isEmpty && change.cleared.isEmpty, "the same warning, its figures changed: no new line")
        #expect(tracker.active["truncation"]?.contains("over the last 2 steps") == true)
        for step in 3...12 { change = tracker.stepApplied(step: step, statistics: statistics(truncated: 0, of: 4)) }
        #expect(tracker.active.isEmpty)
    }
}
