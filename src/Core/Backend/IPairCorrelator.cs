using Tomalign.Core.Coarse;
using Tomalign.Core.Geometry;

namespace Tomalign.Core.Backend;

/// <summary>
/// One pair to correlate: the reference view is used as it is; the moving view is first
/// resampled through <see cref="MovingStretch"/> (a 2×2 map about the view centre (NX/2, NY/2),
/// e.g. the cosine stretch perpendicular to the tilt axis; its Dx, Dy are ignored).
/// </summary>
public readonly record struct CorrelationPair(int Reference, int Moving, Xf MovingStretch);

/// <summary>
/// The shift d, in (binned) pixels, that carries the stretched moving view onto the reference:
/// content at x in the stretched moving view lies at x + d in the reference. Strength is the
/// normalised, filtered correlation coefficient at the peak (≈1 identical, ≈0 unrelated).
/// </summary>
public readonly record struct CorrelationPeak(double Dx, double Dy, double Strength);

/// <summary>Per-view statistics the preparation uses (shared by both backends so they agree).</summary>
public readonly record struct ViewStatistics(double Mean, double StdDev);

/// <summary>
/// How pairs are prepared and searched. Each image of a pair goes into a padded
/// PaddedWidth×PaddedHeight frame, centred with offset ((PW−nx)/2, (PH−ny)/2) (integer division):
/// <list type="number">
/// <item>Pixels outside the view are 0.</item>
/// <item>Inside, the value v is the view at the (stretched) source position, bilinear with the
/// upper neighbour clamped; a source outside [0, nx−1]×[0, ny−1] gives the view mean.</item>
/// <item>v is clipped to mean ± ClipStdDevs·SD (0: no clip), which damps gold beads and hot
/// pixels so the specimen, not a few strong points, decides the peak.</item>
/// <item>The output is (v − mean)·t(x)·t(y), with the separable taper
/// t(x) = min(1, (e + 1)/(TaperPixels + 1)), e the distance in pixels to the nearer edge along that axis.</item>
/// </list>
/// Then C = F_ref·conj(F_moving)·H (H: <see cref="BandPassFilter.HalfSpectrumTable"/>) and c = F⁻¹C.
/// With NormalizeOverlap, c(d) is divided by the overlap of the two taper windows at shift d,
/// O(d) = Ox(dx)·Oy(dy), Ox(dx) = Σ_x t(x)·t(x+dx) / Σ_x t(x)² (<see cref="OverlapTable"/>), and only
/// shifts with O ≥ MinimumOverlap are searched: a fixed window otherwise pulls every peak toward
/// zero shift (by about the squared peak width over the image size, systematically).
/// The peak is the largest (normalised) c over shifts (dx, dy) (wrapped to −P/2 … P/2−1) with
/// |dx|, |dy| ≤ MaxShift, skipping |dx|, |dy| ≤ 1 when ExcludeCentralPeak. Sub-pixel: a parabola
/// through the peak and its two neighbours along x and along y separately (wrapped, normalised
/// the same way), offset clamped to ±1.
/// </summary>
public sealed record CorrelationSettings
{
    public CorrelationSettings(int paddedWidth, int paddedHeight, int taperPixels, BandPassFilter filter,
        double clipStdDevs = 0, bool excludeCentralPeak = false, int maxShift = int.MaxValue, bool normalizeOverlap = true)
    {
        if (!Fft.FftSize.IsGood(paddedWidth) || !Fft.FftSize.IsGood(paddedHeight))
            throw new ArgumentException($"padded size {paddedWidth}×{paddedHeight} must be a product of 2, 3, 5");
        if (taperPixels < 0) throw new ArgumentOutOfRangeException(nameof(taperPixels));
        if (clipStdDevs < 0 || !double.IsFinite(clipStdDevs)) throw new ArgumentOutOfRangeException(nameof(clipStdDevs));
        if (maxShift < 0) throw new ArgumentOutOfRangeException(nameof(maxShift));
        PaddedWidth = paddedWidth; PaddedHeight = paddedHeight; TaperPixels = taperPixels;
        Filter = filter ?? throw new ArgumentNullException(nameof(filter));
        ClipStdDevs = clipStdDevs; ExcludeCentralPeak = excludeCentralPeak; MaxShift = maxShift;
        NormalizeOverlap = normalizeOverlap;
    }

    /// <summary>Shifts whose window overlap is below this fraction are not searched (with NormalizeOverlap).</summary>
    public const double MinimumOverlap = 0.25;

    public bool NormalizeOverlap { get; }

