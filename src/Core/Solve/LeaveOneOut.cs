using System.Globalization;
using Tomalign.Core.Geometry;

namespace Tomalign.Core.Solve;

/// <summary>One landmark left out: its residual when the views are solved without it (and its 3-D position then fitted
/// to its own points through those views), against its residual in the full solve; and how far the views moved.</summary>
/// <param name="Landmark">The landmark's id.</param>
/// <param name="Points">Its observations.</param>
/// <param name="InSample">Mean residual (px) of its points in the full solve.</param>
/// <param name="LeftOut">Mean residual (px) of its points, views solved without it.</param>
/// <param name="OthersMean">Mean residual (px) of the other landmarks' points in the solve without it.</param>
/// <param name="MaxRotationChangeDegrees">Largest change of a view's rotation against the full solve.</param>
/// <param name="MaxTiltChangeDegrees">Largest change of a view's tilt against the full solve (after the common offset).</param>
public sealed record LeftOutLandmark(int Landmark, int Points, double InSample, double LeftOut, double OthersMean,
    double MaxRotationChangeDegrees, double MaxTiltChangeDegrees);

/// <summary>
/// Leave-one-out residuals (as tiltalign's -LeaveOutResidual, per landmark): each landmark in turn is left out, the solve is
/// repeated with the others, the left-out landmark's 3-D position is fitted by least squares to its own points through the
/// solved views (p = A·X + d is linear in X), and its residual there is reported. A landmark whose left-out residual is far
/// above its in-sample residual pulled the solution toward itself; a solution that moves much when one landmark is left out
/// rests on too few.
/// </summary>
public static class LeaveOneOut
{
    public static IReadOnlyList<LeftOutLandmark> Compute(BundleSolver solver, SolveInput input, SolveOptions options, SolveResult full)
    {
        ArgumentNullException.ThrowIfNull(solver);
        ArgumentNullException.ThrowIfNull(input);
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(full);
        // The full solve's resolved options (automatic choices fixed) so that every left-out solve has the same model.
        var fixedOptions = (full.Options ?? options) with { DropWorstLandmarks = 0 };
        var list = new List<LeftOutLandmark>();
        foreach (var lm in full.Landmarks)
        {
            var own = input.Observations.Where(o => o.Landmark == lm.Id).ToList();
            var others = input.Observations.Where(o => o.Landmark != lm.Id).ToList();
            if (others.Select(o => o.Landmark).Distinct().Count() < 3) continue;
            var r = solver.Solve(input with { Observations = others }, fixedOptions);
            double leftOut = Refit(r.Views, own, input.CenterX, input.CenterY);
            var dRot = Enumerable.Range(0, r.Views.Length).Select(i => r.Views[i].AxisAngleDegrees - full.Views[i].AxisAngleDegrees).ToArray();
            var dTilt = Enumerable.Range(0, r.Views.Length).Select(i => r.Views[i].TiltDegrees - full.Views[i].TiltDegrees).ToArray();
            double tiltOffset = dTilt.Average();
            list.Add(new LeftOutLandmark(lm.Id, own.Count, lm.Residual.Mean, leftOut, r.Overall.Mean,
                dRot.Max(Math.Abs), dTilt.Max(d => Math.Abs(d - tiltOffset))));
        }
        return list;
    }

