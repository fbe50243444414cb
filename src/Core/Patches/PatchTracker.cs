using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Tomalign.Core.Backend;
using Tomalign.Core.Coarse;
using Tomalign.Core.Fft;
using Tomalign.Core.Geometry;
using Tomalign.Core.Imaging;
using Tomalign.Core.Solve;

namespace Tomalign.Core.Patches;

/// <summary>Options of markerless patch tracking (IMOD tiltxcorr -SizeOfPatchesXandY, -OverlapOfPatchesXandY, -LengthAndOverlap).</summary>
public sealed record PatchTrackOptions
{
    /// <summary>Tilt-axis angle in the (prealigned) stack, degrees counter-clockwise from +Y.</summary>
    public double TiltAxisDegrees { get; init; }
    /// <summary>Patch edge in unbinned pixels; 0 = from the data: the smallest of <see cref="PatchTracker.AutoPatchSize"/> and larger
    /// edges (×1.5 each, up to half the view) whose median correlation peak is at least <see cref="MinimumPeakSnr"/> times its null
    /// correlation's; larger ones again if nothing could be tracked.</summary>
    public int PatchSize { get; init; }
    /// <summary>Fraction by which neighbouring patches overlap (0 … 0.9).</summary>
    public double Overlap { get; init; } = 0.75;
    /// <summary>Binning before correlation; 0 = from the data: the binned Nyquist frequency at least 4× the highest frequency with
    /// spectral SNR ≥ 1 (<see cref="SpectralSnrEstimate"/> of the views nearest 0°), at least the binning to about
    /// <see cref="PatchTracker.AutoBinTargetPixels"/> pixels (for speed), at most the one that leaves 128.</summary>
    public int Bin { get; init; }
    /// <summary>Tracks are cut into pieces of this many views (0, the default = whole tracks); pieces overlap by <see cref="PieceOverlap"/>.
    /// With the multi-lag re-measurement (<see cref="RefineRounds"/>) the tracks no longer drift as a random walk, and whole tracks
    /// gave the smaller field error (512² markerless, seeds 101 / 102: 0.98 / 1.03 px whole, 3.26 / 1.95 px in pieces of 16).</summary>
    public int PieceLength { get; init; }
    /// <summary>Views shared by consecutive pieces.</summary>
    public int PieceOverlap { get; init; } = 4;
    /// <summary>Patches whose SD in the reference view is below this fraction of the median patch SD are featureless and skipped.</summary>
    public double MinimumContrast { get; init; } = 0.5;
    /// <summary>A track ends where the peak strength falls below this fraction of the median strength of its step.</summary>
    public double MinimumStrengthFraction { get; init; } = 0.35;
    /// <summary>A step whose correction differs from the median correction of all patches in that step by more than this
    /// many binned pixels is a lost track (parallax between neighbouring views is far smaller).</summary>
    public double MaxDeviationPixels { get; init; } = 3;
    /// <summary>Clip each (smoothed) view to median ± this many robust SDs before tracking; 0 = off (the default: on the simulated
    /// series, clipping at 2 removed most of what patches track: peak strength 0.45 → 0.27).</summary>
    public double ClipStdDevs { get; init; }
    /// <summary>
    /// Rounds of re-measuring each track's positions from correlations at lags 1 … <see cref="Lags"/> solved by least
    /// squares; 0 = the chained view-to-view positions as they are.
    /// </summary>
    public int RefineRounds { get; init; } = 1;
    /// <summary>The longest lag (views) of the links that re-measure a track.</summary>
    public int Lags { get; init; } = 3;
    /// <summary>A patch is tracked only if its correlation peak is at least this many times its null correlation's (the moving
    /// patch turned by 180°: the best wrong peak of the same images), measured on probe pairs; larger patches are tried
    /// while the median patch falls short (coarse alignment's trust uses 1.5).</summary>
    public double MinimumPeakSnr { get; init; } = 2;
    /// <summary>Shortest track kept (views).</summary>
    public int MinimumTrackLength { get; init; } = 4;
    /// <summary>
    /// Correlation band-pass (cycles per binned pixel); null (the default): etomo's sigma1 and sigma2 with radius2 =
    /// 0.0375 × bin (0.15 at bin 4, 0.075 at bin 2), that is a fixed 0.0375 cycles per unbinned pixel, so that a lower binning does not let
    /// in the noisier high frequencies of a low-dose series (20 e/px). Measured at 512²×41 (bin 2): radius2 0.15 / 0.10 /
    /// 0.07 gave tracks 1.77 / 1.28 / 1.05 px RMS from the truth; at bin 3, 0.15 / 0.10: 1.06 / 0.88 px.
    /// </summary>
    public BandPassFilter? Filter { get; init; }

    /// <summary>The band-pass used at <paramref name="bin"/>: <see cref="Filter"/>, or the automatic one.</summary>
    public BandPassFilter FilterFor(int bin) => Filter ?? new BandPassFilter(0.03, Math.Min(0.25, 0.0375 * Math.Max(1, bin)), 0.05);

    public void Validate()
    {
        if (PatchSize < 0) throw new ArgumentException($"patch size must be ≥ 0 (0: automatic), got {PatchSize}");
        if (!(Overlap >= 0 && Overlap <= 0.9)) throw new ArgumentException($"patch overlap must be in 0…0.9, got {Overlap}");
        if (Bin < 0) throw new ArgumentException($"binning must be ≥ 0 (0: automatic), got {Bin}");
        if (PieceLength != 0 && PieceLength < 3) throw new ArgumentException($"piece length must be 0 or ≥ 3, got {PieceLength}");
        if (PieceOverlap < 0 || (PieceLength > 0 && PieceOverlap >= PieceLength))
            throw new ArgumentException($"piece overlap must be in 0…{PieceLength - 1}, got {PieceOverlap}");
        if (!double.IsFinite(TiltAxisDegrees)) throw new ArgumentException("the tilt-axis angle must be a number");
    }
}

