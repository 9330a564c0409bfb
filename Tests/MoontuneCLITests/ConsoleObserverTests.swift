import Foundation
import MoondreamAPI
import MoontuneDecisions
import MoontuneLoop
@testable import MoontuneCLI
@testable import MoontuneConsole
@testable import MoontuneReport
import Synchronization
import Testing

/// Collects what an observer writes.
final class Capture: Sendable {
    private let text = Mutex("")
    var output: String { text.withLock { $0 } }
    var write: @Sendable (String) -> Void { { piece in self.text.withLock { $0 += piece } } }
}

@Suite struct ConsoleObserverTests {
    func statistics(_ rewards: [Double]) -> StepStatistics {
        StepStatistics(groups: [GroupOutcome(skill: .point, rewards: rewards)], wallMs: 120)
    }

    @Test func offATerminalEachStepIsOneStructuredLineWithJobAndStep() {
        let capture = Capture()
        let observer = ConsoleObserver(interactive: false, format: .logfmt, verbosity: .normal, redactor: SecretRedactor(secrets: []),
                                       write: capture.write)
        observer.record(.started(job: "demo", finetuneID: "01F", resumedAt: 0, totalSteps: 2, previousState: nil))
        observer.record(.stepApplied(step: 1, totalSteps: 2, statistics: statistics([0, 1])))
        observer.record(.stepApplied(step: 2, totalSteps: 2, statistics: statistics([1, 1])))
        observer.record(.finished(state: .completed, step: 2, error: nil))
        let lines = capture.output.split(separator: "\n")
        #expect(lines.count == 4)
        let steps = lines.filter { $0.contains("event=step") }
        #expect(steps.count == 2)
        #expect(steps.allSatisfy { $0.contains("job=demo") && $0.hasPrefix("ts=") })
        #expect(steps.first?.contains("step=1 total=2 reward_mean=0.5") == true, "\(steps)")
        #expect(!capture.output.contains("\u{1B}"))
    }

    @Test func theJobNameIsKnownBeforeTheLoopReportsIt() {
        let capture = Capture()
        let observer = ConsoleObserver(interactive: false, format: .json, verbosity: .normal, job: "early",
                                       redactor: SecretRedactor(secrets: []), write: capture.write)
        observer.record(.finished(state: .failed, step: 0, error: "401 unauthorized"))
        #expect(capture.output.contains(#""job":"early""#))
        #expect(capture.output.contains(#""level":"error""#))
    }

    @Test func aLineThatWouldContainTheKeyDoesNot() {
        let capture = Capture()
        let key = "sk-secret-000111222333"
        let observer = ConsoleObserver(interactive: false, format: .logfmt, verbosity: .normal,
                                       redactor: SecretRedactor(secrets: [key]), write: capture.write)
        observer.record(.notice("server said: bad key \(key)"))
        observer.record(.finished(state: .failed, step: 0, error: "auth \(key) refused"))
        #expect(!capture.output.contains(key))
        #expect(capture.output.contains("[redacted]"))
    }

    @Test func onATerminalNoticesPrintAboveTheLiveLineAndTheEndKeepsIt() {
        let capture = Capture()
        let observer = ConsoleObserver(interactive: true, format: .logfmt, verbosity: .normal, redactor: SecretRedactor(secrets: []),
                                       write: capture.write)
        observer.record(.started(job: "demo", finetuneID: "01F", resumedAt: 0, totalSteps: 4, previousState: nil))
        observer.record(.stepApplied(step: 1, totalSteps: 4, statistics: statistics([0.25, 0.75])))
        observer.record(.checkpointSaved(step: 1, checkpointID: "c1", kind: .cadence))
        observer.record(.finished(state: .completed, step: 4, error: nil))
        let output = capture.output
        #expect(output.contains("checkpoint saved at step 1 (cadence)\n"))
        #expect(output.contains("step 1/4 ["), "the live line: \(output)")
        #expect(output.hasSuffix("job completed at step 4\n"), "the outcome ends the output on its own line")
        let afterEnd = capture.output.count
        observer.tick()
        #expect(capture.output.count == afterEnd, "no redraw after the end")
    }

    @Test func quietOnATerminalShowsOnlyTheOutcome() {
        let capture = Capture()
        let observer = ConsoleObserver(interactive: true, format: .logfmt, verbosity: .quiet, redactor: SecretRedactor(secrets: []),
                                       write: capture.write)
        observer.record(.stepApplied(step: 1, totalSteps: 2, statistics: statistics([1, 0])))
        observer.record(.checkpointSaved(step: 1, checkpointID: "c1", kind: .cadence))
        observer.record(.finished(state: .completed, step: 2, error: nil))
        #expect(capture.output == "\r\u{1B}[2Kjob completed at step 2\n")
    }

    @Test func theLiveLineShowsBarRewardsRateETAAndRequestsInFlight() {
        let line = ConsoleObserver.liveLine(step: 10, total: 40, lastMean: 0.61, recent: [0.5, 0.6], stepsThisRun: 10,
                                            elapsed: .seconds(120), inFlight: 3, limit: 8)
        #expect(line == "step 10/40 [#####...............] reward 0.610 (avg 0.550)  5.0 steps/min  ETA 6m00s  in flight 3/8")
    }

    @Test func theLiveLineIsCutToTheTerminalsWidthSoItNeverWraps() {
        let line = String(repeating: "x", count: 120)
        #expect(ConsoleObserver.fit(line, columns: 80).count == 79)
        #expect(ConsoleObserver.fit("short", columns: 80) == "short")
        #expect(ConsoleObserver.fit(line, columns: nil) == line)
    }
}
