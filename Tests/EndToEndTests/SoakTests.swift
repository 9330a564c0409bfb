import Foundation
import MoondreamSimulator
import Testing

extension EndToEnd {
    /// A long job with faults on: the runner's memory and open files must stay flat.
    /// Under `make soak` only (MOONTUNE_SOAK=1, MOONTUNE_SOAK_STEPS thousands of steps).
    @Suite(.enabled(if: EndToEnd.soak, "make soak runs it")) struct SoakTests {
        struct Sample {
            var rssKB: Int
            var fds: Int
        }

        static func sample(_ pid: Int32) -> Sample? {
            guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
                  let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") }),
                  let kb = Int(line.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first ?? ""),
                  let fds = try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/fd") else { return nil }
            return Sample(rssKB: kb, fds: fds.count)
        }

        @Test func memoryAndOpenFilesStayFlatOverALongJobWithFaults() async throws {
            let steps = Int(ProcessInfo.processInfo.environment["MOONTUNE_SOAK_STEPS"] ?? "") ?? 400
            var faults = FaultOptions()
            faults.serverErrorRate = 0.03
            faults.rateLimitRate = 0.02
            faults.retryAfterSeconds = 0.05
            faults.dropRate = 0.01
            faults.ambiguousTrainRate = 0.02
            try await withWorkspace(seed: 17, faults: faults) { workspace in
                try workspace.writeConfig(name: "soak", steps: steps, groups: 4, rollouts: 2, concurrency: 4, every: 50, eval: true,
                                          extraAPI: ["max_backoff_s": 0.05])
                let running = try workspace.start(["run", "config.json", "--quiet"])
                var samples: [Sample] = []
                while true {
                    try await Task.sleep(for: .milliseconds(200))
                    guard let sample = Self.sample(running.pid) else { break }
                    samples.append(sample)
                }
                let result = await running.wait(timeout: .seconds(3600))
                #expect(result.status == 0, "\(result.stderr)")
                #expect(await workspace.finetune("soak")?.trainStepsApplied == steps)
                #expect(await workspace.simulator.stats().doubleApplications == 0)

                try #require(samples.count >= 8, "the job ended too soon to measure (\(samples.count) samples)")
                // Compare the second quarter (warmed up) with the last quarter.
                let quarter = samples.count / 4
                let early = samples[quarter..<(2 * quarter)]
                let late = samples[(samples.count - quarter)...]
                func median(_ values: [Int]) -> Int { values.sorted()[values.count / 2] }
                let earlyRSS = median(early.map(\.rssKB)), lateRSS = median(late.map(\.rssKB))
                let earlyFDs = early.map(\.fds).max() ?? 0, lateFDs = late.map(\.fds).max() ?? 0
                print("soak: \(steps) steps, \(samples.count) samples; RSS \(earlyRSS) KB → \(lateRSS) KB; open files \(earlyFDs) → \(lateFDs)")
                #expect(lateRSS - earlyRSS < 12_000, "RSS grew from \(earlyRSS) KB to \(lateRSS) KB")
                #expect(lateFDs <= earlyFDs + 2, "open files grew from \(earlyFDs) to \(lateFDs)")
            }
        }
    }
}