/// <summary>What patch tracking found: landmark observations (unbinned pixels of the input stack) and the count of what it skipped.</summary>
public sealed record PatchTrackResult(IReadOnlyList<LandmarkObservation> Observations, int Landmarks, int Patches, int FeaturelessPatches,
    int PatchSize, int Bin, int ReferenceView, double MedianStrength, IReadOnlyList<string> Warnings)
{
    /// <summary>Patches not tracked because their correlation peaks did not stand clearly above their null correlation's.</summary>
    public int WeakPatches { get; init; }
    /// <summary>Median over the patches of the peak strength over the null correlation's (the moving patch turned by 180°) in the probe pairs; about 1 is noise.</summary>
    public double MedianPeakSnr { get; init; }
    /// <summary>RMS residual (unbinned pixels) of the multi-lag links after each track's least-squares positions: how consistently the
    /// correlations at different lags agree (NaN without refinement).</summary>
    public double LinkResidualPixels { get; init; } = double.NaN;
    /// <summary>The spectral SNR cutoff (cycles per unbinned pixel) the automatic binning used; NaN when the binning was given.</summary>
    public double SpectralCutoff { get; init; } = double.NaN;
}

/// <summary>
/// Markerless landmarks: a grid of overlapping patches on the view nearest zero tilt, each
/// followed outward view by view by correlating it with the next view's patch at the predicted
/// place, the view with the larger tilt stretched by cos θ_near / cos θ_far perpendicular to the
/// tilt axis (as tiltxcorr's patch tracking). All patches of one step are correlated in one batch
/// through <see cref="IPairCorrelator"/> (managed or GPU). A track ends when it leaves the image or
/// its correlation is weak; each track's positions are then re-measured from correlations at lags 1 … 3 views solved
/// by least squares (<see cref="PatchTrackOptions.Lags"/>), which stops the chained steps' errors from adding up.
/// Binning and patch size come from the data (<see cref="PatchTrackOptions.Bin"/>, <see cref="PatchTrackOptions.PatchSize"/>). The input is a prealigned stack (the tilt
/// axis through the image centre, at <see cref="PatchTrackOptions.TiltAxisDegrees"/>).
/// </summary>
public sealed class PatchTracker(IPairCorrelator correlator, ILogger? logger = null)
{
    /// <summary>
    /// Automatic binning brings the larger side to about this many pixels. Measured on simulated
    /// series at 20 e/px (seed 21): 1024² at bin 1/2/4 gave peak strength 0.16/0.52/0.82 and an
    /// alignment error of 13.4/1.8/1.3 px after the gauge; 384² at bin 1/2: 1.49/0.76 px.
    /// </summary>
    public const int AutoBinTargetPixels = 256;

    /// <summary>
    /// Automatic patches are at most this many unbinned pixels on a side (and at least 32 binned pixels). Measured
    /// on simulated series at 20 e/px (markerless, error over the field after the gauge, per seed): 2048²×41 at bin 8,
    /// patches of 688 px (a third of the image, the rule before) 0.62 / 1.45 / 1.13 px, of 256 px 0.72 / 0.56 / 0.67 px;
    /// 1024²×61 at bin 4, 344 px 0.61 / 0.90 px, 256 px 0.42 / 0.67 px. Smaller patches overlap less in content, so their
    /// tracking errors are less alike and the solve averages more of them out.
    /// </summary>
    public const int AutoPatchMaxPixels = 256;

    /// <summary>The automatic patch edge in binned pixels: a third of the smaller binned edge (at least 48), at most
    /// <see cref="AutoPatchMaxPixels"/> unbinned pixels (but at least 32 binned).</summary>
    public static int AutoPatchSize(int binnedWidth, int binnedHeight, int bin) =>
        Math.Min(Math.Max(48, Math.Min(binnedWidth, binnedHeight) / 3), Math.Max(32, AutoPatchMaxPixels / Math.Max(1, bin)));

    /// <summary>Tracks whose multi-lag links disagree by more than this (unbinned pixels RMS) are reported as inconsistent.</summary>
    public const double MaxConsistentLinkResidualPixels = 1.0;

    private readonly IPairCorrelator _correlator = correlator ?? throw new ArgumentNullException(nameof(correlator));
    private readonly ILogger _logger = logger ?? NullLogger.Instance;

    public PatchTrackResult Track(ImageStack stack, IReadOnlyList<double> tiltDegrees, PatchTrackOptions options, IProgress<double>? progress = null)
    {
        ArgumentNullException.ThrowIfNull(stack);
        ArgumentNullException.ThrowIfNull(tiltDegrees);
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        int nz = stack.Nz;
        if (tiltDegrees.Count != nz) throw new ArgumentException($"{tiltDegrees.Count} tilt angles for {nz} views");

        // Settings from the data: the binning from the views' spectral SNR, the patch edge the smallest of the candidates
        // whose correlation peaks stand clearly above their own noise (a null correlation); fewer, larger patches where
        // none does, and larger ones again if nothing could be tracked.
        var (bin, spectral) = ChooseBin(stack, tiltDegrees, options);
        var (binned, nx, ny) = CoarseAligner.BinStack(stack, bin);
        // Gold beads and hot pixels clipped (as the coarse stage does): a bead outweighs the specimen in a
        // patch, and beads on the two surfaces move differently, so the peak would jump between them.
        var data = options.ClipStdDevs > 0 ? CoarseAligner.DampHighContrast(binned, nx, ny, nz, 1.0, options.ClipStdDevs, new bool[nz]) : binned;
        var candidates = PatchCandidates(stack.Nx, stack.Ny, bin, options);
        var warnings = new List<string>();
        PatchTrackResult? last = null;
        for (int c = 0; c < candidates.Count; c++)
        {
            int p = candidates[c];
            var probe = Probe(data, nx, ny, tiltDegrees, options, p, bin);
            bool lastCandidate = c == candidates.Count - 1;
            _logger.LogInformation("patch tracking: patches of {Size} px at bin {Bin}: median peak {Snr:F2}× the null correlation's over {N} patches",
                p * bin, bin, probe.MedianSnr, probe.Snr.Length);
            if (options.PatchSize == 0 && !lastCandidate && !(probe.MedianSnr >= options.MinimumPeakSnr)) continue;
            if (!(probe.MedianSnr >= options.MinimumPeakSnr))
                warnings.Add($"patch correlation peaks are weak: median {probe.MedianSnr:F2}× the null correlation's with patches of {p * bin} px " +
                    $"(bin {bin}); the markerless landmarks may be unreliable");
            last = TrackWith(data, nx, ny, tiltDegrees, options, bin, p, probe, warnings, progress);
            last = last with { SpectralCutoff = spectral?.CutoffCyclesPerPixel ?? double.NaN };
            if (last.Landmarks > 0 || lastCandidate || options.PatchSize > 0) return last;
            _logger.LogWarning("patch tracking: nothing tracked with patches of {Size} px; trying larger ones", p * bin);
            warnings.Add($"nothing could be tracked with patches of {p * bin} px; larger patches were tried");
        }
        return last!;
    }

