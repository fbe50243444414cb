using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace Tomalign.Core.Solve;

/// <summary>
/// The text outputs of a solve in IMOD's layouts (tiltalign's .resid and fid.xyz) and Tomalign's
/// own report: a JSON document and a text table (residual mean, SD and RMS over all points, per
/// view and per landmark; the solved variables per view; flagged points and landmarks).
/// </summary>
public static class SolveReport
{
    private static readonly CultureInfo Inv = CultureInfo.InvariantCulture;

    /// <summary>tiltalign's .resid: "  N residuals", then <c>X Y view resX resY</c> (projected − measured), landmark by landmark in view order.</summary>
    public static IEnumerable<string> ResidLines(SolveResult r)
    {
        yield return string.Create(Inv, $"{r.Points.Length,6} residuals");
        foreach (var p in r.Points.OrderBy(p => LandmarkOrder(r, p.Landmark)).ThenBy(p => p.View))
            yield return string.Create(Inv, $"{p.X,10:F2}{p.Y,10:F2}{p.View,5}{p.Dx,8:F2}{p.Dy,8:F2}");
    }

    private static int LandmarkOrder(SolveResult r, int id)
    {
        for (int j = 0; j < r.Landmarks.Length; j++) if (r.Landmarks[j].Id == id) return j;
        return int.MaxValue;
    }

    /// <summary>
    /// tiltalign's fid.xyz: <c>number X Y Z object contour</c>, X and Y with the origin at the image corner
    /// (landmark + NX/2, NY/2), Z relative to the centre; the first line ends with the pixel size and image size.
    /// </summary>
    /// <param name="key">1-based IMOD object and contour of a landmark id; null: object 1, contour = id + 1.</param>
    public static IEnumerable<string> FidXyzLines(SolveResult r, int width, int height, double pixelSizeAngstrom,
        Func<int, (int Object, int Contour)>? key = null)
    {
        for (int j = 0; j < r.Landmarks.Length; j++)
        {
            var l = r.Landmarks[j];
            var (obj, cont) = key?.Invoke(l.Id) ?? (1, l.Id + 1);
            string line = string.Create(Inv, $"{j + 1,4}{l.X + width / 2.0,10:F2}{l.Y + height / 2.0,10:F2}{l.Z,10:F2}{obj,7}{cont,5}");
            if (j == 0) line += string.Create(Inv, $" Pix:{pixelSizeAngstrom,12:F5} Dim:{width,6}{height,6}");
            yield return line;
        }
    }

    /// <summary>A fixed-width table for people: summary, per-view variables and residuals, per-landmark residuals, flags.</summary>
    public static IEnumerable<string> TextTable(SolveResult r)
    {
        var o = r.Overall;
        yield return string.Create(Inv, $"Tomalign solve: {r.StopReason} after {r.Iterations} iteration(s), {r.RobustRounds} robust round(s)");
        yield return string.Create(Inv, $"{r.ObservationCount} observations, {r.Landmarks.Length} landmarks, {r.ViewVariables} view variables, {r.Unknowns} unknowns after the gauge");
        yield return "Gauge: " + r.Gauge;
        if (r.TiltChoice is { } tc) yield return $"Tilts: {tc.Chosen} ({tc.Reason})";
        if (r.AxisChoice is { } ac) yield return $"Tilt axis: {ac.Chosen} ({ac.Reason})";
        yield return string.Create(Inv, $"Residual (px) over all points: mean {o.Mean:F3}  SD {o.Sd:F3}  RMS {o.Rms:F3}  (per axis RMS {r.RmsPerAxis:F3})");
        foreach (var n in r.Notes) yield return "Note: " + n;
        yield return "";
        bool distorted = r.Views.Any(v => v.HasDistortion);
        yield return " view     tilt   rotation       mag       dx       dy     n    mean      SD     RMS" + (distorted ? "   xstretch     skew" : "");
        for (int i = 0; i < r.Views.Length; i++)
        {
            var v = r.Views[i]; var s = r.PerView[i];
            yield return string.Create(Inv, $"{i,5}{v.TiltDegrees,9:F2}{v.AxisAngleDegrees,11:F3}{v.Magnification,10:F5}{v.ShiftX,9:F2}{v.ShiftY,9:F2}{s.Count,6}{s.Mean,8:F3}{s.Sd,8:F3}{s.Rms,8:F3}")
                + (distorted ? string.Create(Inv, $"{v.XStretch,11:F5}{v.SkewDegrees,9:F3}") : "");
        }
        yield return "";
        yield return " landmark         x         y         z     n    mean      SD     RMS  flag";
        foreach (var l in r.Landmarks)
            yield return string.Create(Inv, $"{l.Id,9}{l.X,10:F2}{l.Y,10:F2}{l.Z,10:F2}{l.Residual.Count,6}{l.Residual.Mean,8:F3}{l.Residual.Sd,8:F3}{l.Residual.Rms,8:F3}  {(l.Flagged ? "*" : "")}");
        var flagged = r.Points.Where(p => p.Flagged).OrderByDescending(p => p.Magnitude).ToList();
        yield return "";
        yield return string.Create(Inv, $"{flagged.Count} point(s) with residuals beyond the outlier limit (robust SDs above the median):");
        foreach (var p in flagged)
            yield return string.Create(Inv, $"  landmark {p.Landmark,5} view {p.View,4}  residual {p.Dx,7:F2} {p.Dy,7:F2}  |r| {p.Magnitude,6:F2}  weight {p.Weight:F2}");
    }

