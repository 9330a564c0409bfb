import ArgumentParser
import Foundation
import MoontuneImaging

/// `moontune sample-data DIR`: writes the demo dataset (generated images of shapes with exact
/// ground truth) and a job config for it.
struct SampleDataCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sample-data",
        abstract: "Write a small generated dataset (images of shapes, with ground truth) and a job config for it.")

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

    @Option(help: "Steps in the written config.")
    var steps = 40

    @Option(help: "Image format: png or jpeg.")
    var format = "png"

    func run() throws {
        guard format == "png" || format == "jpeg" else { throw ValidationError("--format must be png or jpeg") }
        let folder = URL(fileURLWithPath: directory)
        var options = ShapeDataset.Options()
        options.images = images
        options.evalImages = evalImages
        options.format = format
        try ShapeDataset.write(to: folder, options: options)
        let config: [String: Any] = [
            "name": name,
            "rank": 8,
            "api": ["base_url": baseURL, "api_key_env": "MOONDREAM_API_KEY"],
            "data": ["train": "train.jsonl", "eval": "eval.jsonl"],
            "train": ["steps": steps, "groups_per_step": 8, "rollouts_per_group": 4, "lr": 0.002, "seed": 1, "concurrency": 8,
                      "settings": ["temperature": 1.0, "top_p": 1.0, "max_tokens": 128, "max_objects": 4]],
            "checkpoint": ["every_steps": 10],
            "eval": ["every_steps": 10, "max_examples": 24],
        ]
        let data = try JSONSerialization.data(withJSONObject: config, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes])
        try data.write(to: folder.appendingPathComponent("config.json"))
        print("wrote \(images) training and \(evalImages) eval images, train.jsonl, eval.jsonl and config.json to \(folder.path)")
    }
}
