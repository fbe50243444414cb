using System.Globalization;
using Tomalign.Core.Imaging;

namespace Tomalign.Core.Imaging;

/// <summary>Why a view is left out of alignment and reconstruction.</summary>
public enum ViewProblem
{
    /// <summary>Far fewer electrons than its neighbours (beam blanked, a grid bar, a failed exposure).</summary>
    Dark,
    /// <summary>Far more electrons than its neighbours (a badly exposed view).</summary>
    Overexposed,
    /// <summary>Shot noise without the structure its neighbours share (the wrong place, a blank field, a drifted-off view).</summary>
    NoStructure,
    /// <summary>Named by the user (<c>--exclude-views</c>).</summary>
    UserExcluded,
}

/// <summary>One view left out and why, with the numbers that decided it.</summary>
public sealed record ExcludedView(int View, double Tilt, ViewProblem Problem, string Reason);

/// <summary>What one view's pixels say about it: exposure, shot noise and structure.</summary>
/// <param name="Mean">Mean pixel value.</param>
/// <param name="NoiseSd">Pixel noise SD, from differences of neighbouring pixels (white noise dominates them).</param>
/// <param name="StructureZ">How far the variance of the view averaged in blocks exceeds what its noise alone would give
/// there, in standard errors of that variance (the largest over blocks of 4, 8 and 16 pixels): about N(0, 1) for a
/// view of pure shot noise, large for a view with specimen contrast.</param>
public readonly record struct ViewMeasures(double Mean, double NoiseSd, double StructureZ);

/// <summary>
/// Finds the views that would spoil an alignment, each judged against its neighbours in tilt (never against a fixed
/// level, so the thresholds hold for any dose, detector or contrast): dark and overexposed views by their shot noise
/// (which follows the electron count whatever the data's offset or scaling), views without the structure their
/// neighbours share by the low-resolution contrast over its noise. Every number is in the reason.
/// </summary>
public static class ViewScreening
{
    /// <summary>Block sizes (pixels) of the structure measure.</summary>
    private static readonly int[] Blocks = [4, 8, 16];
    /// <summary>How many views on each side form a view's neighbourhood.</summary>
    public const int Neighbours = 3;
    /// <summary>
    /// Shot-noise ratio to the neighbours' median beyond which a view is dark (below 1/4: under 1/16 of the electrons)
    /// or overexposed (above 3: over 9 times the electrons). Dose schemes change exposure by a factor of 2–3 across a
    /// series, and smoothly, so the neighbours bracket a good view well inside these bounds.
    /// </summary>
    public const double DarkNoiseRatio = 0.25, BrightNoiseRatio = 3.0;
    /// <summary>
    /// A view whose structure score (<see cref="ViewMeasures.StructureZ"/>, ~N(0, 1) for pure noise) is below
    /// <see cref="NoStructureZ"/> and below <see cref="NoStructureFraction"/> of its neighbours' median, while theirs is
    /// clearly above noise (at least <see cref="MinNeighbourZ"/>), shows nothing of what they show.
    /// </summary>
    public const double NoStructureZ = 4, NoStructureFraction = 0.2, MinNeighbourZ = 8;

    /// <summary>Measures every view of <paramref name="stack"/> (parallel over views).</summary>
    public static ViewMeasures[] Measure(ImageStack stack)
    {
        ArgumentNullException.ThrowIfNull(stack);
        var result = new ViewMeasures[stack.Nz];
        Parallel.For(0, stack.Nz, z => result[z] = MeasureView(stack.ReadView(z).ToArray(), stack.Nx, stack.Ny));
        return result;
    }

    /// <summary>Measures one view (nx × ny, x fastest), ignoring a 5 % border.</summary>
    public static ViewMeasures MeasureView(float[] view, int nx, int ny)
    {
        int bx = nx / 20, by = ny / 20;
        int w = nx - 2 * bx, h = ny - 2 * by;
        double sum = 0, diff2 = 0; long n = 0, nd = 0;
        for (int y = by; y < by + h; y++)
        {
            int row = y * nx;
            for (int x = bx; x < bx + w; x++)
            {
                double v = view[row + x];
                sum += v; n++;
                if (x + 1 < bx + w) { double d = view[row + x + 1] - v; diff2 += d * d; nd++; }
            }
        }
        double mean = n > 0 ? sum / n : 0;
        double noiseVar = nd > 0 ? diff2 / nd / 2 : 0;
        double z = double.NegativeInfinity;
        foreach (int block in Blocks)
        {
            int cx = w / block, cy = h / block;
            if (cx * cy < 16) continue;
            var means = new double[cx * cy];
            for (int j = 0; j < cy; j++)
                for (int i = 0; i < cx; i++)
                {
                    double s = 0;
                    for (int y = 0; y < block; y++)
                    {
                        int row = (by + j * block + y) * nx + bx + i * block;
                        for (int x = 0; x < block; x++) s += view[row + x];
                    }
                    means[j * cx + i] = s / (block * block);
                }
            double bm = means.Average();
            double blockVar = means.Sum(b => (b - bm) * (b - bm)) / (means.Length - 1);
            double noiseHere = noiseVar / (block * block);
            // The sample variance of k values of pure noise has standard error σ²·√(2/(k−1)).
            if (noiseHere > 0) z = Math.Max(z, (blockVar - noiseHere) / (noiseHere * Math.Sqrt(2.0 / (means.Length - 1))));
        }
        return new ViewMeasures(mean, Math.Sqrt(noiseVar), double.IsFinite(z) ? z : 0);
    }

