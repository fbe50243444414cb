using Tomalign.Core.Geometry;

namespace Tomalign.Core.Simulation;

/// <summary>How well a set of raw → aligned transforms aligns a simulated series, measured against its truth.</summary>
public static class AlignmentCheck
{
    /// <summary>
    /// RMS distance, over all beads and views, between where <paramref name="rawToAligned"/> puts each
    /// bead's true raw projection and its true aligned projection, after removing the best 3-D
    /// translation of the specimen (in view i it moves the aligned image by (tx·cosθ + tz·sinθ, ty)):
    /// the gauge freedom no tilt series can fix. The same measure AreTomo's alignment error uses.
    /// </summary>
    public static double ErrorAfterGauge(SimulatedSeries series, IReadOnlyList<Xf> rawToAligned)
    {
        ArgumentNullException.ThrowIfNull(series);
        return ErrorAfterGauge(series, rawToAligned, series.Beads.Select(b => (b.X, b.Y, b.Z)).ToArray());
    }

    /// <summary>
    /// The same measure over the field: at <see cref="SimulatedSeries.FieldPoints"/>, a grid over the
    /// image and through the slab (for series without beads, and for the error everywhere, not only
    /// where the beads happen to be).
    /// </summary>
    public static double FieldErrorAfterGauge(SimulatedSeries series, IReadOnlyList<Xf> rawToAligned)
    {
        ArgumentNullException.ThrowIfNull(series);
        return ErrorAfterGauge(series, rawToAligned, series.FieldPoints());
    }

    /// <summary>The measure at the given specimen points (x, y, z about the specimen centre).</summary>
    public static double ErrorAfterGauge(SimulatedSeries series, IReadOnlyList<Xf> rawToAligned, IReadOnlyList<(double X, double Y, double Z)> points)
    {
        ArgumentNullException.ThrowIfNull(series);
        ArgumentNullException.ThrowIfNull(rawToAligned);
        ArgumentNullException.ThrowIfNull(points);
        CheckCount(series, rawToAligned, nameof(rawToAligned));
        return GaugedRms(series, points, (i, raw) => rawToAligned[i].Apply(raw.X, raw.Y, series.Nx / 2.0, series.Ny / 2.0),
            (i, _, j, ali) => ali[j]);
    }

    /// <summary>
    /// How far apart two alignments of the same series put the field points (<see cref="SimulatedSeries.FieldPoints"/>):
    /// the RMS distance between where <paramref name="a"/> and <paramref name="b"/> map each point's true raw
    /// projection, after removing the best 3-D translation between them (the gauge). Markerless against bead alignment.
    /// </summary>
    public static double FieldDifferenceAfterGauge(SimulatedSeries series, IReadOnlyList<Xf> a, IReadOnlyList<Xf> b)
    {
        ArgumentNullException.ThrowIfNull(series);
        ArgumentNullException.ThrowIfNull(a);
        ArgumentNullException.ThrowIfNull(b);
        CheckCount(series, a, nameof(a));
        CheckCount(series, b, nameof(b));
        double cx = series.Nx / 2.0, cy = series.Ny / 2.0;
        return GaugedRms(series, series.FieldPoints(), (i, raw) => a[i].Apply(raw.X, raw.Y, cx, cy),
            (i, raw, j, _) => b[i].Apply(raw[j].X, raw[j].Y, cx, cy));
    }

