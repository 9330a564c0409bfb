import ArgumentParser
import Foundation
import MoontuneImaging

/// `moontune sample-data DIR`: writes the demo dataset (generated images of shapes with exact
/// ground truth) and a job config for it.
struct SampleDataCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sample-data",
        abstract: "Write a small generated dataset (images of shapes, with ground truth) and a job config for it.",
        discussion: """
            Writes DIR/images/, DIR/train.jsonl, DIR/eval.jsonl (with --eval-images > 0) and DIR/config.json. Each image gives one point, one \
            detect and one query example. With --eval-on-train the config's eval set is the training set: the local \
            simulator learns per image (it cannot see pixels), so only training images show its progress.
            """)

    @Argument(help: "The folder to write into (created if needed).")
    var directory: String

    @Option(help: "Training images (each gives one point, one detect and one query example).")
    var images = 16

    @Option(help: "Eval images.")
    var evalImages = 8

    @Option(help: "The job's name in the written config.")
    var name = "shapes-demo"

    @Option(help: "The api.base_url written into the config.")
    var baseURL = "https://api.moondream.ai/v1"

    @Option(help: "train.steps in the written config.")
    var steps = 40

    @Option(help: "train.groups_per_step in the written config.")
    var groupsPerStep = 8

    @Option(help: "train.rollouts_per_group in the written config.")
    var rolloutsPerGroup = 4

    @Option(help: "checkpoint.every_steps and eval.every_steps in the written config.")
    var every = 10

    @Option(help: "Image format: png or jpeg.")
    var format = "png"

    @Option(help: "Seed of the generated shapes.")
    var seed: UInt64 = 7

    @Flag(help: "Evaluate on the training set (data.eval = train.jsonl): what the simulator can show.")
    var evalOnTrain = false

    func validate() throws {
        guard format == "png" || format == "jpeg" else { throw ValidationError("--format must be png or jpeg") }
        guard images > 0, evalImages >= 0 else { throw ValidationError("--images must be at least 1 and --eval-images at least 0") }
        guard steps > 0, groupsPerStep > 0, every > 0 else { throw ValidationError("--steps, --groups-per-step and --every must be positive") }
        guard (1...16).contains(rolloutsPerGroup) else { throw ValidationError("--rollouts-per-group must be from 1 to 16") }
    }

    func run() throws {
        let folder = URL(fileURLWithPath: directory)
        var options = ShapeDataset.Options()
        options.images = images
        options.evalImages = evalImages
        options.format = format
        options.seed = seed
        try ShapeDataset.write(to: folder, options: options)
        let evalFile = evalOnTrain || evalImages == 0 ? "train.jsonl" : "eval.jsonl"
        let examplesPerImage = 3
        let config: [String: Any] = [
            "name": name,
            "rank": 8,
            "api": ["base_url": baseURL, "api_key_env": "MOONDREAM_API_KEY"],
            "data": ["train": "train.jsonl", "eval": evalFile],
            "train": ["steps": steps, "groups_per_step": groupsPerStep, "rollouts_per_group": rolloutsPerGroup, "lr": 0.002, "seed": 1,
                      "concurrency": 8, "settings": ["temperature": 1.0, "top_p": 1.0, "max_tokens": 128, "max_objects": 4]],
            "checkpoint": ["every_steps": every],
            "eval": ["every_steps": every, "max_examples": (evalFile == "train.jsonl" ? images : evalImages) * examplesPerImage],
        ]
        let data = try JSONSerialization.data(withJSONObject: config, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes])
        try data.write(to: folder.appendingPathComponent("config.json"))
        let files = evalImages > 0 ? "train.jsonl, eval.jsonl and config.json" : "train.jsonl and config.json"
        print("wrote \(images) training and \(evalImages) eval images, \(files) to \(folder.path)"
            + (evalFile == "train.jsonl" ? " (eval on the training set)" : ""))
    }
}