    /// <summary>Mean residual (px) of <paramref name="points"/> for the 3-D position that fits them best through <paramref name="views"/>.</summary>
    public static double Refit(IReadOnlyList<ViewGeometry> views, IReadOnlyList<LandmarkObservation> points, double cx, double cy)
    {
        // Normal equations of Σ |A_i X + d_i − p|² in X (3×3).
        var n = new double[9]; var b = new double[3];
        var rows = new List<(double[] A, double Dx, double Dy, double Px, double Py)>();
        foreach (var o in points)
        {
            var v = views[o.View];
            var a = v.LinearPart();
            double px = o.X - cx - v.ShiftX, py = o.Y - cy - v.ShiftY;
            rows.Add((a, v.ShiftX, v.ShiftY, o.X - cx, o.Y - cy));
            for (int p = 0; p < 3; p++)
            {
                b[p] += a[p] * px + a[3 + p] * py;
                for (int q = 0; q < 3; q++) n[3 * p + q] += a[p] * a[q] + a[3 + p] * a[3 + q];
            }
        }
        var m = MathNet.Numerics.LinearAlgebra.Matrix<double>.Build.Dense(3, 3, (i, j) => n[3 * i + j]);
        var x = m.Solve(MathNet.Numerics.LinearAlgebra.Vector<double>.Build.DenseOfArray(b));
        double sum = 0;
        foreach (var (a, dx, dy, px, py) in rows)
        {
            double rx = a[0] * x[0] + a[1] * x[1] + a[2] * x[2] + dx - px, ry = a[3] * x[0] + a[4] * x[1] + a[5] * x[2] + dy - py;
            sum += Math.Sqrt(rx * rx + ry * ry);
        }
        return rows.Count == 0 ? double.NaN : sum / rows.Count;
    }

    /// <summary>The table of a leave-one-out run (ROOT.leaveout.txt).</summary>
    public static IEnumerable<string> TextTable(IReadOnlyList<LeftOutLandmark> rows)
    {
        ArgumentNullException.ThrowIfNull(rows);
        yield return "Leave-one-out residuals (px): each landmark left out, the views solved without it, its position fitted to its own points";
        yield return " landmark points  in-sample  left-out  others  max Δrotation°  max Δtilt°";
        foreach (var r in rows)
            yield return string.Create(CultureInfo.InvariantCulture,
                $"{r.Landmark,9}{r.Points,7}{r.InSample,11:F3}{r.LeftOut,10:F3}{r.OthersMean,8:F3}{r.MaxRotationChangeDegrees,16:F3}{r.MaxTiltChangeDegrees,12:F3}");
    }
}

/// <summary>PyTom's marker files (MarkerIndex, TiltAngle, PositionX, PositionY per line; # comments) as solve input.</summary>
public static class PytomMarkers
{
    /// <summary>The observations (view = index of the tilt angle in increasing order; positions ≤ 0 or non-finite are missing) and the tilts.</summary>
    public static (List<LandmarkObservation> Observations, double[] Tilts) Read(string path)
    {
        var rows = new List<(int Marker, double Tilt, double X, double Y)>();
        int lineNo = 0;
        foreach (var raw in File.ReadLines(path))
        {
            lineNo++;
            string line = raw.Trim();
            if (line.Length == 0 || line.StartsWith('#')) continue;
            var t = line.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries);
            if (t.Length < 4
                || !int.TryParse(t[0], NumberStyles.Integer, CultureInfo.InvariantCulture, out int marker)
                || !double.TryParse(t[1], NumberStyles.Float, CultureInfo.InvariantCulture, out double tilt)
                || !double.TryParse(t[2], NumberStyles.Float, CultureInfo.InvariantCulture, out double x)
                || !double.TryParse(t[3], NumberStyles.Float, CultureInfo.InvariantCulture, out double y))
                throw new TomalignInputException(path, $"line {lineNo} is not 'MarkerIndex TiltAngle PositionX PositionY'", "give a PyTom marker file (text, four numbers a line)");
            rows.Add((marker, tilt, x, y));
        }
        if (rows.Count == 0) throw new TomalignInputException(path, "has no markers", "give a PyTom marker file with at least one marker line");
        var tilts = rows.Select(r => r.Tilt).Distinct().Order().ToArray();
        var obs = rows.Where(r => r.X > 0 && r.Y > 0 && double.IsFinite(r.X) && double.IsFinite(r.Y))
            .Select(r => new LandmarkObservation(r.Marker, Array.BinarySearch(tilts, r.Tilt), r.X, r.Y)).ToList();
        return (obs, tilts);
    }
}
