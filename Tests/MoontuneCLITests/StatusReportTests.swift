import Foundation
@testable import MoontuneCLI
@testable import MoontuneReport
@testable import MoontuneStore
import Testing

@Suite struct StatusReportTests {
    @Test func theStepRateIgnoresStepsOfAnEarlierRun() {
        // Steps 1–5 an hour ago, then a restart; steps 6–11 one every 2 s.
        var series = (1...5).map { StepPoint(k: $0, appliedAtMs: Int64($0) * 1000) }
        series += (6...11).map { StepPoint(k: $0, appliedAtMs: 3_600_000 + Int64($0 - 6) * 2000) }
        let rate = JobStatusReport.stepRate(series, since: 3_599_000)
        #expect(rate == 30)
        #expect(JobStatusReport.stepRate(Array(series.prefix(1)), since: nil) == nil, "one step gives no rate")
    }

    @Test func perSkillFiguresPoolTheRecentSteps() {
        func step(_ k: Int, mean: Double, std: Double, count: Int) -> StepRecord {
            StepRecord(jobID: 1, k: k, state: .applied, exampleIDs: "[]", intentAtMs: 0, reconciled: false, retries: 0,
                       metricsJSON: #"{"per_skill":{"point":{"mean":\#(mean),"std":\#(std),"min":0,"max":1,"count":\#(count)}}}"#)
        }
        // {0, 0} and {1, 1}: pooled mean 0.5, std 0.5 over 4 rewards.
        let pooled = JobStatusReport.pooledPerSkill([step(1, mean: 0, std: 0, count: 2), step(2, mean: 1, std: 0, count: 2)])
        let point = pooled["point"]
        #expect(point?.n == 4)
        #expect(point.map { abs($0.mean - 0.5) < 1e-12 } == true)
        #expect(point.map { abs($0.std - 0.5) < 1e-12 } == true)
    }

    func record(state: JobState, host: String?, heartbeat: Int64?) -> JobRecord {
        var job = JobRecord(name: "j", configPath: "/c", configJSON: "{}", fingerprintJSON: "{}", baseURL: "u", apiKeyEnv: "K",
                            totalSteps: 10, now: 0)
        job.state = state
        job.host = host
        job.heartbeatMs = heartbeat
        job.pid = 4_000_000
        return job
    }

    @Test func aRunningRecordIsInterruptedWhenItsHeartbeatIsStale() {
        let now: Int64 = 1_000_000
        let elsewhere = "host-that-is-not-this-one.example"
        #expect(JobLiveness.displayedState(record(state: .running, host: elsewhere, heartbeat: now - 5000), databasePath: "/nonexistent", now: now) == "running")
        #expect(JobLiveness.displayedState(record(state: .running, host: elsewhere, heartbeat: now - 60_000), databasePath: "/nonexistent", now: now) == "interrupted")
        #expect(JobLiveness.displayedState(record(state: .running, host: elsewhere, heartbeat: nil), databasePath: "/nonexistent", now: now) == "interrupted")
    }

    @Test func aRunningRecordOnThisHostWithoutItsLockIsInterrupted() {
        let now: Int64 = 1_000_000
        let here = ProcessInfo.processInfo.hostName
        #expect(JobLiveness.displayedState(record(state: .running, host: here, heartbeat: now), databasePath: "/nonexistent", now: now) == "interrupted")
        #expect(JobLiveness.displayedState(record(state: .stopped, host: here, heartbeat: 0), databasePath: "/nonexistent", now: now) == "stopped")
    }

    @Test func theSparklineRisesWithTheValues() {
        #expect(StatusText.sparkline([0, 0.5, 1]) == "▁▅█")
        #expect(StatusText.sparkline([0.3, 0.3]) == "▅▅")
        #expect(StatusText.sparkline([]) == "")
    }

    @Test func downsamplingAveragesContiguousBuckets() {
        #expect(Downsample.means([1, 2, 3, 4, 5, 6], buckets: 3) == [1.5, 3.5, 5.5])
        #expect(Downsample.means([1, 2], buckets: 60) == [1, 2])
        let ranges = Downsample.ranges(count: 10, buckets: 3)
        #expect(ranges.first?.lowerBound == 0 && ranges.last?.upperBound == 10)
        #expect(zip(ranges, ranges.dropFirst()).allSatisfy { $0.upperBound == $1.lowerBound })
    }
}

@Suite struct CheckpointExpiryWarningTests {
    func checkpoint(_ step: Int, expires: Int64?, deleted: Bool = false) -> CheckpointRecord {
        CheckpointRecord(jobID: 1, step: step, checkpointID: "c\(step)", kind: .cadence, savedAtMs: 0,
                         deletedAtMs: deleted ? 1 : nil, expiresAtMs: expires)
    }

    let now: Int64 = 1_800_000_000_000
    let hour: Int64 = 3_600_000

    @Test func theLatestCheckpointExpiringWithinADayIsAWarning() {
        let warnings = JobStatusReport.warnings(checkpoints: [checkpoint(5, expires: now + 100 * hour), checkpoint(10, expires: now + 5 * hour)],
                                                now: now)
        #expect(warnings.count == 1)
        #expect(warnings.first?.contains("step 10") == true)
        #expect(warnings.first?.contains("only way to resume") == true)
    }

    @Test func anExpiredLatestCheckpointIsSaid() {
        let warnings = JobStatusReport.warnings(checkpoints: [checkpoint(10, expires: now - hour)], now: now)
        #expect(warnings.first?.contains("expired") == true)
    }

    @Test func noWarningForAFarExpiryAnOlderCheckpointOrNoExpiry() {
        #expect(JobStatusReport.warnings(checkpoints: [checkpoint(10, expires: now + 48 * hour)], now: now).isEmpty)
        #expect(JobStatusReport.warnings(checkpoints: [checkpoint(5, expires: now + hour), checkpoint(10, expires: nil)], now: now).isEmpty)
        #expect(JobStatusReport.warnings(checkpoints: [], now: now).isEmpty)
    }
}
