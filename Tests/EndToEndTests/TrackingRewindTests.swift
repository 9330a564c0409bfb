import Foundation
import MoondreamSimulator
import MoontuneStore
import Testing

extension EndToEnd {
    /// `run --rewind-to-server` with TensorBoard tracking: the steps trained again replace the old
    /// points, as TensorBoard's own loader shows them.
    @Suite(.serialized) struct TrackingRewindTests {
        /// Every scalar as TensorBoard's `EventAccumulator` shows it, and the raw count per (tag, step).
        static let reader = """
            import glob, json, os, sys
            from tensorboard.backend.event_processing import event_file_loader
            from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
            folder = sys.argv[1]
            raw = {}
            for path in sorted(glob.glob(os.path.join(folder, "events.out.tfevents.*"))):
                for event in event_file_loader.LegacyEventFileLoader(path).Load():
                    for v in event.summary.value:
                        if v.WhichOneof("value") == "simple_value":
                            key = "%s@%d" % (v.tag, event.step)
                            raw[key] = raw.get(key, 0) + 1
            acc = EventAccumulator(folder, size_guidance={"scalars": 0})
            acc.Reload()
            shown = {tag: [[e.step, e.value] for e in acc.Scalars(tag)] for tag in acc.Tags()["scalars"]}
            print(json.dumps({"raw": raw, "shown": shown}))
            """

        @Test func aRewindReplacesTheStepsTrainedAgainInTensorBoard() async throws {
            try await withWorkspace { workspace in
                let tracking: [String: Any] = ["tracking": ["tensorboard": ["logdir": "runs"]]]
                try workspace.writeConfig(name: "rewound", steps: 8, groups: 2, rollouts: 2, concurrency: 2, every: 2, extra: tracking)
                #expect(try await workspace.run(["run", "config.json"]).status == 0)
                let id = try #require(await workspace.finetune("rewound")?.finetuneID)
                try await workspace.control("finetunes/\(id)/restore", ["step": 4])
                try workspace.writeConfig(name: "rewound", steps: 10, groups: 2, rollouts: 2, concurrency: 2, every: 2, extra: tracking)
                let rewound = try await workspace.run(["run", "config.json", "--rewind-to-server"])
                #expect(rewound.status == 0, "\(rewound.stderr.suffix(2000))")
                let steps = try await workspace.steps("rewound")
                #expect(steps.map(\.k) == Array(1...10))

                let folder = workspace.directory.appendingPathComponent("runs/rewound")
                let result = try await ServeHTTPTests.tool("/usr/bin/env", ["python3", "-c", Self.reader, folder.path], in: workspace.directory,
                                                           timeout: .seconds(120))
                #expect(result.status == 0, "\(result.stderr.suffix(2000))")
                let json = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
                let raw = json["raw"] as? [String: Int] ?? [:]
                let shown = (json["shown"] as? [String: [[Double]]] ?? [:]).mapValues { $0.map { (step: Int($0[0]), value: $0[1]) } }
                // The files hold steps 5-8 twice (nothing is rewritten); TensorBoard shows each once.
                #expect((5...8).allSatisfy { raw["train/lr@\($0)"] == 2 }, "\(raw.filter { $0.key.hasPrefix("train/lr@") })")
                #expect(shown["train/lr"]?.map(\.step) == Array(1...10), "\(shown["train/lr"] ?? [])")
                let rewarded = steps.filter { $0.rewardMean != nil }
                #expect(shown["train/reward_mean"]?.map(\.step) == rewarded.map(\.k))
                for step in rewarded {
                    let value = shown["train/reward_mean"]?.first { $0.step == step.k }?.value
                    #expect(value.map { abs($0 - step.rewardMean!) < 1e-5 } == true, "train/reward_mean at \(step.k): \(String(describing: value))")
                }
                #expect(shown.keys.contains { $0.hasPrefix("train/") && $0.hasSuffix("/reward_mean") && $0.split(separator: "/").count == 3 },
                        "per-skill train rewards: \(shown.keys.sorted())")
                let status = try await workspace.statusJSON("rewound")
                let board = (status["trackers"] as? [[String: Any]])?.first
                #expect(board?["backlog"] as? Int == 0 && board?["delivered_through_step"] as? Int == 10, "\(String(describing: board))")
            }
        }
    }
}