    /// <summary>The binning: given, or from the spectral SNR of the views nearest 0° (the binned Nyquist frequency at least 4×
    /// the highest frequency with signal), at least the size-based binning (<see cref="AutoBinTargetPixels"/>, for speed) and
    /// at most the one that leaves 128 binned pixels.</summary>
    private static (int Bin, SpectralSnrEstimate? Spectral) ChooseBin(ImageStack stack, IReadOnlyList<double> tilts, PatchTrackOptions options)
    {
        if (options.Bin > 0) return (options.Bin, null);
        int sizeBin = CoarseAligner.AutoBin(stack.Nx, stack.Ny, AutoBinTargetPixels);
        int maxBin = Math.Max(sizeBin, Math.Min(stack.Nx, stack.Ny) / 128);
        var near = Enumerable.Range(0, stack.Nz).OrderBy(v => Math.Abs(tilts[v])).Take(5).ToArray();
        var spectral = SpectralSnrEstimate.Measure(stack, near, 16);
        // Patch tracking wants fine sampling where there is signal: bin more only where the binned Nyquist frequency would stay
        // above 4× the cutoff (at 256², thin slab, seeds 23 / 21 / 1: bin 1 0.35 / 0.23 / 0.26 px, bin 2 (2×) 0.79 / 0.30 / – px).
        int fromData = spectral.CutoffCyclesPerPixel > 0 ? Math.Max(1, (int)Math.Floor(0.125 / spectral.CutoffCyclesPerPixel)) : maxBin;
        return (Math.Clamp(fromData, sizeBin, maxBin), spectral);
    }

    /// <summary>The patch edges (binned pixels) to try, smallest first: the given one, or <see cref="AutoPatchSize"/> and
    /// larger ones (×1.5 each) up to half the smaller binned side.</summary>
    internal static List<int> PatchCandidates(int width, int height, int bin, PatchTrackOptions options)
    {
        int nx = width / bin, ny = height / bin, largest = Math.Min(nx, ny) / 2;
        largest -= largest % 2;
        if (options.PatchSize > 0)
        {
            int given = Math.Max(16, options.PatchSize / bin);
            return [given + given % 2];
        }
        var list = new List<int>();
        int p = AutoPatchSize(nx, ny, bin);
        p += p % 2;
        while (p < largest) { list.Add(p); p = (int)Math.Round(p * 1.5); p += p % 2; }
        list.Add(Math.Max(16, largest));
        return list.Distinct().Where(x => x <= Math.Max(16, largest)).ToList();
    }

    /// <summary>Peak SNR per grid patch: the patch correlated with the same place in the neighbouring view (cosine-stretched)
    /// against a null correlation (the moving patch turned by 180°), at the reference view's neighbours and at both ends of
    /// the tilt range (where the signal is weakest); the median over those pairs. Also the median null strength.</summary>
    private sealed record ProbeResult(IReadOnlyList<(double X, double Y)> Starts, double[] Snr, double MedianSnr, double NullStrength);

