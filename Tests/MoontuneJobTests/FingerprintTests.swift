import Foundation
import Testing
@testable import MoontuneJob
@testable import MoontuneConfig
@testable import MoontuneDataset
@testable import MoontuneRewards
@testable import MoontuneJSON

@Suite("Training fingerprint")
struct FingerprintTests {
    private let dataset = DatasetFingerprint(byteCount: 100, modifiedMs: 1, sha256: String(repeating: "a", count: 64))

    private func fingerprint(_ json: String, dataset: DatasetFingerprint? = nil) throws -> TrainingFingerprint {
        let folder = try TemporaryFolder()
        return try JobConfig.load(from: try folder.config(json)).config.trainingFingerprint(train: dataset ?? self.dataset)
    }

    @Test func sameSettingsGiveTheSameFingerprint() throws {
        #expect(try fingerprint(minimalConfig()) == fingerprint(minimalConfig()))
    }

    @Test func changedLearningRateIsNamedWithOldAndNewValues() throws {
        let old = try fingerprint(minimalConfig())
        let new = try fingerprint(minimalConfig(train: #""lr": 0.003"#))
        #expect(old.digest != new.digest)
        #expect(new.changes(from: old) == ["train.lr: 0.002 → 0.003"])
    }

    @Test func everySettingThatChangesTrainingChangesTheFingerprint() throws {
        let base = try fingerprint(minimalConfig())
        let variants = [
            minimalConfig().replacingOccurrences(of: #""rank": 16"#, with: #""rank": 32"#),
            minimalConfig(train: #""seed": 5"#),
            minimalConfig(train: #""groups_per_step": 4"#),
            minimalConfig(train: #""rollouts_per_group": 8"#),
            minimalConfig(train: #""reasoning": true"#),
            minimalConfig(train: #""settings": {"temperature": 0.5}"#),
            minimalConfig(train: #""settings": {"max_objects": 3}"#),
            minimalConfig(top: #""reward": {"source": "local"}"#),
            minimalConfig(top: #""reward": {"query": "contains"}"#),
            minimalConfig(top: #""reward": {"command": ["python3", "r.py"]}"#),
        ]
        for variant in variants {
            let changed = try fingerprint(variant)
            #expect(changed.digest != base.digest, "\(variant)")
            #expect(changed.changes(from: base).count == 1, "\(variant)")
        }
    }

    @Test func settingsThatMayChangeOnResumeAreLeftOut() throws {
        let base = try fingerprint(minimalConfig())
        let resumable = minimalConfig(train: #""steps": 500, "concurrency": 2, "max_staleness": 1"#.replacingOccurrences(of: #""steps": 500, "#, with: ""),
                                      top: #""checkpoint": {"every_steps": 3, "keep_last": 2}, "api": {"base_url": "http://127.0.0.1:9/v1"}"#)
            .replacingOccurrences(of: #""steps": 10"#, with: #""steps": 500"#)
        #expect(try fingerprint(resumable) == base)
    }

    @Test func changedDatasetContentIsNamedButAnotherModificationTimeIsNot() throws {
        let base = try fingerprint(minimalConfig())
        var touched = dataset
        touched.modifiedMs = 999
        #expect(try fingerprint(minimalConfig(), dataset: touched) == base)
        var edited = dataset
        edited.sha256 = String(repeating: "b", count: 64)
        let changes = try fingerprint(minimalConfig(), dataset: edited).changes(from: base)
        #expect(changes.count == 1)
        #expect(changes.first?.hasPrefix("data.train: sha256:aaaa") == true)
    }

    @Test func fingerprintSurvivesEncoding() throws {
        let original = try fingerprint(minimalConfig())
        let decoded = try JSONDecoder().decode(TrainingFingerprint.self, from: try JSONEncoder().encode(original))
        #expect(decoded == original)
    }
}
