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
/// <item>The output is (v − mean)·w, with the taper w = min(1, (e + 1)/(TaperPixels + 1)) and e
/// the distance in pixels to the nearest view edge.</item>
/// </list>
/// Then C = F_ref·conj(F_moving)·H (H: <see cref="BandPassFilter.HalfSpectrumTable"/>), c = F⁻¹C,
/// and the peak is the largest c over shifts (dx, dy) (wrapped to −P/2 … P/2−1) with |dx|, |dy| ≤
/// MaxShift, skipping |dx|, |dy| ≤ 1 when ExcludeCentralPeak. Sub-pixel: a parabola through the
/// peak and its two neighbours along x and along y separately (wrapped), offset clamped to ±1.
/// </summary>
public sealed record CorrelationSettings
{
    public CorrelationSettings(int paddedWidth, int paddedHeight, int taperPixels, BandPassFilter filter,
        double clipStdDevs = 0, bool excludeCentralPeak = false, int maxShift = int.MaxValue)
    {
        if (!Fft.FftSize.IsGood(paddedWidth) || !Fft.FftSize.IsGood(paddedHeight))
            throw new ArgumentException($"padded size {paddedWidth}×{paddedHeight} must be a product of 2, 3, 5");
        if (taperPixels < 0) throw new ArgumentOutOfRangeException(nameof(taperPixels));
        if (clipStdDevs < 0 || !double.IsFinite(clipStdDevs)) throw new ArgumentOutOfRangeException(nameof(clipStdDevs));
        if (maxShift < 0) throw new ArgumentOutOfRangeException(nameof(maxShift));
        PaddedWidth = paddedWidth; PaddedHeight = paddedHeight; TaperPixels = taperPixels;
        Filter = filter ?? throw new ArgumentNullException(nameof(filter));
        ClipStdDevs = clipStdDevs; ExcludeCentralPeak = excludeCentralPeak; MaxShift = maxShift;
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
