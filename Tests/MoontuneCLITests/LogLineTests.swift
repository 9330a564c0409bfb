import Foundation
import MoondreamAPI
@testable import MoontuneCLI
@testable import MoontuneConsole
@testable import MoontuneReport
import Testing

@Suite struct LogLineTests {
    let date = Date(timeIntervalSince1970: 1_736_937_000.25)

    @Test func logfmtQuotesValuesWithSpacesQuotesAndNewlines() {
        let line = LogLine([("job", .string("a b")), ("message", .string("say \"hi\"\nnow")), ("step", .int(3)), ("ok", .bool(true))])
            .render(.logfmt, at: date)
        #expect(line == #"ts=2025-01-15T10:30:00.250Z job="a b" message="say \"hi\"\nnow" step=3 ok=true"#)
        #expect(!line.contains("\n"), "one line, whatever the message")
    }

    @Test func jsonLinesParseBackToTheSameValues() throws {
        let line = LogLine([("job", .string("j\"1")), ("reward_mean", .double(0.625)), ("step", .int(7)), ("nan", .double(.nan))])
            .render(.json, at: date)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
        #expect(object["job"] as? String == "j\"1")
        #expect(object["reward_mean"] as? Double == 0.625)
        #expect(object["step"] as? Int == 7)
        #expect(object["nan"] is NSNull, "a non-finite number is null, not invalid JSON")
        #expect(object["ts"] as? String == "2025-01-15T10:30:00.250Z")
    }
}

@Suite struct SecretRedactorTests {
    @Test func everyOccurrenceOfASecretIsMasked() {
        let redactor = SecretRedactor(secrets: ["sk-live-123456789"])
        let text = redactor.redact("header X-Moondream-Auth: sk-live-123456789 and again sk-live-123456789.")
        #expect(!text.contains("sk-live-123456789"))
        #expect(text == "header X-Moondream-Auth: [redacted] and again [redacted].")
    }

    @Test func aLongerSecretContainingAShorterOneIsMaskedWhole() {
        let redactor = SecretRedactor(secrets: ["abcdefgh", "abcdefgh-ijklmnop"])
        #expect(redactor.redact("k=abcdefgh-ijklmnop") == "k=[redacted]")
    }

    @Test func shortValuesAreNotTreatedAsSecrets() {
        #expect(SecretRedactor(secrets: ["1", "yes"]).redact("step 1 yes") == "step 1 yes")
    }

    @Test func theEnvironmentsCredentialsAreFound() {
        let redactor = SecretRedactor.fromEnvironment(["MOONDREAM_API_KEY": "sk-aaaaaaaaaaaa", "MY_TOKEN": "tok-bbbbbbbbbb",
                                                       "HOME": "/home/someone-long"])
        #expect(Set(redactor.secrets) == ["sk-aaaaaaaaaaaa", "tok-bbbbbbbbbb"])
    }
}
