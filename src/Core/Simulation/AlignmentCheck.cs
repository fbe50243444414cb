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
        ArgumentNullException.ThrowIfNull(rawToAligned);
        if (rawToAligned.Count != series.Raw.Nz)
            throw new ArgumentException($"{rawToAligned.Count} transforms for {series.Raw.Nz} views", nameof(rawToAligned));
        double cx = series.Raw.Nx / 2.0, cy = series.Raw.Ny / 2.0;
        var rows = new List<(double C, double S, double Ex, double Ey)>();
        for (int i = 0; i < series.Raw.Nz; i++)
        {
            var raw = series.TrueBeadProjections(i, aligned: false);
            var ali = series.TrueBeadProjections(i, aligned: true);
            double t = series.TrueTilts[i] * Math.PI / 180;
            for (int j = 0; j < raw.Count; j++)
            {
                var (x, y) = rawToAligned[i].Apply(raw[j].X, raw[j].Y, cx, cy);
                rows.Add((Math.Cos(t), Math.Sin(t), x - ali[j].X, y - ali[j].Y));
            }
        }
        if (rows.Count == 0) return double.NaN;
        // ty = mean ey; (tx, tz) by 2×2 least squares on ex = tx·c + tz·s.
        double ty = rows.Average(r => r.Ey);
        double scc = rows.Sum(r => r.C * r.C), sss = rows.Sum(r => r.S * r.S), scs = rows.Sum(r => r.C * r.S);
        double sec = rows.Sum(r => r.Ex * r.C), ses = rows.Sum(r => r.Ex * r.S);
        double det = scc * sss - scs * scs;
        double tx = det != 0 ? (sec * sss - ses * scs) / det : sec / scc, tz = det != 0 ? (ses * scc - sec * scs) / det : 0;
        return Math.Sqrt(rows.Average(r => Math.Pow(r.Ex - tx * r.C - tz * r.S, 2) + Math.Pow(r.Ey - ty, 2)));
    }
}
