using Tomalign.Core.Imaging;

namespace Tomalign.Core.Simulation;

/// <summary>How far fitted bead centres in an aligned stack lie from where the truth puts them.</summary>
public readonly record struct BeadCheckResult(int Count, double RmsError, double MaxError);

/// <summary>
/// Measures an aligned stack against a simulation's truth: in every view, each bead whose true
/// aligned position lies well inside the image is fitted (<see cref="BeadCentreFit"/>) and its
/// distance from the true position recorded. Beads that overlap another bead are skipped.
/// </summary>
public static class BeadCheck
{
    public static BeadCheckResult Measure(ImageStack aligned, SimulatedSeries series)
    {
        ArgumentNullException.ThrowIfNull(aligned);
        ArgumentNullException.ThrowIfNull(series);
        if (aligned.Nz != series.Raw.Nz)
            throw new ArgumentException($"the aligned stack has {aligned.Nz} views, the series {series.Raw.Nz}", nameof(aligned));
        double sum2 = 0, max = 0;
        int count = 0;
        double sx = (double)aligned.Nx / series.Raw.Nx, sy = (double)aligned.Ny / series.Raw.Ny;
        for (int z = 0; z < aligned.Nz; z++)
        {
            var truth = series.TrueBeadProjections(z, aligned: true);
            for (int j = 0; j < truth.Count; j++)
            {
                double r = series.Beads[j].Radius * sx;
                double x = truth[j].X * sx, y = truth[j].Y * sy;
                double clear = 2 * BeadCentreFit.OuterRadius(r);
                bool crowded = false;
                for (int k = 0; k < truth.Count && !crowded; k++)
                    if (k != j && Math.Abs(truth[k].X * sx - x) < clear && Math.Abs(truth[k].Y * sy - y) < clear) crowded = true;
                if (crowded) continue;
                var fit = BeadCentreFit.Fit(aligned.ReadView(z), aligned.Nx, aligned.Ny, x, y, r);
                if (fit is not { } f) continue;
                double e = Math.Sqrt((f.X - x) * (f.X - x) + (f.Y - y) * (f.Y - y));
                sum2 += e * e;
                max = Math.Max(max, e);
                count++;
            }
        }
        return new BeadCheckResult(count, count > 0 ? Math.Sqrt(sum2 / count) : double.NaN, max);
    }
}
