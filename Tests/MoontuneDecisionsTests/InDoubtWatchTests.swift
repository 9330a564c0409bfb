import Testing
@testable import MoontuneDecisions

/// The decisions about a train_step whose outcome is unknown, and about a train_step's answer:
/// pure, so every case runs here without a server, a process or a sleep.
@Suite struct InDoubtWatchTests {
    /// Step 8 sent at t = 1,000 ms with a 60 s window; the record is at step 7.
    func watch() -> InDoubtWatch { InDoubtWatch(step: 8, lastApplied: 7, sentAtMs: 1_000, waitMs: 60_000) }

    @Test func aStepThatLandsIsMarkedAppliedAtTheFirstReadThatSeesIt() {
        var watch = watch()
        #expect(watch.decide(serverStep: 7, nowMs: 2_000) == .readAgain(afterMs: 500))
        #expect(watch.decide(serverStep: 7, nowMs: 2_500) == .readAgain(afterMs: 1_000))
        #expect(watch.decide(serverStep: 8, nowMs: 3_500) == .markApplied)
    }

    @Test func neverLandedIsNotConcludedBeforeTheWindowSinceSendingIsOver() {
        var watch = watch()
        var now: Int64 = 1_200  // a timeout answered quickly
        var reads = 0
        while true {
            let action = watch.decide(serverStep: 7, nowMs: now)
            reads += 1
            guard case .readAgain(let delay) = action else {
                #expect(action == .discardIntent)
                break
            }
            #expect(delay > 0)
            #expect(delay <= 10_000)
            now += delay
        }
        // The last read is on the deadline, not before it.
        #expect(now == 61_000)
        #expect(reads > 3)
    }

    @Test func theBackoffGrowsToTenSecondsAndNeverPassesTheDeadline() {
        #expect((1...8).map(InDoubtWatch.delayMs(afterReads:)) == [500, 1_000, 2_000, 4_000, 8_000, 10_000, 10_000, 10_000])
        var watch = InDoubtWatch(step: 2, lastApplied: 1, sentAtMs: 0, waitMs: 700)
        #expect(watch.decide(serverStep: 1, nowMs: 0) == .readAgain(afterMs: 500))
        #expect(watch.decide(serverStep: 1, nowMs: 500) == .readAgain(afterMs: 200))
        #expect(watch.decide(serverStep: 1, nowMs: 700) == .discardIntent)
    }

    @Test func aZeroWindowReadsOnceAndDecides() {
        var landed = InDoubtWatch(step: 3, lastApplied: 2, sentAtMs: 0, waitMs: 0)
        #expect(landed.decide(serverStep: 3, nowMs: 10) == .markApplied)
        var lost = InDoubtWatch(step: 3, lastApplied: 2, sentAtMs: 0, waitMs: 0)
        #expect(lost.decide(serverStep: 2, nowMs: 10) == .discardIntent)
    }

    @Test func aServerElsewhereIsHandedBackWithoutGuessing() {
        var ahead = watch()
        #expect(ahead.decide(serverStep: 9, nowMs: 2_000) == .inconsistent(.serverAhead(recorded: 8, server: 9)))
        var behind = watch()
        #expect(behind.decide(serverStep: 5, nowMs: 2_000) == .inconsistent(.serverBehind(recorded: 7, server: 5)))
    }

    @Test func durationsAreSpokenForMessages() {
        #expect(spokenDuration(ms: 300) == "1 s")
        #expect(spokenDuration(ms: 45_000) == "45 s")
        #expect(spokenDuration(ms: 14 * 60_000) == "14 min")
        #expect(spokenDuration(ms: 900_000) == "15 min")
        #expect(spokenDuration(ms: 125 * 60_000) == "2 h 5 min")
    }
}

@Suite struct TrainAnswerTests {
    @Test func theReferenceEmptyAnswerIsAnAppliedStep() {
        #expect(TrainAnswer.decide(k: 5, step: nil, applied: nil) == .applied(serverStep: nil))
        #expect(TrainAnswer.decide(k: 5, step: nil, applied: true) == .applied(serverStep: nil))
    }

    @Test func theLiveAnswerIsCheckedAgainstTheExpectedStep() {
        #expect(TrainAnswer.decide(k: 5, step: 5, applied: true) == .applied(serverStep: 5))
        #expect(TrainAnswer.decide(k: 5, step: 5, applied: nil) == .applied(serverStep: 5))
    }

    @Test func aServerAheadIsCaughtAtTheStepItHappens() {
        // The late landing of an earlier step, or another client: one step more than expected.
        #expect(TrainAnswer.decide(k: 5, step: 6, applied: true) == .serverElsewhere(expected: 5, server: 6, applied: true))
        #expect(TrainAnswer.decide(k: 5, step: 3, applied: true) == .serverElsewhere(expected: 5, server: 3, applied: true))
    }

    @Test func anUnappliedAnswerIsADeclineWhenTheServerStayedPut() {
        #expect(TrainAnswer.decide(k: 5, step: 4, applied: false) == .declined)
        #expect(TrainAnswer.decide(k: 5, step: nil, applied: false) == .declined)
        #expect(TrainAnswer.decide(k: 5, step: 6, applied: false) == .serverElsewhere(expected: 4, server: 6, applied: false))
    }
}
