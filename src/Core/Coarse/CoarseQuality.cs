using Tomalign.Core.Imaging;

namespace Tomalign.Core.Coarse;

/// <summary>
/// How trustworthy the coarse alignment is, over all neighbour pairs (plain values for the quality
/// verdict; also written to NAME.coarse.json as <c>quality</c>).
/// </summary>
public sealed record CoarseQuality
{
    /// <summary>Neighbour pairs (first neighbours, blank views bridged) that the shifts rest on.</summary>
    public int Pairs { get; init; }
    /// <summary>Pairs whose shift passed every check (<see cref="CoarsePairResult.Trusted"/>).</summary>
    public int TrustedPairs { get; init; }
    /// <summary><see cref="TrustedPairs"/> / <see cref="Pairs"/> (1 when there are no pairs).</summary>
    public double FractionTrusted { get; init; }
    /// <summary>Pairs whose shift is an interpolation (no measurement could be trusted); their views are flagged.</summary>
    public int InterpolatedPairs { get; init; }
    /// <summary>Views whose chain of pairs to the reference view contains an interpolated (untrusted) step.</summary>
    public IReadOnlyList<int> UntrustedViews { get; init; } = [];
    /// <summary>Median over the pairs of <see cref="CoarsePairResult.PeakSnr"/> (peak strength over the null correlation's; about 1 is noise).</summary>
    public double MedianPeakSnr { get; init; }
    /// <summary>
    /// RMS, unbinned pixels, over the view triples (i−2, i−1, i), of the second-neighbour shift i−2 → i
    /// minus the two first-neighbour shifts chained, for the settings used (NaN with fewer than 3 views).
    /// Large values mean the pairs locked onto different features (e.g. beads on different surfaces).
    /// </summary>
    public double ChainClosureRmsPixels { get; init; }
    /// <summary>
    /// False when the chain closure RMS exceeds twice the closure tolerance (2 binned pixels, at least 2 px):
    /// the pairs then lock onto different features (in bead-dominated series, beads on different surfaces:
    /// the shifts can be off by the parallax between the surfaces). True otherwise (also when not measured).
    /// </summary>
    public bool Consistent { get; init; } = true;
    /// <summary>
    /// True when the coarse shifts can be relied on: <see cref="Consistent"/>, at least 90 % of the pairs
    /// trusted, and no view cut off from the reference by an interpolated step.
    /// </summary>
    public bool Trustworthy => Consistent && FractionTrusted >= 0.9 && UntrustedViews.Count == 0;
    /// <summary>The largest |shift| of any view to the reference view (the .prexg), as a fraction of the smaller image side.</summary>
    public double LargestShiftFraction { get; init; }
    /// <summary>The binning the primary measurements were made at.</summary>
    public int Bin { get; init; }
    /// <summary>Whether beads and other strong points were damped (clipped) in the primary measurements.</summary>
    public bool BeadsDamped { get; init; }
    /// <summary>The band-pass of the primary measurements, cycles per binned pixel.</summary>
    public BandPassFilter? Filter { get; init; }
    /// <summary>How the settings were chosen: "automatic (data)" or "given".</summary>
    public string SettingsSource { get; init; } = "";
    /// <summary>The spectral estimate the automatic binning was chosen from (null when the binning was given).</summary>
    public SpectralSnrEstimate? Spectral { get; init; }
    /// <summary>Every set of settings tried, with its own trust summary (the primary one first).</summary>
    public IReadOnlyList<CoarseCandidateSummary> Candidates { get; init; } = [];
}

/// <summary>One set of correlation settings tried by the coarse stage, and how its pairs fared.</summary>
public sealed record CoarseCandidateSummary(int Bin, bool BeadsDamped, double FractionTrusted, double MedianPeakSnr, double ChainClosureRmsPixels);

