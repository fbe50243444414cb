using System.Globalization;
using Tomalign.Core.Backend;

namespace Tomalign.Core.Beads;

/// <summary>How a bead-model score map looks at one diameter: the typical peak over the map's own noise.</summary>
/// <param name="Diameter">Bead diameter of the model, pixels.</param>
/// <param name="Contrast">The median of the <see cref="BeadPresenceCheck.PeaksCounted"/> strongest separated peaks of the score, in robust SDs of the whole map above its median.</param>
/// <param name="OppositeContrast">The same for the opposite polarity (light beads where dark ones were asked for, or the reverse).</param>
public readonly record struct BeadContrast(double Diameter, double Contrast, double OppositeContrast);

/// <summary>Whether beads of the given diameter and polarity are in the view nearest zero tilt.</summary>
public enum BeadPresence
{
    /// <summary>Beads of about the given diameter stand out of the background.</summary>
    Present,
    /// <summary>Beads are there, but their size (or polarity) is clearly not the one given.</summary>
    WrongDiameter,
    /// <summary>Nothing bead-like stands out at any diameter (or only at the opposite polarity).</summary>
    Absent,
}

/// <summary>
/// The check before tracking (<see cref="BeadPresenceCheck.Run"/>): the matched-filter contrast of beads at the given diameter
/// on the view nearest zero tilt, a scan over diameters for the best-matching one, and the verdict.
/// </summary>
public sealed record BeadPresenceResult
{
    /// <summary>The diameter the user gave, pixels.</summary>
    public double GivenDiameter { get; init; }
    /// <summary>The matched-filter contrast at the given diameter and polarity (robust SDs of the score map).</summary>
    public double Contrast { get; init; }
    /// <summary>The diameter whose model stands out most, pixels (the scan's best; of the opposite polarity when <see cref="OppositePolarity"/>).</summary>
    public double BestDiameter { get; init; }
    /// <summary>The contrast at <see cref="BestDiameter"/>.</summary>
    public double BestContrast { get; init; }
    /// <summary>True when beads of the opposite polarity stand out more than those asked for (the light/dark option is wrong).</summary>
    public bool OppositePolarity { get; init; }
    /// <summary>Every diameter scanned with its contrast.</summary>
    public IReadOnlyList<BeadContrast> Scan { get; init; } = [];
    /// <summary>The verdict.</summary>
    public BeadPresence Presence { get; init; }
    /// <summary>What is wrong, for the user, or null when beads are present.</summary>
    public string? Problem { get; init; }
    /// <summary>The fix to suggest, or null when beads are present.</summary>
    public string? Fix { get; init; }
}

/// <summary>
/// Verifies that gold beads of the given diameter are in the series before tracking: the view nearest zero tilt is
/// correlated with the projected-bead model at the given diameter and at a ladder of others (3 to 48 px, steps of about
/// 20 %); at each the contrast is the median of the strongest separated peaks over the robust SD of the whole score map
/// (a matched filter's signal over its own noise, so the measure does not depend on dose or scale). Beads are
/// <see cref="BeadPresence.Absent"/> when no diameter reaches <see cref="MinimumContrast"/>; the diameter is
/// <see cref="BeadPresence.WrongDiameter"/> when the best one differs from the given one by more than a factor
/// <see cref="DiameterTolerance"/> and the given one's contrast is under <see cref="WrongFraction"/> of the best's.
/// </summary>
public static class BeadPresenceCheck
{
    /// <summary>Peaks whose median is the contrast: enough that a couple of isolated specks do not count as beads.</summary>
    public const int PeaksCounted = 5;
    /// <summary>
    /// The contrast (robust SDs) beads must reach. The strongest local maxima of pure noise in a 512² map lie at about
    /// 4.5 SDs; a 10 px gold bead at 5 e/px lies above 15.
    /// </summary>
    public const double MinimumContrast = 7;
    /// <summary>The ratio of diameters beyond which the given one is called wrong (if its contrast is also low).</summary>
    public const double DiameterTolerance = 1.45;
    /// <summary>The given diameter is wrong when its contrast is under this fraction of the best diameter's.</summary>
    public const double WrongFraction = 0.7;

    /// <summary>The scanned diameters: 3 px to 48 px in steps of about 20 %.</summary>
    public static IReadOnlyList<double> Ladder { get; } = [3, 3.6, 4.3, 5.2, 6.2, 7.5, 9, 10.8, 13, 15.5, 18.6, 22.4, 27, 32, 39, 48];