    /// <summary>The JSON report: everything in <see cref="SolveResult"/>, with the options, in plain names.</summary>
    public static string Json(SolveResult r, SolveOptions options, IReadOnlyDictionary<string, object?>? extra = null)
    {
        options = r.Options ?? options;
        var doc = new Dictionary<string, object?>
        {
            ["stopReason"] = r.StopReason.ToString(),
            ["iterations"] = r.Iterations,
            ["robustRounds"] = r.RobustRounds,
            ["observations"] = r.ObservationCount,
            ["unknowns"] = r.Unknowns,
            ["viewVariables"] = r.ViewVariables,
            ["referenceView"] = r.ReferenceView,
            ["gauge"] = r.Gauge,
            ["options"] = new
            {
                rotation = options.Rotation.ToString(), tilt = options.Tilt.ToString(), magnification = options.Magnification.ToString(),
                options.XAxisTiltDegrees, options.MinViewsPerLandmark, options.TwoStage, options.Robust, options.TukeyK,
                options.OutlierSds, options.DropWorstLandmarks, options.RelativeTolerance, options.MaxIterations, options.Level, options.WeightWholeTracks, tiltPrior = options.TiltPrior.ToString(),
                xStretch = options.XStretch.ToString(), skew = options.Skew.ToString(),
            },
            ["tiltChoice"] = r.TiltChoice is not { } tc ? null : new
            {
                chosen = tc.Chosen, reason = tc.Reason, fixedResidual = Num(tc.FixedResidual), freeResidual = Num(tc.FreeResidual),
                freeDeviationDegrees = Num(tc.FreeDeviationDegrees), freeMaxDeviationDegrees = Num(tc.FreeMaxDeviationDegrees),
                chosenDeviationDegrees = Num(tc.ChosenDeviationDegrees), priorSdDegrees = tc.PriorSdDegrees, priorWeight = tc.PriorWeight,
            },
            ["specimenLevel"] = SpecimenLevel.Fit(r.Landmarks),
            ["residual"] = Stats(r.Overall),
            ["residualRmsPerAxis"] = r.RmsPerAxis,
            ["notes"] = r.Notes,
            ["droppedLandmarks"] = r.DroppedLandmarks,
            ["views"] = r.Views.Select((v, i) => new
            {
                view = i, tilt = v.TiltDegrees, rotation = v.AxisAngleDegrees, magnification = v.Magnification,
                dx = v.ShiftX, dy = v.ShiftY, xAxisTilt = v.XAxisTiltDegrees, xStretch = v.XStretch, skew = v.SkewDegrees, residual = Stats(r.PerView[i]),
            }),
            ["landmarks"] = r.Landmarks.Select(l => new { id = l.Id, x = l.X, y = l.Y, z = l.Z, residual = Stats(l.Residual), flagged = l.Flagged }),
            ["points"] = r.Points.Select(p => new { landmark = p.Landmark, view = p.View, x = p.X, y = p.Y, dx = p.Dx, dy = p.Dy, weight = p.Weight, flagged = p.Flagged }),
        };
        if (extra is not null) foreach (var (k, v) in extra) doc[k] = v;
        return JsonSerializer.Serialize(doc, JsonOptions);
    }

    private static object Stats(ResidualStats s) => new { count = s.Count, mean = Num(s.Mean), sd = Num(s.Sd), rms = Num(s.Rms) };
    private static double? Num(double v) => double.IsFinite(v) ? v : null;

    private static readonly JsonSerializerOptions JsonOptions = new()
    {
        WriteIndented = true,
        DefaultIgnoreCondition = JsonIgnoreCondition.Never,
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
    };
}