    private ProbeResult Probe(float[] data, int nx, int ny, IReadOnlyList<double> tilts, PatchTrackOptions options, int p, int bin)
    {
        int nz = tilts.Count;
        var starts = GridCentres(nx, ny, p, options.Overlap);
        int reference = Enumerable.Range(0, nz).MinBy(i => Math.Abs(tilts[i]));
        var order = Enumerable.Range(0, nz).OrderBy(v => tilts[v]).ToArray();
        var probePairs = new List<(int A, int B)>();
        void AddPair(int a, int b) { if (a != b && a >= 0 && b >= 0 && !probePairs.Contains((a, b))) probePairs.Add((a, b)); }
        if (nz >= 2)
        {
            int r = Array.IndexOf(order, reference);
            if (r + 1 < nz) AddPair(order[r], order[r + 1]);
            if (r - 1 >= 0) AddPair(order[r], order[r - 1]);
            AddPair(order[1], order[0]);
            AddPair(order[nz - 2], order[nz - 1]);
        }
        var snr = new double[starts.Count];
        if (starts.Count == 0 || probePairs.Count == 0) return new ProbeResult(starts, snr, 0, double.NaN);
        double alpha = options.TiltAxisDegrees * Math.PI / 180, ux = Math.Cos(alpha), uy = Math.Sin(alpha);
        int pad = FftSize.NextGoodEven((int)Math.Ceiling(p * 1.2));
        var settings = new CorrelationSettings(pad, pad, Math.Max(2, p / 8), options.FilterFor(bin), 0, false, Math.Max(2, p / 4));
        int pp = p * p;
        var images = new float[2L * starts.Count * probePairs.Count * pp];
        var pairs = new List<CorrelationPair>();
        var nulls = new List<CorrelationPair>();
        int slot = 0;
        foreach (var (a, b) in probePairs)
        {
            double ca = Math.Cos(tilts[a] * Math.PI / 180), cb = Math.Cos(tilts[b] * Math.PI / 180);
            double s = cb > 1e-6 ? ca / cb : 1;
            var stretch = new Xf(1 + (s - 1) * ux * ux, (s - 1) * ux * uy, (s - 1) * ux * uy, 1 + (s - 1) * uy * uy, 0, 0);
            var turned = new Xf(-stretch.A11, -stretch.A12, -stretch.A21, -stretch.A22, 0, 0);
            foreach (var st in starts)
            {
                int ix = (int)Math.Round(st.X), iy = (int)Math.Round(st.Y);
                Extract(data, nx, ny, a, ix, iy, p, images.AsSpan((int)(2L * slot * pp), pp));
                Extract(data, nx, ny, b, ix, iy, p, images.AsSpan((int)((2L * slot + 1) * pp), pp));
                pairs.Add(new CorrelationPair(2 * slot, 2 * slot + 1, stretch));
                nulls.Add(new CorrelationPair(2 * slot, 2 * slot + 1, turned));
                slot++;
            }
        }
        var stats = ViewStatisticsCalculator.Compute(images, p, p, 2 * slot);
        var peaks = _correlator.Correlate(images, p, p, 2 * slot, stats, pairs.ToArray(), settings);
        var nullPeaks = _correlator.Correlate(images, p, p, 2 * slot, stats, nulls.ToArray(), settings);
        var ratios = new double[peaks.Length];
        for (int i = 0; i < peaks.Length; i++)
        {
            double n0 = nullPeaks[i].Strength, s0 = peaks[i].Strength;
            ratios[i] = double.IsFinite(s0) && double.IsFinite(n0) && n0 > 0 ? Math.Max(0, s0) / n0 : 0;
        }
        for (int k = 0; k < starts.Count; k++)
            snr[k] = Median(Enumerable.Range(0, probePairs.Count).Select(j => ratios[j * starts.Count + k]));
        double nullStrength = Median(nullPeaks.Select(pk => pk.Strength).Where(double.IsFinite));
        return new ProbeResult(starts, snr, Median(snr), nullStrength);
    }

