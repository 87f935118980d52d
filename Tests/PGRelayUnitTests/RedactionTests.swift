import PGRelayPostgres
import Testing

@testable import PGRelayServer

@Suite struct RedactionTests {
    @Test(arguments: [
        "access_token=SECRET", "access%5Ftoken=SECRET", "ACCESS_TOKEN=SECRET", "access%5ftoken=SECRET", "apikey=SECRET",
        "a=1&access_token=SECRET&b=2",
    ])
    func tokensNeverReachLogs(_ query: String) {
        let logged = RequestInput.redacted(query)
        #expect(!logged.contains("SECRET") && logged.contains("REDACTED"), "\(logged)")
    }

    @Test func passwordsAreRedactedFromConnectionMessages() {
        #expect(!Connection.redacting("postgresql://u:pa%24ss@h/db", in: "failed for postgresql://u:pa%24ss@h/db").contains("pa%24ss"))
        #expect(!Connection.redacting("host=h password=s3cret", in: "password s3cret rejected").contains("s3cret"))
        #expect(
            Connection.redacting("postgres:/u:s3cret@h", in: #"missing "=" after "postgres:/u:s3cret@h""#)
                == #"missing "=" after "<connection string>""#)
    }
}
