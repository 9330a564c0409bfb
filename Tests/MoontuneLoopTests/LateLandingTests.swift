import Foundation
@testable import MoontuneLoop
import MoontuneStore
import Testing

/// Issue 20, through the real runner on virtual time: a step concluded "never landed" by waiting
/// is looked for again before the job ends, one train_step deadline (900 s by default) after the
/// conclusion, and a late landing then fails the job, naming the step, never `completed`.
@Suite struct LateLandingTests {
    static let deadlineMs: Int64 = 900_000

    @Test func aStepConcludedByWaitingIsLookedForAgainOneDeadlineLaterBeforeTheJobCompletes() async throws {
        let job = try LoopHarness(steps: 3, inDoubtWaitSeconds: 30)
        defer { job.remove() }
        job.service.script(.loseWithoutApplying(mayStillBeRunning: true))
        let outcome = await job.run()
        #expect(outcome.state == .completed)
        #expect(await job.isExact())
        let watched = job.clock.sleeps.filter { $0 != 5_000 }
        // The window (30 s since sending), then the final check's wait: one deadline after the
        // conclusion, less the virtual time the rest of the job took (none: it sleeps only here).
        #expect(watched.reduce(0, +) == 30_000 + Self.deadlineMs, "\(watched)")
        #expect(watched.last == Self.deadlineMs)
        #expect(await job.store.messages("final_check").count == 1)
        #expect(await job.store.messages("reconciled").contains(
            "final check: the server is at step 3, as the record says; step 1 did not land late"))
        #expect(await job.store.job.lateCheckStep == nil, "the check is cleared once done")
    }

    @Test func aServerThatAnsweredForItselfCallsForNoFinalCheck() async throws {
        let job = try LoopHarness(steps: 2)
        defer { job.remove() }
        job.service.script(.loseWithoutApplying(mayStillBeRunning: false))
        #expect(await job.run().state == .completed)
        #expect(await job.store.messages("final_check").isEmpty)
        #expect(job.clock.sleeps.filter { $0 != 5_000 }.isEmpty)
    }

    @Test(arguments: [true, false])
    func aLastStepThatLandsAfterItsShortWindowFailsTheFinalCheckNamingIt(answersStep: Bool) async throws {
        let job = try LoopHarness(steps: 3, checkpoint: ["every_steps": 3], inDoubtWaitSeconds: 2, answersStep: answersStep)
        defer { job.remove() }
        // Step 3 runs on the server for a minute after the client gave up; the window (2 s) is too short.
        job.service.script(.apply, .apply, .landLate(afterMs: 60_000))
        let outcome = await job.run()
        #expect(outcome.state == .failed)
        let error = outcome.error ?? ""
        #expect(error.hasPrefix("step 3 was applied twice"), "\(error)")
        #expect(error.contains("the final check"))
        #expect(await job.store.appliedSteps == [1, 2, 3], "the record keeps what it knows")
        #expect(job.service.step == 4, "the server did apply step 3 twice")
        #expect(job.service.checkpointSteps.contains(3), "the final checkpoint was saved before the late landing")
        #expect(await job.store.job.lateCheckStep == 3, "a failed check stays recorded")
    }

    @Test func aCheckLeftByACrashedRunIsStillDoneAndTheLateLandingCaughtByTheNextRun() async throws {
        let job = try LoopHarness(steps: 3, checkpoint: ["every_steps": 3], inDoubtWaitSeconds: 2)
        defer { job.remove() }
        job.service.script(.apply, .apply, .landLate(afterMs: 60_000))
        // The first run dies at the final check's read, after the final checkpoint was saved.
        job.service.crashAtSaveAfterCheckpoint(3)
        let first = await job.run()
        #expect(first.state != .completed)
        #expect(await job.store.job.lateCheckStep == 3, "the conclusion and its check were recorded together")
        let second = await job.run()
        #expect(second.state == .failed)
        #expect(second.error?.contains("Step 3 was concluded \"never landed\"") == true, "\(second.error ?? "")")
        #expect(job.service.step == 4)
    }

    @Test func aCheckLeftByACrashedRunPassesInTheNextWhenNothingLanded() async throws {
        let job = try LoopHarness(steps: 3, checkpoint: ["every_steps": 3], inDoubtWaitSeconds: 2)
        defer { job.remove() }
        job.service.script(.apply, .apply, .loseWithoutApplying(mayStillBeRunning: true))
        job.service.crashAtSaveAfterCheckpoint(3)
        #expect(await job.run().state != .completed)
        #expect(await job.store.job.lateCheckStep == 3)
        let second = await job.run()
        #expect(second.state == .completed, "\(second.error ?? "")")
        #expect(await job.isExact())
        #expect(await job.store.job.lateCheckStep == nil)
        #expect(await job.store.messages("reconciled").contains(
            "final check: the server is at step 3, as the record says; step 3 did not land late"))
    }
}