    private PatchTrackResult TrackWith(float[] data, int nx, int ny, IReadOnlyList<double> tiltDegrees, PatchTrackOptions options, int bin, int p,
        ProbeResult probe, List<string> warnings, IProgress<double>? progress)
    {
        int nz = tiltDegrees.Count;
        var starts = probe.Starts;
        int reference = Enumerable.Range(0, nz).MinBy(i => Math.Abs(tiltDegrees[i]));
        double alpha = options.TiltAxisDegrees * Math.PI / 180, ux = Math.Cos(alpha), uy = Math.Sin(alpha);
        double cx = nx / 2.0, cy = ny / 2.0;

        // Featureless patches (low SD against the median) are skipped.
        var sds = starts.Select(s => PatchSd(data, nx, ny, reference, s.X, s.Y, p)).ToArray();
        double medianSd = sds.OrderBy(v => v).ElementAt(sds.Length / 2);
        var active = new List<int>();
        int weak = 0;
        for (int k = 0; k < starts.Count; k++)
        {
            if (!(sds[k] >= options.MinimumContrast * medianSd && sds[k] > 0)) continue;
            // A patch whose peaks do not stand clearly above its null correlation's is not tracked (unless none does).
            if (probe.Snr[k] < options.MinimumPeakSnr && probe.MedianSnr >= options.MinimumPeakSnr) { weak++; continue; }
            active.Add(k);
        }
        int featureless = starts.Count - active.Count - weak;
        _logger.LogInformation("patch tracking: {Patches} patches of {Size}×{Size} px (bin {Bin}), {Skipped} featureless skipped, reference view {Ref}",
            starts.Count, p * bin, p * bin, bin, featureless, reference);

        var positions = new (double X, double Y)?[starts.Count, nz];
        foreach (int k in active) positions[k, reference] = starts[k];
        int pad = FftSize.NextGoodEven((int)Math.Ceiling(p * 1.2));
        var settings = new CorrelationSettings(pad, pad, Math.Max(2, p / 8), options.FilterFor(bin), 0, false, Math.Max(2, p / 4));
        var strengths = new List<double>();
        int stepsDone = 0;
        foreach (int direction in new[] { +1, -1 })
        {
            var alive = new List<int>(active);
            for (int v = reference + direction; v >= 0 && v < nz && alive.Count > 0; v += direction)
            {
                int prev = v - direction;
                double cPrev = Math.Cos(tiltDegrees[prev] * Math.PI / 180), cNew = Math.Cos(tiltDegrees[v] * Math.PI / 180);
                // The moving patch is the one with the larger tilt; it is stretched onto the other.
                bool newIsMoving = Math.Abs(tiltDegrees[v]) >= Math.Abs(tiltDegrees[prev]);
                double s = newIsMoving ? (cNew > 1e-6 ? cPrev / cNew : 1) : (cPrev > 1e-6 ? cNew / cPrev : 1);
                var stretch = new Xf(1 + (s - 1) * ux * ux, (s - 1) * ux * uy, (s - 1) * ux * uy, 1 + (s - 1) * uy * uy, 0, 0);
                double g = cNew / Math.Max(cPrev, 1e-6);   // predicted perpendicular scaling from prev to v (z ignored)

                var batch = new float[2L * alive.Count * p * p];
                var centres = new (int Px, int Py, int Vx, int Vy, double Fx, double Fy)[alive.Count];
                var keep = new List<int>();
                for (int a = 0; a < alive.Count; a++)
                {
                    var q = positions[alive[a], prev]!.Value;
                    double rx = q.X - cx, ry = q.Y - cy, perp = rx * ux + ry * uy;
                    double px = q.X + (g - 1) * perp * ux, py = q.Y + (g - 1) * perp * uy;
                    int ix = (int)Math.Round(q.X), iy = (int)Math.Round(q.Y), jx = (int)Math.Round(px), jy = (int)Math.Round(py);
                    if (!Inside(ix, iy, p, nx, ny) || !Inside(jx, jy, p, nx, ny)) { centres[a] = (-1, -1, -1, -1, 0, 0); continue; }
                    centres[a] = (ix, iy, jx, jy, q.X - ix, q.Y - iy);
                    Extract(data, nx, ny, prev, ix, iy, p, batch.AsSpan((int)(2L * a * p * p), p * p));
                    Extract(data, nx, ny, v, jx, jy, p, batch.AsSpan((int)((2L * a + 1) * p * p), p * p));
                }
                var pairs = new List<CorrelationPair>();
                var pairTrack = new List<int>();
                for (int a = 0; a < alive.Count; a++)
                {
                    if (centres[a].Px < 0) continue;
                    pairs.Add(newIsMoving ? new CorrelationPair(2 * a, 2 * a + 1, stretch) : new CorrelationPair(2 * a + 1, 2 * a, stretch));
                    pairTrack.Add(a);
                }
                if (pairs.Count == 0) break;
                var stats = ViewStatisticsCalculator.Compute(batch, p, p, 2 * alive.Count);
                var peaks = _correlator.Correlate(batch, p, p, 2 * alive.Count, stats, pairs.ToArray(), settings);
                var stepStrengths = peaks.Select(pk => pk.Strength).Where(double.IsFinite).OrderBy(x => x).ToArray();
                double median = stepStrengths.Length > 0 ? stepStrengths[stepStrengths.Length / 2] : 0;
                strengths.AddRange(stepStrengths);
                var inverse = stretch.Inverse();
                var okX = peaks.Where(pk => double.IsFinite(pk.Dx)).Select(pk => pk.Dx).OrderBy(x => x).ToArray();
                var okY = peaks.Where(pk => double.IsFinite(pk.Dy)).Select(pk => pk.Dy).OrderBy(x => x).ToArray();
                double mdx = okX.Length > 0 ? okX[okX.Length / 2] : 0, mdy = okY.Length > 0 ? okY[okY.Length / 2] : 0;
                for (int i = 0; i < pairs.Count; i++)
                {
                    int a = pairTrack[i];
                    var pk = peaks[i];
                    if (!double.IsFinite(pk.Dx) || !(pk.Strength >= options.MinimumStrengthFraction * median) || pk.Strength <= 0) continue;
                    // A peak no higher than a typical null correlation's is noise.
                    if (double.IsFinite(probe.NullStrength) && pk.Strength <= probe.NullStrength) continue;
                    if (Math.Abs(pk.Dx - mdx) > options.MaxDeviationPixels || Math.Abs(pk.Dy - mdy) > options.MaxDeviationPixels) continue;
                    var c = centres[a];
                    // Patch-local coordinates about the patch centres: q_ref = S·q_mov + t.
                    double nxNew, nyNew;
                    if (newIsMoving)
                    {
                        // q_mov = S⁻¹·(q_ref − t), q_ref = the fractional offset of the tracked point in prev.
                        double qx = c.Fx - pk.Dx, qy = c.Fy - pk.Dy;
                        nxNew = c.Vx + inverse.A11 * qx + inverse.A12 * qy;
                        nyNew = c.Vy + inverse.A21 * qx + inverse.A22 * qy;
                    }
                    else
                    {
                        // prev is moving: q_new(ref) = S·q_prev + t.
                        nxNew = c.Vx + stretch.A11 * c.Fx + stretch.A12 * c.Fy + pk.Dx;
                        nyNew = c.Vy + stretch.A21 * c.Fx + stretch.A22 * c.Fy + pk.Dy;
                    }
                    if (!Inside((int)Math.Round(nxNew), (int)Math.Round(nyNew), p, nx, ny)) continue;
                    positions[alive[a], v] = (nxNew, nyNew);
                    keep.Add(alive[a]);
                }
                alive = keep;
                progress?.Report(Math.Min(1.0, ++stepsDone / (double)(nz - 1)));
            }
        }

        double linkResidual = double.NaN;
        for (int round = 0; round < options.RefineRounds; round++)
            linkResidual = RefineTracks(data, nx, ny, p, tiltDegrees, ux, uy, positions, active, settings, options);
        // Whole tracks where they move as one 3-D point would under the nominal geometry; a track that does not (its residual
        // from the best rigid point more than twice the median track's: it slid between features, e.g. gold beads on the two
        // surfaces) is cut into pieces of AutoPieceLength views, each its own point. A given PieceLength cuts every track.
        var rigid = active.ToDictionary(k => k, k => RigidResidual(positions, k, tiltDegrees, ux, uy, cx, cy));
        double typicalRigid = Median(rigid.Values.Where(double.IsFinite));
        int cut = 0;
        var pieces = new List<(int Track, int[] Views)>();
        foreach (int k in active)
        {
            var views = Enumerable.Range(0, nz).Where(v => positions[k, v] is not null).ToArray();
            if (views.Length < options.MinimumTrackLength) continue;
            int length = options.PieceLength;
            if (length == 0 && !(rigid[k] <= 2 * typicalRigid)) { length = AutoPieceLength; cut++; }
            foreach (var piece in Pieces(views, length, Math.Min(options.PieceOverlap, Math.Max(0, length - 1))))
                if (piece.Length >= options.MinimumTrackLength) pieces.Add((k, piece));
        }
        _logger.LogInformation("patch tracking: {Cut} of {Tracks} tracks cut into pieces (residual from a rigid point over 2× the median track's, {Typical:F2} px)",
            cut, active.Count, typicalRigid * bin);
        var refined = pieces.Select(pc => pc.Views.Select(v => positions[pc.Track, v]).ToArray()).ToArray();

        var observations = new List<LandmarkObservation>();
        int landmark = 0;
        for (int i = 0; i < pieces.Count; i++)
        {
            var kept = pieces[i].Views.Select((v, j) => (View: v, Pos: refined[i][j])).Where(t => t.Pos is not null).ToArray();
            if (kept.Length < options.MinimumTrackLength) continue;
            foreach (var (v, pos) in kept)
            {
                var q = pos!.Value;
                // The centre of binned pixel i is unbinned i·bin + (bin − 1)/2.
                observations.Add(new LandmarkObservation(landmark, v, q.X * bin + (bin - 1) / 2.0, q.Y * bin + (bin - 1) / 2.0));
            }
            landmark++;
        }
        double medianStrength = strengths.Count > 0 ? strengths.OrderBy(x => x).ElementAt(strengths.Count / 2) : 0;
        // The links at lags 1 … Lags measure the same positions several ways; where they disagree by more than a pixel (the
        // accuracy a markerless alignment is after) the correlations do not follow one feature (too little signal, or a thick
        // specimen's parallax inside the patches). Zoo series at 512²: 0.40–0.65 px on the default texture, 2.9–4.5 px on the
        // weak texture in a 250 px slab, whose tracks are 4–7 px from the truth.
        if (linkResidual * bin > MaxConsistentLinkResidualPixels)
            warnings.Add($"patch tracks are inconsistent: correlations over 1 … {options.Lags} views disagree by {linkResidual * bin:F2} px RMS " +
                $"({linkResidual:F2} binned pixels); the markerless alignment may be worse than the coarse one");
        if (landmark == 0)
            warnings.Add("no patch could be tracked over enough views: the specimen may be featureless, or the prealignment or tilt axis wrong");
        _logger.LogInformation("patch tracking: {Landmarks} landmark pieces, {Observations} observations, median peak strength {Strength:F3}",
            landmark, observations.Count, medianStrength);
        return new PatchTrackResult(observations, landmark, starts.Count, featureless, p * bin, bin, reference, medianStrength, warnings.ToList())
        {
            WeakPatches = weak, MedianPeakSnr = probe.MedianSnr, LinkResidualPixels = linkResidual * bin,
        };
    }

