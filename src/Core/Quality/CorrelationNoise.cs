using Tomalign.Core.Backend;

namespace Tomalign.Core.Quality;

/// <summary>
/// The peak strength a neighbour correlation reaches by chance: the largest value of the filtered, normalised
/// correlation of two unrelated views (<see cref="IPairCorrelator"/>'s Strength), from the correlation's own settings.
/// <para>
/// For views whose spectra are flat over the filter's band (shot noise: the low-dose case where a coarse stage
/// fails), the normalised correlation at any one shift has SD σ = √ΣH² / ΣH over the spectrum (H the band-pass) and the
/// map holds about N = (ΣH)² / ΣH² independent values; its largest is about σ·√(2 ln N), times
/// <see cref="SearchFactor"/> for the search over partial overlaps (the strength is the raw map value at the peak, and
/// the peak of the overlap-normalised map lies where the overlap is small). Textured views concentrate their power at
/// low frequencies, which makes N smaller and chance peaks larger: this estimate is then a lower bound, so a peak
/// below it is certainly noise.
/// </para>
/// </summary>
public static class CorrelationNoise
{
    /// <summary>
    /// The ratio of the largest chance strength to σ·√(2 ln N), measured with the CPU correlator on pairs of independent
    /// white-noise views through the coarse stage with its defaults (damping, taper, filter; CorrelationNoiseTests): the
    /// median chance strength over 20 pairs was 0.783, 0.787 and 0.784 of σ·√(2 ln N) at 128², 256×192 and 512². The
    /// largest of 20 chance peaks was at most 1.35 times their median.
    /// </summary>
    public const double SearchFactor = 0.785;

    /// <summary>The expected largest chance strength of a pair correlated with <paramref name="settings"/>.</summary>
    public static double ExpectedPeak(CorrelationSettings settings)
    {
        ArgumentNullException.ThrowIfNull(settings);
        var (sigma, modes) = SingleShift(settings);
        return SearchFactor * sigma * Math.Sqrt(2 * Math.Log(Math.Max(2, modes)));
    }

    /// <summary>σ of the normalised correlation at one shift, and the number of independent values in the map.</summary>
    public static (double Sigma, double Modes) SingleShift(CorrelationSettings settings)
    {
        ArgumentNullException.ThrowIfNull(settings);
        int px = settings.PaddedWidth, py = settings.PaddedHeight, w = px / 2 + 1;
        var table = settings.Filter.HalfSpectrumTable(px, py);
        double sum = 0, sum2 = 0;
        for (int ky = 0; ky < py; ky++)
            for (int kx = 0; kx < w; kx++)
            {
                double weight = kx == 0 || 2 * kx == px ? 1 : 2, h = table[ky * w + kx];
                sum += weight * h;
                sum2 += weight * h * h;
            }
        if (!(sum > 0)) return (1, 1);
        return (Math.Sqrt(sum2) / sum, sum * sum / sum2);
    }
}
