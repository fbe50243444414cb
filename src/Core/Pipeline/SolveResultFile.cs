using System.Globalization;
using System.Text.Json.Nodes;
using Tomalign.Core.Geometry;
using Tomalign.Core.Solve;

namespace Tomalign.Core.Pipeline;

/// <summary>
/// Reads a solve back from the NAME.solve.json that <see cref="SolveReport.Json"/> wrote (it holds every field of
/// <see cref="SolveResult"/>), so that a resumed run reuses its solve with the report, the plots and the quality
/// signals it had.
/// </summary>
public static class SolveResultFile
{
    public static SolveResult Read(string path)
    {
        try
        {
            var o = JsonNode.Parse(File.ReadAllText(path)) as JsonObject ?? throw new FormatException("not a JSON object");
            var opt = o["options"] as JsonObject ?? throw new FormatException("no options");
            var d = new SolveOptions();
            var options = d with
            {
                Rotation = Variable(Str(opt["rotation"])),
                Tilt = Variable(Str(opt["tilt"])),
                Magnification = Variable(Str(opt["magnification"])),
                XAxisTiltDegrees = Num(opt["XAxisTiltDegrees"]),
                MinViewsPerLandmark = Int(opt["MinViewsPerLandmark"]),
                TwoStage = Bool(opt["TwoStage"]),
                Robust = Bool(opt["Robust"]),
                TukeyK = Num(opt["TukeyK"]),
                OutlierSds = Num(opt["OutlierSds"]),
                DropWorstLandmarks = Int(opt["DropWorstLandmarks"]),
                RelativeTolerance = Num(opt["RelativeTolerance"]),
                MaxIterations = Int(opt["MaxIterations"]),
                Level = Bool(opt["Level"]),
                WeightWholeTracks = Bool(opt["WeightWholeTracks"]),
                XStretch = opt["xStretch"] is { } xso ? Variable(Str(xso)) : VariableOption.Fixed,
                Skew = opt["skew"] is { } sko ? Variable(Str(sko)) : VariableOption.Fixed,
            };
            var views = Arr(o["views"]);
            return new SolveResult
            {
                Options = options,
                StopReason = Enum.Parse<SolveStopReason>(Str(o["stopReason"])),
                Iterations = Int(o["iterations"]),
                RobustRounds = Int(o["robustRounds"]),
                Views = views.Select(v => new ViewGeometry(Num(v["tilt"]), Num(v["rotation"]), Num(v["magnification"]), Num(v["dx"]), Num(v["dy"]),
                    Num(v["xAxisTilt"]), v?["xStretch"] is { } xs ? Num(xs) : 0, v?["skew"] is { } sk ? Num(sk) : 0)).ToArray(),
                PerView = views.Select(v => Stats(v["residual"])).ToArray(),
                Landmarks = Arr(o["landmarks"]).Select(l => new SolvedLandmark(Int(l["id"]), Num(l["x"]), Num(l["y"]), Num(l["z"]), Stats(l["residual"]),
                    Bool(l["flagged"]))).ToArray(),
                Points = Arr(o["points"]).Select(p => new PointResidual(Int(p["landmark"]), Int(p["view"]), Num(p["x"]), Num(p["y"]), Num(p["dx"]),
                    Num(p["dy"]), Num(p["weight"]), Bool(p["flagged"]))).ToArray(),
                Overall = Stats(o["residual"]),
                RmsPerAxis = Num(o["residualRmsPerAxis"]),
                Unknowns = Int(o["unknowns"]),
                ViewVariables = Int(o["viewVariables"]),
                Gauge = Str(o["gauge"]),
                Notes = Arr(o["notes"]).Select(Str).ToArray(),
                DroppedLandmarks = Arr(o["droppedLandmarks"]).Select(Int).ToArray(),
                ReferenceView = Int(o["referenceView"]),
            };
        }
        catch (Exception e) when (e is FormatException or InvalidOperationException or ArgumentException or System.Text.Json.JsonException or NullReferenceException)
        {
            throw new TomalignInputException(path, $"is not a solve report Tomalign can read back ({e.Message})", "run without --resume to solve again");
        }
    }

    private static JsonNode[] Arr(JsonNode? n) => (n as JsonArray ?? throw new FormatException("an array is missing")).Select(x => x!).ToArray();
    private static string Str(JsonNode? n) => n?.GetValue<string>() ?? throw new FormatException("a string is missing");
    private static int Int(JsonNode? n) => n?.GetValue<int>() ?? throw new FormatException("a number is missing");
    private static bool Bool(JsonNode? n) => n?.GetValue<bool>() ?? throw new FormatException("a flag is missing");

    /// <summary>A number, or NaN for null and the named literals the report writes for non-finite values.</summary>
    private static double Num(JsonNode? n)
    {
        if (n is not JsonValue v) return double.NaN;
        if (v.TryGetValue(out double d)) return d;
        if (v.TryGetValue(out string? s)) return double.Parse(s, NumberStyles.Float, CultureInfo.InvariantCulture);
        throw new FormatException($"{v.ToJsonString()} is not a number");
    }

    private static ResidualStats Stats(JsonNode? n) => n is JsonObject o
        ? new ResidualStats(Int(o["count"]), Num(o["mean"]), Num(o["sd"]), Num(o["rms"]))
        : throw new FormatException("residual statistics are missing");

    /// <summary>The inverse of <see cref="VariableOption.ToString"/>.</summary>
    internal static VariableOption Variable(string text)
    {
        static int Last(string t) => int.Parse(t[(t.LastIndexOf(' ') + 1)..], CultureInfo.InvariantCulture);
        return text switch
        {
            "per view" => VariableOption.PerView,
            "one global value" => VariableOption.Global,
            "automatic" => VariableOption.Auto,
            "fixed" => VariableOption.Fixed,
            _ when text.StartsWith("grouped by cos^", StringComparison.Ordinal) => VariableOption.GroupedByTilt(Last(text),
                double.Parse(text["grouped by cos^".Length..text.IndexOf(' ', "grouped by cos^".Length)], CultureInfo.InvariantCulture)),
            _ when text.StartsWith("grouped by ", StringComparison.Ordinal) => VariableOption.Grouped(Last(text)),
            _ when text.StartsWith("linear between anchors every ", StringComparison.Ordinal) => VariableOption.Linear(Last(text)),
            _ => throw new FormatException($"'{text}' is not a variable mode"),
        };
    }
}
