import Foundation
import MoondreamAPI
import MoontuneJob
import MoontuneStore
import NIOPosix

/// What `predict` asks a model about an image.
package enum PredictionRequest: Sendable, Equatable {
    case point(String), detect(String), query(String), caption
}

/// One inference's answer, as `predict` prints it.
package struct Prediction: Encodable, Sendable {
    package var model: String
    package var skill: String
    package var points: [Point]?
    package var objects: [Box]?
    package var answer: String?
    package var caption: String?
    /// The PNG written with the answer drawn on the image (`--draw`).
    package var drawn: String?

    package init(model: String, skill: String) {
        self.model = model
        self.skill = skill
    }

    package var text: String {
        var lines = ["model \(model)"]
        if let points {
            lines.append(points.isEmpty ? "no points" : "\(points.count) point\(points.count == 1 ? "" : "s"):")
            lines += points.map { String(format: "  x %.3f  y %.3f", $0.x, $0.y) }
        }
        if let objects {
            lines.append(objects.isEmpty ? "no objects" : "\(objects.count) object\(objects.count == 1 ? "" : "s"):")
            lines += objects.map { String(format: "  x %.3f–%.3f  y %.3f–%.3f", $0.xMin, $0.xMax, $0.yMin, $0.yMax) }
        }
        if let answer { lines.append(answer) }
        if let caption { lines.append(caption) }
        if let drawn { lines.append("drawn: \(drawn)") }
        return lines.joined(separator: "\n")
    }
}

/// `predict`: one inference with a saved checkpoint of a job (or the base model).
package enum Predictor {
    /// Asks the model `checkpoint` chooses (nil: the base model) of job `name` about `image`; with
    /// `draw`, also writes the image with the predicted points or boxes drawn on it, as PNG.
    package static func predict(job name: String, checkpoint: CheckpointChoice?, request: PredictionRequest, image: String,
                                draw: String?, databasePath: String) async throws -> Prediction {
        let local = try LocalJobs.open(databasePath)
        let job = try await local.job(named: name)
        let imageURL = URL(fileURLWithPath: image)
        let dataURL: String
        do {
            dataURL = try await NIOThreadPool.singleton.runIfActive { try ImageCache().dataURL(for: imageURL) }
        } catch let error as DatasetError {
            throw ManageFailure(error.problems.map(\.description).joined(separator: "; "))
        }
        var prediction = try await withClient(try APIAccess.job(job).makeClient(maxInFlight: 1)) { client in
            let model = try await model(job: job, checkpoint: checkpoint, local: local, client: client)
            return try await predict(request, model: model, imageURL: dataURL, client: client)
        }
        if let draw {
            try PredictionDrawing.write(imageFile: imageURL, points: prediction.points ?? [], boxes: prediction.objects ?? [],
                                        to: URL(fileURLWithPath: draw))
            prediction.drawn = draw
        }
        return prediction
    }

    /// The model string: the base model (nil), or the chosen checkpoint as the server lists it.
    package static func model(job: JobRecord, checkpoint: CheckpointChoice?, local: LocalJobs,
                              client: MoondreamClient) async throws -> String? {
        guard let choice = checkpoint else { return nil }
        let finetuneID = try LocalJobs.finetuneID(of: job)
        let serverSteps: [Int]
        do {
            serverSteps = try await client.allCheckpoints(finetuneID: finetuneID).collect().map(\.step)
        } catch let error as APIError where error.kind == .notFound {
            throw ManageFailure("the finetune \(finetuneID) of job \(job.name) no longer exists on \(job.baseURL)")
        }
        let record = try await local.store?.checkpoints(jobID: job.id ?? 0) ?? []
        let evals = try await local.store?.evals(jobID: job.id ?? 0) ?? []
        let chosen = try choice.resolve(job: job.name, serverSteps: serverSteps, record: record,
                                        evals: Dictionary(evals.map { ($0.step, $0.rewardMean) }, uniquingKeysWith: { a, _ in a }))
        return inferenceModel(finetuneID: finetuneID, step: chosen)
    }

    /// One call to the inference endpoint of the request's skill.
    package static func predict(_ request: PredictionRequest, model: String?, imageURL: String,
                                client: MoondreamClient) async throws -> Prediction {
        var prediction = Prediction(model: model ?? "moondream3-preview", skill: "")
        do {
            switch request {
            case .point(let object):
                prediction.skill = "point"
                prediction.points = try await client.point(model: model, imageURL: imageURL, object: object)
            case .detect(let object):
                prediction.skill = "detect"
                prediction.objects = try await client.detect(model: model, imageURL: imageURL, object: object)
            case .query(let question):
                prediction.skill = "query"
                prediction.answer = try await client.query(model: model, imageURL: imageURL, question: question)
            case .caption:
                prediction.skill = "caption"
                prediction.caption = try await client.caption(model: model, imageURL: imageURL)
            }
        } catch let error as APIError where error.kind == .notFound {
            throw ManageFailure("\(prediction.model) is not available on the server (deleted checkpoint or finetune?): \(error.message)")
        }
        return prediction
    }
}