    /// <summary>
    /// The views to leave out, judged against their neighbours in tilt order (the stack may be in any order), plus
    /// the user's list (0-based). A view is compared with the median of up to <see cref="Neighbours"/> good-looking
    /// views on each side.
    /// </summary>
    public static IReadOnlyList<ExcludedView> Detect(IReadOnlyList<ViewMeasures> measures, IReadOnlyList<double> tilts, IEnumerable<int>? userExcluded = null)
    {
        ArgumentNullException.ThrowIfNull(measures);
        ArgumentNullException.ThrowIfNull(tilts);
        if (measures.Count != tilts.Count) throw new ArgumentException($"{measures.Count} views measured for {tilts.Count} tilts");
        int n = measures.Count;
        var user = new HashSet<int>(userExcluded ?? []);
        var sorted = Enumerable.Range(0, n).OrderBy(i => tilts[i]).ToArray();
        var result = new List<ExcludedView>();
        foreach (int v in user.Where(v => v >= 0 && v < n).Order())
            result.Add(new ExcludedView(v, tilts[v], ViewProblem.UserExcluded, "excluded by the user"));
        for (int k = 0; k < n; k++)
        {
            int v = sorted[k];
            if (user.Contains(v)) continue;
            var around = new List<ViewMeasures>();
            for (int d = 1; d <= Neighbours; d++)
            {
                if (k - d >= 0 && !user.Contains(sorted[k - d])) around.Add(measures[sorted[k - d]]);
                if (k + d < n && !user.Contains(sorted[k + d])) around.Add(measures[sorted[k + d]]);
            }
            if (around.Count < 2) continue;
            var m = measures[v];
            double noise = Median(around.Select(a => a.NoiseSd));
            double structure = Median(around.Select(a => a.StructureZ));
            string F(double x) => x.ToString("G3", CultureInfo.InvariantCulture);
            if (noise > 0 && m.NoiseSd < DarkNoiseRatio * noise)
                result.Add(new ExcludedView(v, tilts[v], ViewProblem.Dark,
                    $"dark: shot noise {F(m.NoiseSd)} against {F(noise)} in the neighbouring views (mean {F(m.Mean)})"));
            else if (noise > 0 && m.NoiseSd > BrightNoiseRatio * noise)
                result.Add(new ExcludedView(v, tilts[v], ViewProblem.Overexposed,
                    $"overexposed: shot noise {F(m.NoiseSd)} against {F(noise)} in the neighbouring views (mean {F(m.Mean)})"));
            else if (structure >= MinNeighbourZ && m.StructureZ < NoStructureZ && m.StructureZ < NoStructureFraction * structure)
                result.Add(new ExcludedView(v, tilts[v], ViewProblem.NoStructure,
                    $"no structure: contrast {F(m.StructureZ)} standard errors above its noise against {F(structure)} in the neighbouring views"));
        }
        return result.OrderBy(e => e.View).ToArray();
    }

    private static double Median(IEnumerable<double> values)
    {
        var a = values.Order().ToArray();
        return a.Length == 0 ? 0 : a.Length % 2 == 1 ? a[a.Length / 2] : 0.5 * (a[a.Length / 2 - 1] + a[a.Length / 2]);
    }

    /// <summary>
    /// The views of a stack of <paramref name="viewCount"/> that are not in <paramref name="excluded"/> (0-based), in order.
    /// </summary>
    /// <exception cref="TomalignInputException">An excluded view outside the stack.</exception>
    public static int[] KeptViews(IReadOnlyCollection<int> excluded, int viewCount)
    {
        ArgumentNullException.ThrowIfNull(excluded);
        if (excluded.Any(v => v < 0 || v >= viewCount))
            throw new TomalignInputException(null, $"excluded views must be within 1…{viewCount} (1-based)", "give views of this stack");
        var skip = excluded.ToHashSet();
        return Enumerable.Range(0, viewCount).Where(v => !skip.Contains(v)).ToArray();
    }

    /// <summary>
    /// Parses IMOD's 1-based view list syntax ("1-3,40", also with spaces; EXCLUDELIST style) into 0-based view
    /// indices, checked against <paramref name="viewCount"/>.
    /// </summary>
    /// <exception cref="TomalignInputException">Not a list, or a view outside 1…viewCount.</exception>
    public static int[] ParseViewList(string text, int viewCount, string option = "--exclude-views")
    {
        ArgumentNullException.ThrowIfNull(text);
        var views = new SortedSet<int>();
        foreach (string raw in text.Split([',', ' '], StringSplitOptions.RemoveEmptyEntries))
        {
            string part = raw.Trim();
            int dash = part.IndexOf('-', 1);
            bool ok;
            int a, b;
            if (dash > 0)
                ok = int.TryParse(part[..dash], NumberStyles.Integer, CultureInfo.InvariantCulture, out a)
                     & int.TryParse(part[(dash + 1)..], NumberStyles.Integer, CultureInfo.InvariantCulture, out b);
            else { ok = int.TryParse(part, NumberStyles.Integer, CultureInfo.InvariantCulture, out a); b = a; }
            if (!ok || a > b)
                throw new TomalignInputException(null, $"{option} '{text}': '{part}' is not a view number or range",
                    $"give 1-based view numbers and ranges, e.g. {option} 1-3,40");
            if (a < 1 || b > viewCount)
                throw new TomalignInputException(null, $"{option} '{text}': views are numbered 1…{viewCount} (1-based, as in IMOD), not {part}",
                    $"give view numbers within 1-{viewCount}");
            for (int v = a; v <= b; v++) views.Add(v - 1);
        }
        return views.ToArray();
    }
}
