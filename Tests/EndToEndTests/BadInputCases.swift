import Foundation

/// The table of malformed inputs. Configs are `cNN.json` with the member under test on its known
/// line (see `ConfigText`); datasets are `dNN.jsonl` whose line 3 is the bad one.
enum BadInputCases {
    static let all = config + dataset

    /// `c…`: broken, mistyped and out-of-range configs.
    static let config: [BadInput] = [
        BadInput(id: "c01", title: "broken JSON (a doubled comma)", prepare: { try $0.config("c01") {
            $0.train = #"{"steps": 2,, "groups_per_step": 2}"#
        } }, file: "c01.json", line: 6, field: "train", fragment: "invalid JSON at column 24: expected a quoted key"),
        BadInput(id: "c02", title: "truncated JSON", prepare: { folder in
            let text = ConfigText().text(baseURL: folder.baseURL)
            guard let cut = text.range(of: #""lr": "#) else { throw FixtureError("no lr in the config") }
            try folder.write("c02.json", String(text[..<cut.upperBound]))
            return "c02.json"
        }, file: "c02.json", line: 6, field: "train.lr", fragment: "unexpected end of input"),
        BadInput(id: "c03", title: "a NUL byte inside a string", prepare: { try $0.config("c03") { $0.name = "\"pri\u{0}or\"" } },
                 file: "c03.json", line: 2, field: "name", fragment: "control character in a string"),
        BadInput(id: "c04", title: "nesting 200 levels deep", prepare: { try $0.config("c04") {
            $0.checkpoint = String(repeating: "[", count: 200) + String(repeating: "]", count: 200)
        } }, file: "c04.json", line: 7, field: "checkpoint[0][0][0][0][0][0][0]…", fragment: "nesting deeper than 128 levels"),
        BadInput(id: "c05", title: "UTF-16 text (a Windows editor's encoding)", prepare: { folder in
            let text = ConfigText().text(baseURL: folder.baseURL)
            let utf16 = [UInt8]([0xFF, 0xFE]) + text.utf16.flatMap { [UInt8($0 & 0xFF), UInt8($0 >> 8)] }
            try folder.write("c05.json", utf16)
            return "c05.json"
        }, file: "c05.json", line: 1, field: nil, fragment: "unexpected character '\\xff'"),
        BadInput(id: "c06", title: "a string where an integer goes", prepare: { try $0.config("c06") { $0.rank = #""8""# } },
                 file: "c06.json", line: 3, field: "rank", fragment: "expected an integer, got a string"),
        BadInput(id: "c07", title: "a string where a section goes", prepare: { try $0.config("c07") { $0.data = #""train.jsonl""# } },
                 file: "c07.json", line: 5, field: "data", fragment: "expected an object, got a string"),
        BadInput(id: "c08", title: "a boolean where an integer goes", prepare: { try $0.config("c08") {
            $0.train = #"{"steps": true}"#
        } }, file: "c08.json", line: 6, field: "train.steps", fragment: "expected an integer, got a boolean"),
        BadInput(id: "c09", title: "NaN", prepare: { try $0.config("c09") { $0.train = #"{"steps": 2, "lr": NaN}"# } },
                 file: "c09.json", line: 6, field: "train.lr", fragment: "NaN and Infinity are not JSON numbers"),
        BadInput(id: "c10", title: "Infinity", prepare: { try $0.config("c10") { $0.checkpoint = #"{"every_steps": Infinity}"# } },
                 file: "c10.json", line: 7, field: "checkpoint.every_steps", fragment: "NaN and Infinity are not JSON numbers"),
        BadInput(id: "c11", title: "-Infinity", prepare: { try $0.config("c11") {
            $0.api = #"{"base_url": "%URL%", "max_backoff_s": -Infinity}"#
        } }, file: "c11.json", line: 4, field: "api.max_backoff_s", fragment: "NaN and Infinity are not JSON numbers"),
        BadInput(id: "c12", title: "a negative step count", prepare: { try $0.config("c12") { $0.train = #"{"steps": -5}"# } },
                 file: "c12.json", line: 6, field: "train.steps", fragment: "must be ≥ 1, got -5"),
        BadInput(id: "c13", title: "a negative rank", prepare: { try $0.config("c13") { $0.rank = "-8" } },
                 file: "c13.json", line: 3, field: "rank", fragment: "must be 8, 16, 24 or 32, got -8"),
        BadInput(id: "c14", title: "an integer beyond 64 bits", prepare: { try $0.config("c14") {
            $0.train = #"{"steps": 2, "groups_per_step": 99999999999999999999}"#
        } }, file: "c14.json", line: 6, field: "train.groups_per_step", fragment: "99999999999999999999 is out of range"),
        BadInput(id: "c15", title: "a number beyond a double (1e400)", prepare: { try $0.config("c15") {
            $0.api = #"{"base_url": "%URL%", "request_timeout_s": 1e400}"#
        } }, file: "c15.json", line: 4, field: "api.request_timeout_s", fragment: "1e400 is out of range (expected a finite number)"),
        BadInput(id: "c16", title: "a timeout of 1e300 seconds", prepare: { try $0.config("c16") {
            $0.api = #"{"base_url": "%URL%", "give_up_after_s": 1e300}"#
        } }, file: "c16.json", line: 4, field: "api.give_up_after_s", fragment: "must be at most 10000000 seconds"),
        BadInput(id: "c17", title: "Int.max groups per step", prepare: { try $0.config("c17") {
            $0.train = #"{"steps": 2, "groups_per_step": 9223372036854775807}"#
        } }, file: "c17.json", line: 6, field: "train.groups_per_step", fragment: "must be at most 1024, got 9223372036854775807"),
        BadInput(id: "c18", title: "rollouts_per_group above the API's 16", prepare: { try $0.config("c18") {
            $0.train = #"{"steps": 2, "rollouts_per_group": 17}"#
        } }, file: "c18.json", line: 6, field: "train.rollouts_per_group", fragment: "must be from 1 to 16"),
        BadInput(id: "c19", title: "top_p above 1", prepare: { try $0.config("c19") {
            $0.train = #"{"steps": 2, "settings": {"top_p": 1.5}}"#
        } }, file: "c19.json", line: 6, field: "train.settings.top_p", fragment: "must be in (0, 1], got 1.5"),
        BadInput(id: "c20", title: "a rank the API does not offer", prepare: { try $0.config("c20") { $0.rank = "12" } },
                 file: "c20.json", line: 3, field: "rank", fragment: "must be 8, 16, 24 or 32, got 12"),
        BadInput(id: "c21", title: "another tool's key name", prepare: { try $0.config("c21") {
            $0.train = #"{"steps": 2, "learning_rate": 0.002}"#
        } }, file: "c21.json", line: 6, field: "train.learning_rate", fragment: #"unknown key; did you mean "lr"?"#),
        BadInput(id: "c22", title: "a misspelt section", prepare: { try $0.config("c22") { $0.extra = [#""chekpoint": {}"#] } },
                 file: "c22.json", line: 8, field: "chekpoint", fragment: #"unknown key; did you mean "checkpoint"?"#),
        BadInput(id: "c23", title: "a key in the wrong section", prepare: { try $0.config("c23") { $0.extra = [#""concurrency": 2"#] } },
                 file: "c23.json", line: 8, field: "concurrency", fragment: #"it belongs in "train""#),
        BadInput(id: "c24", title: "a key written twice", prepare: { try $0.config("c24") { $0.extra = [#""rank": 16"#] } },
                 file: "c24.json", line: 8, field: "rank", fragment: "key appears more than once"),
        BadInput(id: "c25", title: "a name the API refuses", prepare: { try $0.config("c25") { $0.name = #""my job!""# } },
                 file: "c25.json", line: 2, field: "name", fragment: "has characters the API refuses"),
        BadInput(id: "c26", title: "a base URL that is not http(s)", prepare: { try $0.config("c26") {
            $0.api = #"{"base_url": "ftp://127.0.0.1/v1"}"#
        } }, file: "c26.json", line: 4, field: "api.base_url", fragment: "expected an http or https URL"),
        BadInput(id: "c27", title: "a negative seed", prepare: { try $0.config("c27") { $0.train = #"{"steps": 2, "seed": -1}"# } },
                 file: "c27.json", line: 6, field: "train.seed", fragment: "expected an integer from 0 to 18446744073709551615, got -1"),
        BadInput(id: "c28", title: "an unknown reward source", prepare: { try $0.config("c28") { $0.extra = [#""reward": {"source": "sever"}"#] } },
                 file: "c28.json", line: 8, field: "reward.source", fragment: #"did you mean "server"?"#),
        BadInput(id: "c29", title: "an empty file", prepare: { try $0.write("c29.json", ""); return "c29.json" },
                 file: "c29.json", line: 1, field: nil, fragment: "unexpected end of input"),
        BadInput(id: "c30", title: "an absent file", prepare: { _ in "c30-absent.json" },
                 file: "c30-absent.json", line: nil, field: nil, fragment: "cannot read the config"),
        BadInput(id: "c31", title: "a directory where the config goes", prepare: { folder in
            try FileManager.default.createDirectory(at: folder.url("c31.json"), withIntermediateDirectories: true)
            return "c31.json"
        }, file: "c31.json", line: nil, field: nil, fragment: "cannot read the config"),
        BadInput(id: "c32", title: "an array at the top", prepare: { try $0.write("c32.json", "[1, 2]\n"); return "c32.json" },
                 file: "c32.json", line: 1, field: nil, fragment: "expected an object, got an array"),
        BadInput(id: "c33", title: "a missing required member", prepare: { try $0.config("c33") { $0.name = "null" } },
                 file: "c33.json", line: 1, field: "name", fragment: "missing (required: a string)"),
        BadInput(id: "c34", title: "a train set that does not exist", prepare: { try $0.config("c34") {
            $0.data = #"{"train": "c34-absent.jsonl"}"#
        } }, file: "c34.json", line: 5, field: "data.train", fragment: "c34-absent.jsonl: cannot read the dataset"),
        BadInput(id: "c35", title: "a directory where the train set goes", prepare: { try $0.config("c35") {
            $0.data = #"{"train": "images"}"#
        } }, file: "c35.json", line: 5, field: "data.train", fragment: "images: cannot read the dataset"),
        BadInput(id: "c36", title: "an eval set that does not exist", prepare: { try $0.config("c36") {
            $0.data = #"{"train": "train.jsonl", "eval": "c36-absent.jsonl"}"#
        } }, file: "c36.json", line: 5, field: "data.eval", fragment: "c36-absent.jsonl: cannot read the dataset"),
    ]

    /// `d…`: dataset lines and images.
    static let dataset: [BadInput] = [
        BadInput(id: "d01", title: "broken JSON inside the ground truth", prepare: {
            try $0.dataset("d01", bad: CaseFolder.pointLine("b", truth: #"{"points": [{"x": 0.5 "y": 0.5}]}"#))
        }, file: "d01.jsonl", line: 3, field: "ground_truth.points[0]", fragment: "expected ',' or '}' in an object"),
        BadInput(id: "d02", title: "a truncated last line", prepare: {
            try $0.dataset("d02", bad: #"{"id": "t", "image": "images/shape-000.png", "skill": "point", "object": "the sh"#)
        }, file: "d02.jsonl", line: 3, field: "object", fragment: "unterminated string"),
        BadInput(id: "d03", title: "a line of 17 MiB", prepare: {
            try $0.dataset("d03", bad: CaseFolder.pointLine("h", object: "\"" + String(repeating: "a", count: 17 << 20) + "\""))
        }, file: "d03.jsonl", line: 3, field: nil, fragment: "line is longer than 16777216 bytes"),
        BadInput(id: "d04", title: "ground truth nested 200 levels deep", prepare: {
            let deep = String(repeating: "[", count: 200) + String(repeating: "]", count: 200)
            return try $0.dataset("d04", bad: CaseFolder.pointLine("n", truth: #"{"points": \#(deep)}"#))
        }, file: "d04.jsonl", line: 3, field: "ground_truth.points[0][0][0][0][0][0]…", fragment: "nesting deeper than 128 levels"),
        BadInput(id: "d05", title: "a NUL byte in a string", prepare: {
            try $0.dataset("d05", bad: CaseFolder.pointLine("z", object: "\"the\u{0}shape\""))
        }, file: "d05.jsonl", line: 3, field: "object", fragment: "control character in a string"),
        BadInput(id: "d06", title: "invalid UTF-8 in a string", prepare: {
            let line = Array(CaseFolder.pointLine("u", object: "\"the @ shape\"").utf8)
            return try $0.datasetBytes("d06", bad: line.map { $0 == UInt8(ascii: "@") ? 0xC3 : $0 })
        }, file: "d06.jsonl", line: 3, field: "object", fragment: "invalid UTF-8 in a string"),
        BadInput(id: "d07", title: "a number where a string goes", prepare: {
            try $0.dataset("d07", bad: CaseFolder.pointLine("w", object: "42"))
        }, file: "d07.jsonl", line: 3, field: "object", fragment: "expected a string, got a number"),
        BadInput(id: "d08", title: "a string where a coordinate goes", prepare: {
            try $0.dataset("d08", bad: CaseFolder.pointLine("s", truth: #"{"points": [{"x": "0.5", "y": 0.5}]}"#))
        }, file: "d08.jsonl", line: 3, field: "ground_truth.points[0].x", fragment: "expected a number from 0 to 1, got a string"),
        BadInput(id: "d09", title: "a NaN coordinate", prepare: {
            try $0.dataset("d09", bad: CaseFolder.pointLine("nan", truth: #"{"points": [{"x": NaN, "y": 0.5}]}"#))
        }, file: "d09.jsonl", line: 3, field: "ground_truth.points[0].x", fragment: "NaN is not a coordinate"),
        BadInput(id: "d10", title: "an infinite coordinate", prepare: {
            try $0.dataset("d10", bad: CaseFolder.pointLine("inf", truth: #"{"points": [{"x": 0.5, "y": -Infinity}]}"#))
        }, file: "d10.jsonl", line: 3, field: "ground_truth.points[0].y", fragment: "-Infinity is not a coordinate"),
        BadInput(id: "d11", title: "a negative coordinate", prepare: {
            try $0.dataset("d11", bad: CaseFolder.pointLine("neg", truth: #"{"points": [{"x": -0.25, "y": 0.5}]}"#))
        }, file: "d11.jsonl", line: 3, field: "ground_truth.points[0].x", fragment: "-0.25 is outside 0–1"),
        BadInput(id: "d12", title: "a coordinate too large for a double", prepare: {
            try $0.dataset("d12", bad: CaseFolder.detectLine("big", truth: #"{"boxes": [{"x_min": 0.1, "y_min": 0.1, "x_max": 1e999, "y_max": 0.5}]}"#))
        }, file: "d12.jsonl", line: 3, field: "ground_truth.boxes[0].x_max", fragment: "1e999 is not a coordinate"),
        BadInput(id: "d13", title: "a pixel coordinate", prepare: {
            try $0.dataset("d13", bad: CaseFolder.pointLine("px", truth: #"{"points": [{"x": 320, "y": 0.5}]}"#))
        }, file: "d13.jsonl", line: 3, field: "ground_truth.points[0].x", fragment: "320 is outside 0–1"),
        BadInput(id: "d14", title: "a text file as the image", prepare: { folder in
            try folder.write("d14-notes.png", "these are notes, not pixels\n")
            return try folder.dataset("d14", bad: CaseFolder.pointLine("t", image: "d14-notes.png"))
        }, file: "d14.jsonl", line: 3, field: "image", fragment: "is not a JPEG, PNG, WebP or GIF image"),
        BadInput(id: "d15", title: "a truncated PNG", prepare: { folder in
            let png = try Data(contentsOf: folder.url("images/shape-001.png"))
            try folder.write("d15-cut.png", Array(png.prefix(png.count / 2)))
            return try folder.dataset("d15", bad: CaseFolder.pointLine("t", image: "d15-cut.png"))
        }, file: "d15.jsonl", line: 3, field: "image", fragment: "truncated or damaged PNG"),
        BadInput(id: "d16", title: "a truncated JPEG", prepare: { folder in
            let jpeg = try CaseFolder.jpeg()
            try folder.write("d16-cut.jpg", Array(jpeg.prefix(jpeg.count * 2 / 3)))
            return try folder.dataset("d16", bad: CaseFolder.pointLine("t", image: "d16-cut.jpg"))
        }, file: "d16.jsonl", line: 3, field: "image", fragment: "truncated or damaged JPEG"),
        BadInput(id: "d17", title: "an image over the size cap", prepare: {
            try $0.dataset("d17", bad: CaseFolder.pointLine("big")) {
                $0.data = #"{"train": "d17.jsonl", "max_image_bytes": 100}"#
            }
        }, file: "d17.jsonl", line: 3, field: "image", fragment: "above the cap of 100 (data.max_image_bytes)"),
        BadInput(id: "d18", title: "an image that does not exist", prepare: {
            try $0.dataset("d18", bad: CaseFolder.pointLine("m", image: "images/absent.png"))
        }, file: "d18.jsonl", line: 3, field: "image", fragment: "images/absent.png: no such file"),
        BadInput(id: "d19", title: "a directory as the image", prepare: {
            try $0.dataset("d19", bad: CaseFolder.pointLine("dir", image: "images"))
        }, file: "d19.jsonl", line: 3, field: "image", fragment: "images: is a folder, not a file"),
        BadInput(id: "d20", title: "an image path escaping through ..", prepare: {
            try $0.dataset("d20", bad: CaseFolder.pointLine("up", image: "../images/shape-000.png"), folder: "d20")
        }, file: "d20/d20.jsonl", line: 3, field: "image", fragment: "leads outside the dataset folder through '..'"),
        BadInput(id: "d21", title: "an absolute image path", prepare: { folder in
            let absolute = folder.url("images/shape-000.png").path
            return try folder.dataset("d21", bad: CaseFolder.pointLine("abs", image: absolute))
        }, file: "d21.jsonl", line: 3, field: "image", fragment: "absolute path"),
        BadInput(id: "d22", title: "a symlink leading out of the dataset folder", prepare: { folder in
            try FileManager.default.createDirectory(at: folder.url("d22"), withIntermediateDirectories: true)
            try? FileManager.default.removeItem(at: folder.url("d22/link.png"))
            try FileManager.default.createSymbolicLink(at: folder.url("d22/link.png"), withDestinationURL: folder.url("images/shape-000.png"))
            return try folder.dataset("d22", bad: CaseFolder.pointLine("link", image: "link.png"), folder: "d22")
        }, file: "d22/d22.jsonl", line: 3, field: "image", fragment: "is a symlink that leads outside the dataset folder"),
        BadInput(id: "d23", title: "an unknown skill", prepare: {
            try $0.dataset("d23", bad: #"{"id": "k", "skill": "segment", "question": "q", "answer": "yes"}"#)
        }, file: "d23.jsonl", line: 3, field: "skill", fragment: #"unknown skill "segment""#),
        BadInput(id: "d24", title: "a misspelt skill", prepare: {
            try $0.dataset("d24", bad: #"{"id": "k", "skill": "qeury", "question": "q", "answer": "yes"}"#)
        }, file: "d24.jsonl", line: 3, field: "skill", fragment: #"did you mean "query"?"#),
        BadInput(id: "d25", title: "ground truth as a bare array", prepare: {
            try $0.dataset("d25", bad: CaseFolder.pointLine("g", truth: "[0.5, 0.5]"))
        }, file: "d25.jsonl", line: 3, field: "ground_truth", fragment: "expected an object, got an array"),
        BadInput(id: "d26", title: "points for detect", prepare: {
            try $0.dataset("d26", bad: CaseFolder.detectLine("g", truth: #"{"points": [{"x": 0.5, "y": 0.5}]}"#))
        }, file: "d26.jsonl", line: 3, field: "ground_truth.points", fragment: "detect takes boxes only"),
        BadInput(id: "d27", title: "a box with min above max", prepare: {
            try $0.dataset("d27", bad: CaseFolder.detectLine("g", truth: #"{"boxes": [{"x_min": 0.6, "y_min": 0.1, "x_max": 0.2, "y_max": 0.5}]}"#))
        }, file: "d27.jsonl", line: 3, field: "ground_truth.boxes[0].x_min", fragment: "x_min (0.6) is greater than x_max (0.2)"),
        BadInput(id: "d28", title: "a point without y", prepare: {
            try $0.dataset("d28", bad: CaseFolder.pointLine("g", truth: #"{"points": [{"x": 0.5}]}"#))
        }, file: "d28.jsonl", line: 3, field: "ground_truth.points[0].y", fragment: "missing (required: a number from 0 to 1)"),
        BadInput(id: "d29", title: "points as an object instead of a list", prepare: {
            try $0.dataset("d29", bad: CaseFolder.pointLine("g", truth: #"{"points": {"x": 0.5, "y": 0.5}}"#))
        }, file: "d29.jsonl", line: 3, field: "ground_truth.points", fragment: "expected an array, got an object"),
        BadInput(id: "d30", title: "a number as the answer", prepare: {
            try $0.dataset("d30", bad: #"{"id": "a", "skill": "query", "question": "How many?", "answer": 3}"#)
        }, file: "d30.jsonl", line: 3, field: "answer", fragment: "expected a string or a list of strings, got a number"),
        BadInput(id: "d31", title: "a duplicate id", prepare: {
            try $0.dataset("d31", bad: CaseFolder.queryLine("d31-1"))
        }, file: "d31.jsonl", line: 3, field: "id", fragment: #"duplicate id "d31-1" (first used on line 1)"#),
        BadInput(id: "d32", title: "an array instead of an object", prepare: {
            try $0.dataset("d32", bad: #"["query", "What?", "red"]"#)
        }, file: "d32.jsonl", line: 3, field: nil, fragment: "expected an object, got an array"),
        BadInput(id: "d33", title: "text after the object", prepare: {
            try $0.dataset("d33", bad: CaseFolder.queryLine("x") + " trailing")
        }, file: "d33.jsonl", line: 3, field: nil, fragment: "unexpected data after the JSON value"),
        BadInput(id: "d34", title: "a point example without its image", prepare: {
            try $0.dataset("d34", bad: #"{"id": "p", "skill": "point", "object": "dot", "ground_truth": {"points": [{"x": 0.5, "y": 0.5}]}}"#)
        }, file: "d34.jsonl", line: 3, field: "image", fragment: "missing (required: a string)"),
        BadInput(id: "d35", title: "an empty dataset", prepare: { folder in
            try folder.write("d35.jsonl", "")
            return try folder.config("d35") { $0.data = #"{"train": "d35.jsonl"}"# }
        }, file: "d35.json", line: 5, field: "data.train", fragment: "d35.jsonl: the dataset is empty (no examples)"),
        BadInput(id: "d36", title: "a dataset of blank lines", prepare: { folder in
            try folder.write("d36.jsonl", "\n   \n\r\n\t\n")
            return try folder.config("d36") { $0.data = #"{"train": "d36.jsonl"}"# }
        }, file: "d36.json", line: 5, field: "data.train", fragment: "d36.jsonl: the dataset is empty (no examples)"),
        BadInput(id: "d37", title: "a bad line in the eval set", prepare: { folder in
            try folder.write("d37-eval.jsonl", CaseFolder.queryLine("e1") + "\n" + #"{"id": "e2", "skill": "query", "question": " ", "answer": "yes"}"# + "\n")
            return try folder.config("d37") { $0.data = #"{"train": "train.jsonl", "eval": "d37-eval.jsonl"}"# }
        }, file: "d37-eval.jsonl", line: 2, field: "question", fragment: "must not be empty"),
        BadInput(id: "d38", title: "a named pipe as the train set", prepare: { folder in
            try? FileManager.default.removeItem(at: folder.url("d38.jsonl"))
            guard mkfifo(folder.url("d38.jsonl").path, 0o600) == 0 else { throw FixtureError("mkfifo failed") }
            return try folder.config("d38") { $0.data = #"{"train": "d38.jsonl"}"# }
        }, file: "d38.json", line: 5, field: "data.train", fragment: "d38.jsonl: cannot read the dataset: is not a regular file"),
    ]
}
