import ArgumentParser
import Logging
import PumphouseObservability

/// The flag of a service that serves non-public routes, and where its admin credential
/// comes from when the flag is absent.
package struct AdminOptions: ParsableArguments {
    @Option(help: "File of bearer tokens (one per line, # comments) that open the non-public routes (/admin/...); read again within a second of a change, so tokens rotate without a restart. Without it, the token in PUMPHOUSE_ADMIN_TOKEN; without both, those routes refuse every request.")
    package var adminTokenFile: String?

    package init() {}

    /// The credential, or nil when none is configured; a bad file or token is a usage
    /// error naming it. `logger` hears of a token file that later becomes unusable.
    package func credential(logger: Logger) throws -> AdminCredential? {
        let environment = ProcessEnvironment()
        var variables: [String: String] = [:]
        variables[AdminCredential.environmentVariable] = environment[AdminCredential.environmentVariable]
        do {
            return try AdminCredential.configured(tokenFile: adminTokenFile, environment: variables, logger: logger)
        } catch {
            throw UsageError("\(error)")
        }
    }
}