    /// <summary>The taper of one axis of a view of n pixels at pixel x.</summary>
    public float Taper(int x, int n)
    {
        int e = Math.Min(x, n - 1 - x);
        return e >= TaperPixels ? 1f : (e + 1f) / (TaperPixels + 1f);
    }

    /// <summary>
    /// Ox along one axis for a view of n pixels in a padded length p: entry i is the relative overlap
    /// at the wrapped shift d = i &lt; p/2 ? i : i − p, or 0 where it is below MinimumOverlap.
    /// All ones without NormalizeOverlap. The search also skips shifts whose product Ox·Oy is
    /// below MinimumOverlap (each axis passing is not enough).
    /// </summary>
    public float[] OverlapTable(int n, int p)
    {
        var t = new float[p];
        if (!NormalizeOverlap) { Array.Fill(t, 1f); return t; }
        double self = 0;
        for (int x = 0; x < n; x++) self += (double)Taper(x, n) * Taper(x, n);
        for (int i = 0; i < p; i++)
        {
            int d = i < p / 2 ? i : i - p;
            double sum = 0;
            for (int x = Math.Max(0, -d); x < Math.Min(n, n - d); x++) sum += (double)Taper(x, n) * Taper(x + d, n);
            double o = sum / self;
            t[i] = o >= MinimumOverlap ? (float)o : 0f;
        }
        return t;
    }

    public int PaddedWidth { get; }
    public int PaddedHeight { get; }
    public int TaperPixels { get; }
    public BandPassFilter Filter { get; }
    public double ClipStdDevs { get; }
    public bool ExcludeCentralPeak { get; }
    public int MaxShift { get; }

    /// <summary>The clip bounds of a view: (−∞, ∞) without clipping.</summary>
    public (float Low, float High) ClipBounds(ViewStatistics s) => ClipStdDevs > 0
        ? ((float)(s.Mean - ClipStdDevs * s.StdDev), (float)(s.Mean + ClipStdDevs * s.StdDev))
        : (float.NegativeInfinity, float.PositiveInfinity);
}

/// <summary>
/// Cross-correlates many pairs of views in one batch (tiltxcorr's core), as defined by
/// <see cref="CorrelationSettings"/>. Implementations: managed (src/Cpu) and ILGPU (src/Gpu).
/// </summary>
public interface IPairCorrelator
{
    /// <param name="views">nz views of nx×ny pixels, x fastest.</param>
    /// <param name="statistics">mean and SD of each view (<see cref="ViewStatisticsCalculator"/>).</param>
    CorrelationPeak[] Correlate(ReadOnlySpan<float> views, int nx, int ny, int nz, ReadOnlySpan<ViewStatistics> statistics,
        ReadOnlySpan<CorrelationPair> pairs, CorrelationSettings settings);
}

public static class ViewStatisticsCalculator
{
    /// <summary>Mean and SD of every view, in double.</summary>
    public static ViewStatistics[] Compute(ReadOnlySpan<float> views, int nx, int ny, int nz)
    {
        var result = new ViewStatistics[nz];
        long n = (long)nx * ny;
        for (int z = 0; z < nz; z++)
        {
            var v = views.Slice((int)(z * n), (int)n);
            double sum = 0, sum2 = 0;
            foreach (float f in v) { sum += f; sum2 += (double)f * f; }
            double mean = sum / n;
            result[z] = new ViewStatistics(mean, Math.Sqrt(Math.Max(0, sum2 / n - mean * mean)));
        }
        return result;
    }
}

/// <summary>Argument checks shared by both correlators.</summary>
public static class CorrelationArguments
{
    public static void Validate(int viewsLength, int nx, int ny, int nz, int statisticsLength, ReadOnlySpan<CorrelationPair> pairs, CorrelationSettings settings)
    {
        ArgumentNullException.ThrowIfNull(settings);
        if (nx < 2 || ny < 2 || nz < 1) throw new ArgumentOutOfRangeException(nameof(nx), $"bad stack size {nx}×{ny}×{nz}");
        if (viewsLength != (long)nx * ny * nz) throw new ArgumentException($"views hold {viewsLength} pixels, expected {nx}×{ny}×{nz}");
        if (statisticsLength != nz) throw new ArgumentException($"{statisticsLength} statistics for {nz} views");
        if (settings.PaddedWidth < nx || settings.PaddedHeight < ny)
            throw new ArgumentException($"padded size {settings.PaddedWidth}×{settings.PaddedHeight} smaller than the views {nx}×{ny}");
        foreach (var p in pairs)
            if ((uint)p.Reference >= nz || (uint)p.Moving >= nz) throw new ArgumentException($"pair ({p.Reference}, {p.Moving}) outside 0…{nz - 1}");
    }
}