/// <summary>
/// A signal-to-noise estimate of the views by scale, without an FFT: the variance of a view averaged
/// over b×b blocks is S(b) + N/b² for white shot noise of variance N per pixel (N measured from the
/// difference of each pixel and its 4 neighbours, which removes smooth signal). The signal power in the
/// octave band (0.25/b, 0.5/b] cycles/pixel is S(b) − S(2b); its SNR is that over the noise power in the
/// band, 0.75·N/b². <see cref="CutoffCyclesPerPixel"/> is the highest band top with SNR ≥ 1.
/// </summary>
public sealed record SpectralSnrEstimate
{
    /// <summary>The block sizes b measured (1, 2, 4, …).</summary>
    public IReadOnlyList<int> Scales { get; init; } = [];
    /// <summary>SNR of the octave band (0.25/b, 0.5/b] cycles/pixel, per entry of <see cref="Scales"/>.</summary>
    public IReadOnlyList<double> BandSnr { get; init; } = [];
    /// <summary>Shot-noise variance per raw pixel, relative to the squared view mean.</summary>
    public double RelativeNoiseVariance { get; init; }
    /// <summary>The highest frequency (cycles per raw pixel) whose octave band has SNR ≥ 1; 0 when none has.</summary>
    public double CutoffCyclesPerPixel { get; init; }
    /// <summary>Views measured (the non-blank views nearest zero tilt).</summary>
    public IReadOnlyList<int> Views { get; init; } = [];

    /// <summary>Measures the views <paramref name="views"/> of <paramref name="stack"/> (each at most <paramref name="maxScale"/> binned).</summary>
    public static SpectralSnrEstimate Measure(ImageStack stack, IReadOnlyList<int> views, int maxScale)
    {
        ArgumentNullException.ThrowIfNull(stack);
        ArgumentNullException.ThrowIfNull(views);
        int nx = stack.Nx, ny = stack.Ny;
        var scales = new List<int>();
        for (int b = 1; b <= Math.Max(1, maxScale) && Math.Min(nx, ny) / b >= 16; b *= 2) scales.Add(b);
        var variance = new double[scales.Count];
        double noise = 0, meanSq = 0;
        foreach (int v in views)
        {
            var data = stack.View(v);
            double mean = 0;
            foreach (float f in data) mean += f;
            mean /= data.Length;
            meanSq += mean * mean;
            // Noise: x − mean of 4 neighbours has variance 1.25·N for white noise.
            double sum2 = 0; long count = 0;
            for (int y = 1; y < ny - 1; y++)
                for (int x = 1; x < nx - 1; x++)
                {
                    int i = y * nx + x;
                    double d = data[i] - 0.25 * (data[i - 1] + data[i + 1] + data[i - nx] + data[i + nx]);
                    sum2 += d * d; count++;
                }
            noise += count > 0 ? sum2 / count / 1.25 : 0;
            for (int k = 0; k < scales.Count; k++)
            {
                int b = scales[k], bx = nx / b, by = ny / b;
                double s = 0, s2 = 0;
                for (int j = 0; j < by; j++)
                    for (int i = 0; i < bx; i++)
                    {
                        double block = 0;
                        for (int y = j * b; y < (j + 1) * b; y++)
                            for (int x = i * b; x < (i + 1) * b; x++) block += data[y * nx + x];
                        block /= b * b;
                        s += block; s2 += block * block;
                    }
                double n = (double)bx * by;
                variance[k] += s2 / n - (s / n) * (s / n);
            }
        }
        int m = Math.Max(1, views.Count);
        noise /= m; meanSq /= m;
        for (int k = 0; k < variance.Length; k++) variance[k] /= m;
        var bandSnr = new double[scales.Count];
        double cutoff = 0;
        for (int k = 0; k < scales.Count; k++)
        {
            int b = scales[k];
            double signalB = Math.Max(0, variance[k] - noise / (b * b));
            double signal2B = k + 1 < scales.Count ? Math.Max(0, variance[k + 1] - noise / (4.0 * b * b)) : 0;
            double bandNoise = 0.75 * noise / (b * b);
            bandSnr[k] = bandNoise > 0 ? Math.Max(0, signalB - signal2B) / bandNoise : double.PositiveInfinity;
            if (bandSnr[k] >= 1 && cutoff == 0) cutoff = 0.5 / b;
        }
        return new SpectralSnrEstimate
        {
            Scales = scales, BandSnr = bandSnr, RelativeNoiseVariance = meanSq > 0 ? noise / meanSq : 0,
            CutoffCyclesPerPixel = cutoff, Views = views.ToArray(),
        };
    }
}