    /// <summary>Runs the check on one view (nx × ny), the one nearest zero tilt.</summary>
    public static BeadPresenceResult Run(ITemplateCorrelator correlator, ReadOnlySpan<float> view, int nx, int ny, double diameter, bool lightBeads)
    {
        ArgumentNullException.ThrowIfNull(correlator);
        int minSide = Math.Min(nx, ny);
        var given = Measure(correlator, view, nx, ny, diameter, lightBeads);
        var scan = new List<BeadContrast>();
        foreach (double d in Ladder)
            if (d * 4 <= minSide) scan.Add(Math.Abs(d - diameter) < 1e-9 ? given : Measure(correlator, view, nx, ny, d, lightBeads));
        var best = scan.Append(given).MaxBy(c => c.Contrast);
        var bestOpposite = scan.Append(given).MaxBy(c => c.OppositeContrast);
        // Light beads where dark ones were asked for: the opposite polarity stands out clearly more.
        bool opposite = bestOpposite.OppositeContrast >= MinimumContrast && bestOpposite.OppositeContrast > 1.5 * best.Contrast;
        string polarity = lightBeads ? "light" : "dark";
        string other = lightBeads ? "dark" : "light";
        string Fmt(double v) => v.ToString(v >= 10 ? "F0" : "F1", CultureInfo.InvariantCulture);
        var result = new BeadPresenceResult
        {
            GivenDiameter = diameter, Contrast = given.Contrast, BestDiameter = best.Diameter, BestContrast = best.Contrast,
            OppositePolarity = opposite, Scan = scan,
        };
        if (opposite)
            return result with
            {
                BestDiameter = bestOpposite.Diameter, BestContrast = bestOpposite.OppositeContrast,
                Presence = BeadPresence.WrongDiameter,
                Problem = $"no {polarity} beads stand out on the view nearest zero tilt, but {other} ones about {Fmt(bestOpposite.Diameter)} px across do " +
                          $"(matched-filter contrast {Fmt(bestOpposite.OppositeContrast)} SDs against {Fmt(best.Contrast)} for {polarity} beads)",
                Fix = lightBeads ? $"drop --light-beads (and give --bead-diameter {Fmt(bestOpposite.Diameter)})"
                                 : $"add --light-beads (and give --bead-diameter {Fmt(bestOpposite.Diameter)})",
            };
        if (best.Contrast < MinimumContrast)
            return result with
            {
                Presence = BeadPresence.Absent,
                Problem = $"no gold bead stands out on the view nearest zero tilt at any diameter from {Ladder[0]} to {scan[^1].Diameter} px " +
                          $"(best matched-filter contrast {Fmt(best.Contrast)} SDs at {Fmt(best.Diameter)} px; beads reach {MinimumContrast} or more)",
                Fix = "use --markerless for a series without gold, or check that this is the right stack",
            };
        double ratio = Math.Max(best.Diameter / diameter, diameter / best.Diameter);
        if (ratio > DiameterTolerance && given.Contrast < WrongFraction * best.Contrast)
            return result with
            {
                Presence = BeadPresence.WrongDiameter,
                Problem = $"the beads look about {Fmt(best.Diameter)} px across, not {Fmt(diameter)} (matched-filter contrast {Fmt(best.Contrast)} SDs " +
                          $"at {Fmt(best.Diameter)} px against {Fmt(given.Contrast)} at {Fmt(diameter)} px)",
                Fix = $"give --bead-diameter {Fmt(best.Diameter)} (pixels of this stack, after any binning)",
            };
        return result with { Presence = BeadPresence.Present };
    }

    /// <summary>The contrast of both polarities of one diameter's bead model on the view.</summary>
    public static BeadContrast Measure(ITemplateCorrelator correlator, ReadOnlySpan<float> view, int nx, int ny, double diameter, bool lightBeads)
    {
        var model = BeadTracker.BeadModel(diameter / 2, lightBeads, out int size);
        var score = new float[nx * ny];
        correlator.Correlate(view, nx, ny, 1, model, size, score);
        var (median, sd) = RobustStats(score);
        double r = diameter / 2;
        int edge = size / 2 + 1;
        double Peak(float sign)
        {
            var peaks = BeadTracker.LocalMaxima(score, nx, ny, edge, Math.Max(1, (int)Math.Round(r)), sign, median + sign * 3 * sd);
            double sep2 = Math.Pow(2 * r + 2, 2);
            var kept = new List<(int X, int Y, float V)>();
            foreach (var p in peaks.OrderByDescending(p => sign * p.V))
            {
                if (kept.Any(k => (k.X - p.X) * (k.X - p.X) + (k.Y - p.Y) * (k.Y - p.Y) < sep2)) continue;
                kept.Add(p);
                if (kept.Count == PeaksCounted) break;
            }
            if (kept.Count < PeaksCounted) return kept.Count == 0 ? 0 : Math.Min(3, sign * (kept[^1].V - median) / sd);
            return sign * (kept[PeaksCounted / 2].V - median) / sd;
        }
        return new BeadContrast(diameter, Peak(1), Peak(-1));
    }

    /// <summary>Median and robust SD (1.4826 × median absolute deviation) of a map, from every 7th value.</summary>
    internal static (double Median, double Sd) RobustStats(float[] map)
    {
        int n = (map.Length + 6) / 7;
        var sample = new float[n];
        for (int k = 0; k < n; k++) sample[k] = map[k * 7];
        Array.Sort(sample);
        double median = sample[n / 2];
        for (int k = 0; k < n; k++) sample[k] = (float)Math.Abs(sample[k] - median);
        Array.Sort(sample);
        double sd = sample[n / 2] * 1.4826;
        return (median, sd > 0 ? sd : 1e-12);
    }
}