    /// <summary>
    /// The binning, the patch edge (binned pixels) and the patch centres on the reference view (binned pixels) that
    /// <see cref="Track"/> uses for a <paramref name="width"/>×<paramref name="height"/> stack: centres at least half a patch
    /// plus a margin from the edges, spaced by the patch edge less the overlap. Also what device-memory plans count.
    /// </summary>
    public static (int Bin, int PatchSize, IReadOnlyList<(double X, double Y)> Centres) Grid(int width, int height, PatchTrackOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        int bin = options.Bin > 0 ? options.Bin : CoarseAligner.AutoBin(width, height, AutoBinTargetPixels);
        int nx = width / bin, ny = height / bin;
        int p = options.PatchSize > 0 ? Math.Max(16, options.PatchSize / bin) : AutoPatchSize(nx, ny, bin);
        p += p % 2;
        if (p > Math.Min(nx, ny) / 2)
            throw new ArgumentException($"patches of {p * bin} pixels do not fit a {width}×{height} stack at binning {bin}; use a smaller patch size");
        return (bin, p, GridCentres(nx, ny, p, options.Overlap));
    }

    /// <summary>Patch centres (binned pixels) for patches of <paramref name="p"/> on <paramref name="nx"/>×<paramref name="ny"/> views.</summary>
    private static List<(double X, double Y)> GridCentres(int nx, int ny, int p, double overlap)
    {
        int stepPx = Math.Max(4, (int)Math.Round(p * (1 - overlap)));
        int margin = p / 2 + 2;
        var starts = new List<(double X, double Y)>();
        for (int y = margin; y <= ny - margin; y += stepPx)
            for (int x = margin; x <= nx - margin; x += stepPx)
                starts.Add((x, y));
        return starts;
    }

