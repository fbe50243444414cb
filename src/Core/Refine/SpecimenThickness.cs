using Tomalign.Core.Backend;
using Tomalign.Core.Coarse;
using Tomalign.Core.Fft;
using Tomalign.Core.Geometry;
using Tomalign.Core.Imaging;
using Tomalign.Core.Reconstruction;

namespace Tomalign.Core.Refine;

/// <summary>What <see cref="SpecimenThickness.Estimate"/> found: the specimen's extent in z and the profile it read it from.</summary>
/// <param name="ThicknessPixels">extent in z (unbinned pixels) over which the tomogram's variance stands out.</param>
/// <param name="CentrePixels">centre of that extent, unbinned pixels above the tomogram's middle.</param>
/// <param name="Profile">variance of each z plane of the binned tomogram (bottom to top).</param>
public sealed record ThicknessEstimate(double ThicknessPixels, double CentrePixels, int Bin, double[] Profile);

/// <summary>
/// The specimen's thickness from a quick binned WBP of the aligned views (as IMOD's findsection and AreTomo's automatic
/// volume height do): the variance of each z plane of the central region, the background from the planes far above
/// and below, and the extent over which the variance is more than halfway from the background to its peak. The views
/// are clipped first, so that gold beads on one surface do not outweigh the specimen.
/// </summary>
public static class SpecimenThickness
{
    /// <summary>Each view is clipped at its median ± this many robust SDs before the reconstruction.</summary>
    public const double ClipSds = 2.5;

    /// <summary>Why views of <paramref name="nx"/>×<paramref name="ny"/> are too small for <see cref="Estimate"/>, or null (its callers check before the work).</summary>
    public static string? TooSmall(int nx, int ny, int targetPixels = 256)
    {
        int bin = CoarseAligner.AutoBin(nx, ny, targetPixels);
        return nx / bin < 16 || ny / bin < 16 ? $"a {nx}×{ny} stack is too small to estimate the specimen's thickness" : null;
    }

    /// <param name="raw">the stack the transforms apply to.</param>
    /// <param name="rawToAligned">one transform per view, tilt axis along Y in the aligned frame.</param>
    /// <param name="tiltDegrees">each view's tilt.</param>
    /// <param name="targetPixels">the views are binned to about this many pixels on the larger side.</param>
    public static ThicknessEstimate Estimate(IComputeBackend backend, ImageStack raw, IReadOnlyList<Xf> rawToAligned, IReadOnlyList<double> tiltDegrees,
        int targetPixels = 256)
    {
        ArgumentNullException.ThrowIfNull(backend);
        ArgumentNullException.ThrowIfNull(raw);
        ArgumentNullException.ThrowIfNull(rawToAligned);
        ArgumentNullException.ThrowIfNull(tiltDegrees);
        int nz = raw.Nz;
        if (rawToAligned.Count != nz || tiltDegrees.Count != nz)
            throw new ArgumentException($"{rawToAligned.Count} transforms and {tiltDegrees.Count} tilts for {nz} views");
        if (TooSmall(raw.Nx, raw.Ny, targetPixels) is { } tooSmall) throw new ArgumentException(tooSmall);
        int bin = CoarseAligner.AutoBin(raw.Nx, raw.Ny, targetPixels);
        int mx = raw.Nx / bin, my = raw.Ny / bin;
        var ali = new float[(long)nz * mx * my];
        backend.Warper.Warp(raw.Data, raw.Nx, raw.Ny, nz, rawToAligned.ToArray(), raw.ViewMeans(), new WarpOptions(bin, Interpolation.Linear), ali);
        // The central half of the rows, each view about its own mean.
        int r0 = my / 4, rows = Math.Max(1, my / 2);
        var proj = new float[(long)nz * rows * mx];
        // Each view about its median, clipped at ±ClipSds robust SDs: gold beads would otherwise make the variance profile
        // peak at their surface alone.
        Parallel.For(0, nz, v =>
        {
            var src = ali.AsSpan((int)((long)v * mx * my + (long)r0 * mx), rows * mx);
            var sorted = src.ToArray();
            Array.Sort(sorted);
            float median = sorted[sorted.Length / 2];
            for (int k = 0; k < sorted.Length; k++) sorted[k] = Math.Abs(sorted[k] - median);
            Array.Sort(sorted);
            float clip = (float)(ClipSds * 1.4826 * sorted[sorted.Length / 2]);
            var dst = proj.AsSpan((int)((long)v * rows * mx), rows * mx);
            for (int k = 0; k < dst.Length; k++) dst[k] = Math.Clamp(src[k] - median, -clip, clip);
        });
        int thickness = Math.Max(16, mx / 2 + mx % 2);
        var cos = tiltDegrees.Select(t => (float)Math.Cos(t * Math.PI / 180)).ToArray();
        var sin = tiltDegrees.Select(t => (float)Math.Sin(t * Math.PI / 180)).ToArray();
        var weights = Reconstructor.TrapezoidWeights(tiltDegrees);
        int pad = FftSize.NextGood(2 * mx);
        var g = new SlabGeometry(mx, rows, nz, thickness, 0);
        var slab = new float[g.SlabLength];
        backend.Backprojector.FilterBackproject(proj, Reconstructor.RampFilter(pad, new ReconstructionOptions()), pad, cos, sin, weights, g, slab);
        // Variance of each z plane over the central half of x.
        var profile = new double[thickness];
        int x0 = mx / 4, x1 = mx - mx / 4;
        for (int z = 0; z < thickness; z++)
        {
            double s = 0, s2 = 0; long n = 0;
            for (int r = 0; r < rows; r++)
            {
                var line = slab.AsSpan((int)(((long)r * thickness + z) * mx), mx);
                for (int x = x0; x < x1; x++) { s += line[x]; s2 += (double)line[x] * line[x]; n++; }
            }
            double mean = s / n;
            profile[z] = Math.Max(0, s2 / n - mean * mean);
        }
        // Background: the median of the outer eighth of planes on each side; peak: the largest plane variance.
        int edge = Math.Max(1, thickness / 8);
        var outer = profile.Take(edge).Concat(profile.Skip(thickness - edge)).OrderBy(x => x).ToArray();
        double background = outer[outer.Length / 2], peak = profile.Max();
        if (!(peak > background)) return new ThicknessEstimate(0, 0, bin, profile);
        double level = background + 0.5 * (peak - background);
        int first = Array.FindIndex(profile, p => p > level), last = Array.FindLastIndex(profile, p => p > level);
        // Sub-plane crossings by linear interpolation on each side.
        double lo = first > 0 ? first - 1 + (level - profile[first - 1]) / (profile[first] - profile[first - 1]) : first;
        double hi = last < thickness - 1 ? last + (profile[last] - level) / (profile[last] - profile[last + 1]) : last;
        return new ThicknessEstimate((hi - lo) * bin, ((hi + lo) / 2 - thickness / 2.0) * bin, bin, profile);
    }
}