    /// <summary>
    /// The alignment error with the solved tilts included: how sharply the field points reconstruct when the aligned
    /// views are backprojected at <paramref name="solvedTilts"/>. Each field point's true raw projections are mapped by
    /// <paramref name="rawToAligned"/>; the 3-D point that best explains them at the solved tilts
    /// (u = x·cosθ̂ + z·sinθ̂, v = y, by least squares over the views) is found, and the RMS of what it leaves over all
    /// points and views is returned. A translation, a common tilt offset, or a uniform stretch of the tomogram moves
    /// the points but blurs nothing and costs nothing here; wrong tilts of single views, or 2-D errors the solved
    /// tilts do not explain, do.
    /// </summary>
    public static double FieldErrorWithTilts(SimulatedSeries series, IReadOnlyList<Xf> rawToAligned, IReadOnlyList<double> solvedTilts)
    {
        ArgumentNullException.ThrowIfNull(series);
        ArgumentNullException.ThrowIfNull(rawToAligned);
        ArgumentNullException.ThrowIfNull(solvedTilts);
        CheckCount(series, rawToAligned, nameof(rawToAligned));
        if (solvedTilts.Count != series.ViewCount)
            throw new ArgumentException($"{solvedTilts.Count} tilts for {series.ViewCount} views", nameof(solvedTilts));
        var points = series.FieldPoints();
        int n = series.ViewCount;
        double cx = series.Nx / 2.0, cy = series.Ny / 2.0;
        var c = solvedTilts.Select(t => Math.Cos(t * Math.PI / 180)).ToArray();
        var s = solvedTilts.Select(t => Math.Sin(t * Math.PI / 180)).ToArray();
        double scc = c.Sum(v => v * v), sss = s.Sum(v => v * v), scs = c.Zip(s, (a, b) => a * b).Sum(), det = scc * sss - scs * scs;
        var raws = Enumerable.Range(0, n).Select(i => series.TrueProjections(i, aligned: false, points)).ToArray();
        double sum = 0; long count = 0;
        var u = new double[n]; var v = new double[n];
        for (int j = 0; j < points.Count; j++)
        {
            double suc = 0, sus = 0, sv = 0;
            for (int i = 0; i < n; i++)
            {
                var (x, y) = rawToAligned[i].Apply(raws[i][j].X, raws[i][j].Y, cx, cy);
                u[i] = x - cx; v[i] = y - cy;
                suc += u[i] * c[i]; sus += u[i] * s[i]; sv += v[i];
            }
            double px = (suc * sss - sus * scs) / det, pz = (sus * scc - suc * scs) / det, py = sv / n;
            for (int i = 0; i < n; i++)
            {
                double eu = u[i] - px * c[i] - pz * s[i], ev = v[i] - py;
                sum += eu * eu + ev * ev; count++;
            }
        }
        return Math.Sqrt(sum / count);
    }

    /// <summary>RMS and largest |error| of <paramref name="solvedTilts"/> against the true tilts after removing their mean difference (a common offset: the gauge).</summary>
    public static (double Rms, double Max, double Offset) TiltError(SimulatedSeries series, IReadOnlyList<double> solvedTilts)
    {
        ArgumentNullException.ThrowIfNull(series);
        ArgumentNullException.ThrowIfNull(solvedTilts);
        if (solvedTilts.Count != series.ViewCount)
            throw new ArgumentException($"{solvedTilts.Count} tilts for {series.ViewCount} views", nameof(solvedTilts));
        var d = solvedTilts.Select((t, i) => t - series.TrueTilts[i]).ToArray();
        double offset = d.Average();
        return (Math.Sqrt(d.Average(x => (x - offset) * (x - offset))), d.Max(x => Math.Abs(x - offset)), offset);
    }

    private static void CheckCount(SimulatedSeries series, IReadOnlyList<Xf> xfs, string name)
    {
        if (xfs.Count != series.ViewCount)
            throw new ArgumentException($"{xfs.Count} transforms for {series.ViewCount} views", name);
    }

    /// <summary>RMS of measured − target over all points and views, less the best gauge translation.</summary>
    private static double GaugedRms(SimulatedSeries series, IReadOnlyList<(double X, double Y, double Z)> points,
        Func<int, (double X, double Y), (double X, double Y)> measured,
        Func<int, IReadOnlyList<(double X, double Y)>, int, IReadOnlyList<(double X, double Y)>, (double X, double Y)> target)
    {
        var rows = new List<(double C, double S, double Ex, double Ey)>();
        for (int i = 0; i < series.ViewCount; i++)
        {
            var raw = series.TrueProjections(i, aligned: false, points);
            var ali = series.TrueProjections(i, aligned: true, points);
            double t = series.TrueTilts[i] * Math.PI / 180;
            for (int j = 0; j < raw.Count; j++)
            {
                var (x, y) = measured(i, raw[j]);
                var (tx, ty) = target(i, raw, j, ali);
                rows.Add((Math.Cos(t), Math.Sin(t), x - tx, y - ty));
            }
        }
        if (rows.Count == 0) return double.NaN;
        // ty = mean ey; (tx, tz) by 2×2 least squares on ex = tx·c + tz·s.
        double gy = rows.Average(r => r.Ey);
        double scc = rows.Sum(r => r.C * r.C), sss = rows.Sum(r => r.S * r.S), scs = rows.Sum(r => r.C * r.S);
        double sec = rows.Sum(r => r.Ex * r.C), ses = rows.Sum(r => r.Ex * r.S);
        double det = scc * sss - scs * scs;
        double gx = det != 0 ? (sec * sss - ses * scs) / det : sec / scc, gz = det != 0 ? (ses * scc - sec * scs) / det : 0;
        return Math.Sqrt(rows.Average(r => Math.Pow(r.Ex - gx * r.C - gz * r.S, 2) + Math.Pow(r.Ey - gy, 2)));
    }
}
