import Foundation
import Testing
@testable import MoontuneJob

@Suite struct LRScheduleTests {
    /// The contract's formula, written out independently.
    func expected(_ kind: String, k: Int, steps: Int, warmup: Int, lr: Double, final: Double) -> Double {
        if k <= warmup { return lr * Double(k) / Double(warmup) }
        let t = Double(k - warmup) / Double(steps - warmup)
        switch kind {
        case "linear": return lr - (lr - final) * t
        case "cosine": return final + (lr - final) * (1 + cos(.pi * t)) / 2
        default: return lr
        }
    }

    @Test(arguments: ["constant", "linear", "cosine"])
    func everyStepGetsTheContractsLr(_ kind: String) {
        let schedule = LRSchedule(kind: LRSchedule.Kind(rawValue: kind)!, warmupSteps: 5, finalLR: 0.0002)
        for k in 1...40 {
            let got = schedule.lr(step: k, of: 40, base: 0.002)
            #expect(abs(got - expected(kind, k: k, steps: 40, warmup: 5, lr: 0.002, final: 0.0002)) < 1e-15, "step \(k)")
        }
        #expect(abs(schedule.lr(step: 5, of: 40, base: 0.002) - 0.002) < 1e-15, "warm-up ends at the full lr")
        if kind != "constant" { #expect(abs(schedule.lr(step: 40, of: 40, base: 0.002) - 0.0002) < 1e-15, "ends at the final lr") }
    }

    @Test func theDefaultIsConstantAndTheFinalLrDefaultsToATenth() {
        #expect(LRSchedule().lr(step: 7, of: 10, base: 0.002) == 0.002)
        #expect(abs(LRSchedule(kind: .linear).lr(step: 10, of: 10, base: 0.002) - 0.0002) < 1e-15)
    }

    @Test func theConfigReadsTheScheduleAndRefusesBadValues() throws {
        let folder = try TemporaryFolder()
        let config = try JobConfig.load(from: try folder.config(minimalConfig(
            train: #""lr": 0.01, "lr_schedule": {"type": "cosine", "warmup_steps": 2, "final_lr": 0.001}"#))).config
        #expect(config.train.lrSchedule == LRSchedule(kind: .cosine, warmupSteps: 2, finalLR: 0.001))
        #expect(abs(config.train.lr(atStep: 1) - 0.005) < 1e-15)
        #expect(abs(config.train.lr(atStep: 10) - 0.001) < 1e-15)
        for (member, field) in [(#""lr_schedule": {"type": "step"}"#, "train.lr_schedule.type"),
                                (#""lr_schedule": {"warmup_steps": 11}"#, "train.lr_schedule.warmup_steps"),
                                (#""lr_schedule": {"final_lr": -1}"#, "train.lr_schedule.final_lr"),
                                (#""lr_schedule": {"warmup": 2}"#, "train.lr_schedule.warmup")] {
            let url = try folder.config(minimalConfig(train: member))
            do {
                _ = try JobConfig.load(from: url)
                Issue.record("\(member) was accepted")
            } catch {
                #expect(error.problems.map(\.field).contains(field), "\(member): \(error.problems)")
            }
        }
    }

    @Test func aScheduleIsATrainingSettingAndTiesANonConstantOneToTheSteps() throws {
        let folder = try TemporaryFolder()
        let dataset = DatasetFingerprint(byteCount: 1, modifiedMs: 1, sha256: "00")
        func fingerprint(_ train: String) throws -> TrainingFingerprint {
            try JobConfig.load(from: try folder.config(minimalConfig(train: train))).config.trainingFingerprint(train: dataset)
        }
        let constant = try fingerprint("")
        let cosine = try fingerprint(#""lr_schedule": {"type": "cosine"}"#)
        #expect(cosine.changes(from: constant).first?.hasPrefix("train.lr_schedule:") == true)
        // Extending a cosine job changes the lr of the steps to come: refused like any training setting.
        let longer = try JobConfig.load(from: try folder.config(
            minimalConfig(train: #""lr_schedule": {"type": "cosine"}"#).replacingOccurrences(of: #""steps": 10"#, with: #""steps": 20"#)))
            .config.trainingFingerprint(train: dataset)
        #expect(longer != cosine)
        // A constant job may still be extended.
        let constantLonger = try JobConfig.load(from: try folder.config(minimalConfig().replacingOccurrences(of: #""steps": 10"#, with: #""steps": 20"#)))
            .config.trainingFingerprint(train: dataset)
        #expect(constantLonger == constant)
    }
}
