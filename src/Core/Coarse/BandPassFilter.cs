namespace Tomalign.Core.Coarse;

/// <summary>
/// IMOD's correlation filter (tiltxcorr -FilterSigma1 -FilterRadius2 -FilterSigma2), frequencies
/// in cycles/pixel (0 … 0.5 along an axis):
/// <list type="bullet">
/// <item>High-pass: an inverted Gaussian, 1 − exp(−r²/(2·σ1²)), 0 at zero frequency and rising
/// to 1 (off when σ1 ≤ 0).</item>
/// <item>Low-pass: 1 up to radius2, then a Gaussian fall-off exp(−(r − radius2)²/(2·σ2²)) above
/// it (off when σ2 ≤ 0 and radius2 ≤ 0; a hard cut at radius2 when only σ2 ≤ 0).</item>
/// </list>
/// The filter multiplies the cross-power spectrum once. Defaults are etomo's usual 0.03, 0.25, 0.05.
/// </summary>
public sealed record BandPassFilter
{
    public BandPassFilter(double sigma1 = 0.03, double radius2 = 0.25, double sigma2 = 0.05)
    {
        if (!double.IsFinite(sigma1) || !double.IsFinite(radius2) || !double.IsFinite(sigma2))
            throw new ArgumentOutOfRangeException(nameof(sigma1), "filter parameters must be finite");
        if (sigma1 < 0 || radius2 < 0 || sigma2 < 0)
            throw new ArgumentOutOfRangeException(nameof(sigma1), $"filter parameters must be ≥ 0 (sigma1 {sigma1}, radius2 {radius2}, sigma2 {sigma2})");
        Sigma1 = sigma1; Radius2 = radius2; Sigma2 = sigma2;
    }

    public static BandPassFilter None { get; } = new(0, 0, 0);

    public double Sigma1 { get; }
    public double Radius2 { get; }
    public double Sigma2 { get; }

    /// <summary>The filter at radial frequency <paramref name="r"/> cycles/pixel.</summary>
    public double Value(double r)
    {
        double f = 1;
        if (Sigma1 > 0) f *= 1 - Math.Exp(-r * r / (2 * Sigma1 * Sigma1));
        if (r > Radius2 && (Sigma2 > 0 || Radius2 > 0))
        {
            if (Sigma2 > 0) { double d = r - Radius2; f *= Math.Exp(-d * d / (2 * Sigma2 * Sigma2)); }
            else f = 0;
        }
        return f;
    }

    /// <summary>
    /// The filter over a half spectrum of an npx×npy image ((npx/2+1)×npy values, kx fastest):
    /// kx/npx and (ky or ky − npy)/npy cycles/pixel. Both backends multiply by this same table.
    /// </summary>
    public float[] HalfSpectrumTable(int npx, int npy)
    {
        int w = npx / 2 + 1;
        var t = new float[w * npy];
        for (int ky = 0; ky < npy; ky++)
        {
            double fy = (ky <= npy / 2 ? ky : ky - npy) / (double)npy;
            for (int kx = 0; kx < w; kx++)
            {
                double fx = kx / (double)npx;
                t[ky * w + kx] = (float)Value(Math.Sqrt(fx * fx + fy * fy));
            }
        }
        return t;
    }
}
