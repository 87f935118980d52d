import Foundation

/// The inspector's page, style and script (`Inspector/Resources`: hand-written HTML, CSS and
/// JavaScript, shipped with the binary as resource files; no build step, nothing fetched from
/// elsewhere). Read once, at first use.
enum InspectorAssets {
    static let html = resource("index.html")
    static let css = resource("inspector.css")
    static let script = resource("inspector.js")

    /// A resource's text; a missing one is a broken build, not a runtime condition.
    private static func resource(_ name: String) -> String {
        let url = Bundle.module.bundleURL.appendingPathComponent("Resources").appendingPathComponent(name)
        guard let text = try? String(contentsOf: url, encoding: .utf8) else {
            fatalError("the inspector's \(name) is missing from pgrelay's resources (\(url.path))")
        }
        return text
    }
}