    /// <summary>
    /// Re-measures every track's positions (binned pixels) from correlations at several lags: each view's patch with the
    /// patches 1 … <see cref="PatchTrackOptions.Lags"/> views further on the same track (the more tilted one cosine-stretched
    /// onto the other, as in the tracking), and the corrections e solved per track by least squares over all the links
    /// (e_a − S·e_b = measured shift, a tiny ridge fixing the offset that only moves the track's 3-D point). Chained
    /// view-to-view tracking adds its errors up from view to view, a random walk that the solve takes for rotations and
    /// magnifications; links spanning k views cut a cut's share of the walk's variance by about Σk² (14× for 3 lags).
    /// Links whose peak is weak or whose residual is far out are dropped and the track solved again; a view left without
    /// a link is dropped (null).
    /// </summary>
    private double RefineTracks(float[] data, int nx, int ny, int p, IReadOnlyList<double> tilts, double ux, double uy,
        (double X, double Y)?[,] positions, IReadOnlyList<int> tracks, CorrelationSettings settings, PatchTrackOptions options)
    {
        int nz = tilts.Count, pp = p * p;
        var links = new List<(int Track, int A, int B, Xf S, double Dx, double Dy, double Strength)>();
        for (int lag = 1; lag <= options.Lags; lag++)
        {
            var todo = new List<(int Track, int A, int B)>();
            foreach (int k in tracks)
                for (int v = 0; v + lag < nz; v++)
                    if (positions[k, v] is not null && positions[k, v + lag] is not null)
                    {
                        // The reference is the less tilted view.
                        bool firstIsRef = Math.Abs(tilts[v]) <= Math.Abs(tilts[v + lag]);
                        todo.Add(firstIsRef ? (k, v, v + lag) : (k, v + lag, v));
                    }
            for (int start = 0; start < todo.Count; start += 1024)
            {
                int count = Math.Min(1024, todo.Count - start);
                var images = new float[2L * count * pp];
                var pairs = new CorrelationPair[count];
                var stretches = new Xf[count];
                for (int i = 0; i < count; i++)
                {
                    var (k, a, b) = todo[start + i];
                    var qa = positions[k, a]!.Value; var qb = positions[k, b]!.Value;
                    Extract(data, nx, ny, a, (int)Math.Round(qa.X), (int)Math.Round(qa.Y), p, images.AsSpan((int)(2L * i * pp), pp));
                    Extract(data, nx, ny, b, (int)Math.Round(qb.X), (int)Math.Round(qb.Y), p, images.AsSpan((int)((2L * i + 1) * pp), pp));
                    double ca = Math.Cos(tilts[a] * Math.PI / 180), cb = Math.Cos(tilts[b] * Math.PI / 180);
                    double s = cb > 1e-6 ? ca / cb : 1;
                    stretches[i] = new Xf(1 + (s - 1) * ux * ux, (s - 1) * ux * uy, (s - 1) * ux * uy, 1 + (s - 1) * uy * uy, 0, 0);
                    pairs[i] = new CorrelationPair(2 * i, 2 * i + 1, stretches[i]);
                }
                var stats = ViewStatisticsCalculator.Compute(images, p, p, 2 * count);
                var peaks = _correlator.Correlate(images, p, p, 2 * count, stats, pairs, settings);
                var strengths = peaks.Where(pk => double.IsFinite(pk.Dx) && double.IsFinite(pk.Dy)).Select(pk => pk.Strength).ToArray();
                double median = Median(strengths);
                for (int i = 0; i < count; i++)
                {
                    var pk = peaks[i];
                    if (!double.IsFinite(pk.Dx) || !double.IsFinite(pk.Dy) || !(pk.Strength >= options.MinimumStrengthFraction * median) || pk.Strength <= 0) continue;
                    var (k, a, b) = todo[start + i];
                    links.Add((k, a, b, stretches[i], pk.Dx, pk.Dy, pk.Strength));
                }
            }
        }

        double sumSq = 0;
        long linkCount = 0;
        var trackResidual = new Dictionary<int, double>();
        foreach (var group in links.GroupBy(l => l.Track))
        {
            int k = group.Key;
            var views = Enumerable.Range(0, nz).Where(v => positions[k, v] is not null).ToArray();
            var index = new Dictionary<int, int>();
            for (int j = 0; j < views.Length; j++) index[views[j]] = j;
            // Right-hand sides: (f_a + e_a) − S·(f_b + e_b) = d, f the offset of the position from the extracted patch's centre.
            var rows = group.Select(l =>
            {
                var qa = positions[k, l.A]!.Value; var qb = positions[k, l.B]!.Value;
                double fax = qa.X - Math.Round(qa.X), fay = qa.Y - Math.Round(qa.Y), fbx = qb.X - Math.Round(qb.X), fby = qb.Y - Math.Round(qb.Y);
                double rx = l.Dx - fax + l.S.A11 * fbx + l.S.A12 * fby, ry = l.Dy - fay + l.S.A21 * fbx + l.S.A22 * fby;
                return (A: index[l.A], B: index[l.B], l.S, Rx: rx, Ry: ry);
            }).ToList();
            double[]? e = null;
            for (int pass = 0; pass < 2; pass++)
            {
                e = SolveLinks(views.Length, rows);
                var res = rows.Select(r => Math.Sqrt(Sq(e[2 * r.A] - r.S.A11 * e[2 * r.B] - r.S.A12 * e[2 * r.B + 1] - r.Rx)
                    + Sq(e[2 * r.A + 1] - r.S.A21 * e[2 * r.B] - r.S.A22 * e[2 * r.B + 1] - r.Ry))).ToArray();
                double limit = Math.Max(options.MaxDeviationPixels / 3, 3 * 1.4826 * Median(res));
                var keep = rows.Where((_, i) => res[i] <= limit).ToList();
                if (keep.Count == rows.Count) break;
                rows = keep;
            }
            e = SolveLinks(views.Length, rows);
            double own = 0;
            foreach (var r in rows)
                own += Sq(e[2 * r.A] - r.S.A11 * e[2 * r.B] - r.S.A12 * e[2 * r.B + 1] - r.Rx)
                    + Sq(e[2 * r.A + 1] - r.S.A21 * e[2 * r.B] - r.S.A22 * e[2 * r.B + 1] - r.Ry);
            sumSq += own;
            linkCount += rows.Count;
            trackResidual[k] = rows.Count > 0 ? Math.Sqrt(own / rows.Count) : double.PositiveInfinity;
            var linked = new bool[views.Length];
            foreach (var r in rows) { linked[r.A] = true; linked[r.B] = true; }
            for (int j = 0; j < views.Length; j++)
            {
                int v = views[j];
                var q = positions[k, v]!.Value;
                var moved = (q.X + e[2 * j], q.Y + e[2 * j + 1]);
                positions[k, v] = linked[j] && Inside((int)Math.Round(moved.Item1), (int)Math.Round(moved.Item2), p, nx, ny) ? moved : null;
            }
        }
        // Tracks without any link keep nothing; nor do tracks whose links disagree far more than the others' (a track that
        // jumped between features, e.g. onto a gold bead, is wrong from there on: whole tracks are not cut into pieces).
        double typical = Median(trackResidual.Values.Where(double.IsFinite));
        foreach (int k in tracks)
            if (!trackResidual.TryGetValue(k, out double own) || !(own <= Math.Max(3 * typical, 0.25)))
                for (int v = 0; v < nz; v++) positions[k, v] = null;
        return linkCount > 0 ? Math.Sqrt(sumSq / linkCount) : double.NaN;
    }

    private static double Sq(double x) => x * x;

    /// <summary>Pieces of this many views for tracks that do not move as one rigid point (<see cref="PatchTrackOptions.PieceLength"/> 0).</summary>
    public const int AutoPieceLength = 16;

