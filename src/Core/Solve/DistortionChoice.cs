using System.Globalization;

namespace Tomalign.Core.Solve;

/// <summary>
/// When <see cref="VariableMode.Auto"/> X-stretch or skew are solved. Two tests, both from the data:
/// <list type="number">
/// <item>Coverage: at least <see cref="MinLandmarks"/> landmarks, spread over the field — the SD of their positions (in each
/// landmark's least-tilted view) at least <see cref="MinSpreadFraction"/> of the image width in x and of its height in y
/// (landmarks spread evenly over the whole field have an SD of 0.29 of it). A stretch or skew is a gradient of displacement
/// across the field; landmarks bunched in one place cannot tell it from a shift.</item>
/// <item>Significance: the solve with distortion (tiltalign's usual groups, <see cref="SolveOptions.PresetXStretch"/> and
/// <see cref="SolveOptions.PresetSkew"/>) is kept only when its extra variables lower the residual sum of squares by more
/// than chance: an F test at <see cref="SignificanceLevel"/> (extra variables against the residual degrees of freedom, both
/// solves' points with the smaller of their two robust weights). On undistorted data the extra variables fit noise and the
/// test refuses them.</item>
/// </list>
/// </summary>
public static class DistortionChoice
{
    public const int MinLandmarks = 8;
    public const double MinSpreadFraction = 0.15;
    public const double SignificanceLevel = 0.01;

    /// <summary>Whether the landmarks cover the field well enough to solve distortion, and why (in words).</summary>
    public static (bool Ok, string Why) Coverage(SolveInput input, int minViews)
    {
        ArgumentNullException.ThrowIfNull(input);
        var positions = input.Observations.GroupBy(o => o.Landmark)
            .Where(g => g.Select(o => o.View).Distinct().Count() >= minViews)
            .Select(g => g.MinBy(o => Math.Abs(input.TiltDegrees[o.View])))
            .ToList();
        int n = positions.Count;
        if (n < MinLandmarks)
            return (false, string.Create(CultureInfo.InvariantCulture, $"{n} landmarks (fewer than {MinLandmarks})"));
        double sx = Sd(positions.Select(o => o.X)) / input.Width, sy = Sd(positions.Select(o => o.Y)) / input.Height;
        string numbers = string.Create(CultureInfo.InvariantCulture, $"{n} landmarks with an SD of {sx:F2} of the width in x and {sy:F2} of the height in y");
        return sx >= MinSpreadFraction && sy >= MinSpreadFraction
            ? (true, numbers)
            : (false, numbers + string.Create(CultureInfo.InvariantCulture, $" (less than {MinSpreadFraction:F2}: too bunched to tell a stretch from a shift)"));
    }

    /// <summary>
    /// The F test of <paramref name="with"/> (distortion solved) against <paramref name="without"/>: the statistic, its 1 − α
    /// quantile, and whether the distortion is significant. Points are matched by landmark and view.
    /// </summary>
    public static (double F, double Critical, bool Significant) Test(SolveResult without, SolveResult with)
    {
        ArgumentNullException.ThrowIfNull(without);
        ArgumentNullException.ThrowIfNull(with);
        var other = with.Points.ToDictionary(p => (p.Landmark, p.View));
        double rss0 = 0, rss1 = 0, wsum = 0;
        foreach (var p in without.Points)
        {
            if (!other.TryGetValue((p.Landmark, p.View), out var q)) continue;
            double w = Math.Min(p.Weight, q.Weight);
            rss0 += w * (p.Dx * p.Dx + p.Dy * p.Dy);
            rss1 += w * (q.Dx * q.Dx + q.Dy * q.Dy);
            wsum += w;
        }
        int extra = with.ViewVariables - without.ViewVariables;
        double dof = 2 * wsum - with.Unknowns;
        if (extra <= 0 || dof <= 1 || !(rss1 > 0)) return (0, double.PositiveInfinity, false);
        double f = (rss0 - rss1) / extra / (rss1 / dof);
        double critical = MathNet.Numerics.Distributions.FisherSnedecor.InvCDF(extra, dof, 1 - SignificanceLevel);
        return (f, critical, f > critical);
    }

    private static double Sd(IEnumerable<double> values)
    {
        var v = values.ToArray();
        double mean = v.Average();
        return Math.Sqrt(v.Sum(x => (x - mean) * (x - mean)) / v.Length);
    }
}
