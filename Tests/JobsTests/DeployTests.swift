import Foundation
import JobKitTestSupport
import Testing

@Suite("Deployment files")
struct DeployTests {
    static func check(_ deploy: String) throws -> (Int32, String) {
        let script = try TestEnvironment.required("JOBKIT_DEPLOY_CHECK", "scripts/check-deploy.py (scripts/test exports it)")
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", script, "--jobnode", try TestEnvironment.jobnodeBinary(), "--deploy", deploy]
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        return (process.terminationStatus, output)
    }

    @Test("deploy/: the Kubernetes manifests parse, every jobnode command line uses flags jobnode has, stop timeouts exceed --grace; a wrong flag is caught")
    func manifests() throws {
        let deploy = FileManager.default.currentDirectoryPath + "/deploy"
        let (status, output) = try Self.check(deploy)
        #expect(status == 0, "\(output)")
        #expect(output.contains("8 commands checked, 0 problems"), "\(output)")

        // The same files with a flag jobnode does not have, and a stop timeout under --grace: both named.
        let copy = try TestEnvironment.makeTemporaryDirectory("deploy") + "/deploy"
        try FileManager.default.copyItem(atPath: deploy, toPath: copy)
        let unit = copy + "/systemd/jobnode-worker@.service"
        var text = try String(contentsOfFile: unit, encoding: .utf8)
        text = text.replacingOccurrences(of: "--concurrency 16", with: "--workers 16").replacingOccurrences(of: "TimeoutStopSec=45", with: "TimeoutStopSec=20")
        try text.write(toFile: unit, atomically: true, encoding: .utf8)
        let (bad, badOutput) = try Self.check(copy)
        #expect(bad == 1)
        #expect(badOutput.contains("`jobnode run` has no flag --workers") && badOutput.contains("must be above --grace"), "\(badOutput)")
    }
}