    /// <summary>
    /// RMS residual (binned pixels) of track <paramref name="k"/> from the best single 3-D point seen through the nominal
    /// geometry of the prealigned stack: across the axis X·cos θ + Z·sin θ about the centre, along it a constant.
    /// </summary>
    private static double RigidResidual((double X, double Y)?[,] positions, int k, IReadOnlyList<double> tilts, double ux, double uy, double cx, double cy)
    {
        double scc = 0, sss = 0, scs = 0, suc = 0, sus = 0, sw = 0, sww = 0, suu = 0;
        int n = 0;
        for (int v = 0; v < tilts.Count; v++)
        {
            if (positions[k, v] is not { } q) continue;
            double t = tilts[v] * Math.PI / 180, c = Math.Cos(t), s = Math.Sin(t);
            double u = (q.X - cx) * ux + (q.Y - cy) * uy, w = -(q.X - cx) * uy + (q.Y - cy) * ux;
            scc += c * c; sss += s * s; scs += c * s; suc += u * c; sus += u * s; suu += u * u; sw += w; sww += w * w; n++;
        }
        if (n < 3) return double.PositiveInfinity;
        double det = scc * sss - scs * scs;
        if (!(Math.Abs(det) > 1e-12)) return double.PositiveInfinity;
        double x = (suc * sss - sus * scs) / det, z = (sus * scc - suc * scs) / det;
        // Σ(u − xc − zs)² = Σu² − 2x·Σuc − 2z·Σus + x²Σcc + 2xzΣcs + z²Σss; along: Σ(w − mean)².
        double across = suu - 2 * x * suc - 2 * z * sus + x * x * scc + 2 * x * z * scs + z * z * sss;
        double along = sww - sw * sw / n;
        return Math.Sqrt(Math.Max(0, across + along) / n);
    }

    /// <summary>Least squares for the corrections e (x, y per view) from links e_a − S·e_b = r, with a tiny ridge for the offset.</summary>
    private static double[] SolveLinks(int n, List<(int A, int B, Xf S, double Rx, double Ry)> rows)
    {
        int m = 2 * n;
        var h = new double[m, m];
        var g = new double[m];
        for (int i = 0; i < m; i++) h[i, i] = 1e-4;
        foreach (var r in rows)
        {
            // Row x: e_a.x − S11·e_b.x − S12·e_b.y = Rx; row y: e_a.y − S21·e_b.x − S22·e_b.y = Ry.
            Span<int> idx = [2 * r.A, 2 * r.A + 1, 2 * r.B, 2 * r.B + 1];
            Span<double> jx = [1, 0, -r.S.A11, -r.S.A12];
            Span<double> jy = [0, 1, -r.S.A21, -r.S.A22];
            for (int u = 0; u < 4; u++)
            {
                g[idx[u]] += jx[u] * r.Rx + jy[u] * r.Ry;
                for (int w = 0; w < 4; w++) h[idx[u], idx[w]] += jx[u] * jx[w] + jy[u] * jy[w];
            }
        }
        // Cholesky (h is symmetric positive definite with the ridge).
        for (int j = 0; j < m; j++)
        {
            double d = h[j, j];
            for (int t = 0; t < j; t++) d -= h[j, t] * h[j, t];
            d = Math.Sqrt(Math.Max(d, 1e-12));
            h[j, j] = d;
            for (int i = j + 1; i < m; i++)
            {
                double v = h[i, j];
                for (int t = 0; t < j; t++) v -= h[i, t] * h[j, t];
                h[i, j] = v / d;
            }
        }
        var y = new double[m];
        for (int i = 0; i < m; i++)
        {
            double v = g[i];
            for (int t = 0; t < i; t++) v -= h[i, t] * y[t];
            y[i] = v / h[i, i];
        }
        var x = new double[m];
        for (int i = m - 1; i >= 0; i--)
        {
            double v = y[i];
            for (int t = i + 1; t < m; t++) v -= h[t, i] * x[t];
            x[i] = v / h[i, i];
        }
        return x;
    }

    private static double Median(IEnumerable<double> values)
    {
        var a = values.OrderBy(v => v).ToArray();
        return a.Length == 0 ? 0 : a.Length % 2 == 1 ? a[a.Length / 2] : 0.5 * (a[a.Length / 2 - 1] + a[a.Length / 2]);
    }

    /// <summary>Consecutive runs of the (sorted) views, cut into pieces of <paramref name="length"/> overlapping by <paramref name="overlap"/>.</summary>
    internal static IEnumerable<int[]> Pieces(int[] views, int length, int overlap)
    {
        // Split at gaps first: a track is contiguous by construction, but keep this honest.
        var runs = new List<List<int>> { new() };
        foreach (int v in views)
        {
            if (runs[^1].Count > 0 && v != runs[^1][^1] + 1) runs.Add(new List<int>());
            runs[^1].Add(v);
        }
        foreach (var run in runs)
        {
            if (length <= 0 || run.Count <= length) { yield return run.ToArray(); continue; }
            int step = length - overlap;
            for (int start = 0; ; start += step)
            {
                int end = Math.Min(run.Count, start + length);
                int first = Math.Max(0, end - length);   // the last piece ends at the run's end, full length
                yield return run.GetRange(first, end - first).ToArray();
                if (end == run.Count) break;
            }
        }
    }

    private static bool Inside(int x, int y, int p, int nx, int ny) =>
        x - p / 2 >= 0 && y - p / 2 >= 0 && x + p / 2 <= nx && y + p / 2 <= ny;

    private static void Extract(float[] data, int nx, int ny, int view, int x, int y, int p, Span<float> dst)
    {
        long off = (long)view * nx * ny;
        int x0 = x - p / 2, y0 = y - p / 2;
        for (int r = 0; r < p; r++)
            data.AsSpan((int)(off + (long)(y0 + r) * nx + x0), p).CopyTo(dst.Slice(r * p, p));
    }

    private static double PatchSd(float[] data, int nx, int ny, int view, double x, double y, int p)
    {
        int ix = (int)Math.Round(x), iy = (int)Math.Round(y);
        if (!Inside(ix, iy, p, nx, ny)) return 0;
        var buf = new float[p * p];
        Extract(data, nx, ny, view, ix, iy, p, buf);
        double sum = 0, sum2 = 0;
        foreach (float f in buf) { sum += f; sum2 += (double)f * f; }
        double mean = sum / buf.Length;
        return Math.Sqrt(Math.Max(0, sum2 / buf.Length - mean * mean));
    }
}
