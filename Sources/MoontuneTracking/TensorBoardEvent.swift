/// TensorBoard's `Event` message (tensorflow/core/util/event.proto) and the parts of `Summary`
/// moontune writes: scalars (`simple_value`), images (`Summary.Image`, JPEG or PNG) and text (a
/// string tensor with the text plugin's metadata).
package enum TensorBoardEvent {
    /// One summary value.
    package enum Value: Sendable, Equatable {
        case scalar(tag: String, value: Double)
        /// Encoded JPEG or PNG bytes, with the image's size.
        case image(tag: String, encoded: [UInt8], width: Int, height: Int)
        case text(tag: String, text: String)

        package var tag: String {
            switch self {
            case .scalar(let tag, _), .image(let tag, _, _, _), .text(let tag, _): tag
            }
        }
    }

    /// The first record of every file: `file_version = "brain.Event:2"`.
    package static func fileVersion(wallTime: Double) -> [UInt8] {
        var event = ProtoWriter()
        event.double(1, wallTime)
        event.string(3, "brain.Event:2")
        return event.bytes
    }

    /// `session_log { status: START }` at `step`: TensorBoard's loader (`purge_orphaned_data`, on by
    /// default) drops every point it has read at `step` or later, as after a restart from a
    /// checkpoint. A rewind writes one at the first step trained again.
    package static func sessionStart(wallTime: Double, step: Int) -> [UInt8] {
        var event = ProtoWriter()
        event.double(1, wallTime)
        event.int(2, Int64(step))
        event.message(7) { $0.int(1, 1) }  // SessionLog.status = START
        return event.bytes
    }

    /// The step of a `session_log { status: START }` event (nil: another kind of event).
    package static func sessionStartStep(of event: ArraySlice<UInt8>) -> Int? {
        guard let fields = ProtoReader.fields(event) else { return nil }
        var step = 0
        var start = false
        for (field, value) in fields {
            if field == 2, case .varint(let raw) = value { step = Int(Int64(bitPattern: raw)) }
            if field == 7, case .bytes(let log) = value {
                start = (ProtoReader.fields(log) ?? []).contains { entry in
                    if entry.field == 1, case .varint(1) = entry.value { return true }
                    return false
                }
            }
        }
        return start ? step : nil
    }

    /// An event holding one summary of `values` at `step`.
    package static func summary(wallTime: Double, step: Int, values: [Value]) -> [UInt8] {
        var event = ProtoWriter()
        event.double(1, wallTime)
        event.int(2, Int64(step))
        event.message(5) { summary in
            for value in values {
                summary.message(1) { encode(value, into: &$0) }
            }
        }
        return event.bytes
    }

    static func encode(_ value: Value, into out: inout ProtoWriter) {
        out.string(1, value.tag)
        switch value {
        case .scalar(_, let number):
            out.float(2, Float(number))
        case .image(_, let encoded, let width, let height):
            out.message(4) { image in
                image.int(1, Int64(height))
                image.int(2, Int64(width))
                image.int(3, 3)  // RGB
                image.data(4, encoded)
            }
        case .text(_, let text):
            // SummaryMetadata { plugin_data { plugin_name: "text" } }
            out.message(9) { metadata in metadata.message(1) { $0.string(1, "text") } }
            // TensorProto { dtype: DT_STRING (7), tensor_shape: {}, string_val: [text] }
            out.message(8) { tensor in
                tensor.int(1, 7)
                tensor.message(2) { _ in }
                tensor.string(8, text)
            }
        }
    }

    /// What an event read back holds: its step and its summary's tags (nil: not a summary).
    package static func tags(of event: ArraySlice<UInt8>) -> (step: Int, tags: [String])? {
        guard let fields = ProtoReader.fields(event) else { return nil }
        var step = 0
        var tags: [String] = []
        var isSummary = false
        for (field, value) in fields {
            if field == 2, case .varint(let raw) = value { step = Int(Int64(bitPattern: raw)) }
            if field == 5, case .bytes(let summary) = value {
                isSummary = true
                for (valueField, entry) in ProtoReader.fields(summary) ?? [] where valueField == 1 {
                    guard case .bytes(let valueBytes) = entry else { continue }
                    for (tagField, tag) in ProtoReader.fields(valueBytes) ?? [] where tagField == 1 {
                        if case .bytes(let text) = tag { tags.append(String(decoding: text, as: UTF8.self)) }
                    }
                }
            }
        }
        return isSummary ? (step, tags) : nil
    }
}
