import Foundation

/// A scraped Prometheus text exposition, read by series name and labels.
public struct PrometheusText {
    public let text: String

    public init(_ text: String) { self.text = text }

    /// The value of the sample `name{labels}` (labels in any order; no labels means an unlabelled series).
    public func value(_ name: String, _ labels: [String: String] = [:]) -> Double? {
        for line in text.split(separator: "\n") where !line.hasPrefix("#") {
            guard let space = line.lastIndex(of: " ") else { continue }
            let series = line[..<space]
            let (seriesName, seriesLabels) = Self.parse(series)
            if seriesName == name && seriesLabels == labels { return Double(line[line.index(after: space)...]) }
        }
        return nil
    }

    private static func parse(_ series: Substring) -> (String, [String: String]) {
        guard let brace = series.firstIndex(of: "{"), series.hasSuffix("}") else { return (String(series), [:]) }
        var labels: [String: String] = [:]
        for pair in series[series.index(after: brace)..<series.index(before: series.endIndex)].split(separator: ",") {
            let parts = pair.split(separator: "=", maxSplits: 1)
            guard parts.count == 2 else { continue }
            labels[String(parts[0])] = String(parts[1].trimmingCharacters(in: CharacterSet(charactersIn: "\"")))
        }
        return (String(series[..<brace]), labels)
    }
}
