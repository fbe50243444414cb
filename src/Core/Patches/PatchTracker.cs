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
    /// <summary>Patch edge in unbinned pixels; 0 = automatic (<see cref="PatchTracker.AutoPatchSize"/>: a third of the smaller binned
    /// image edge, at least 48 binned pixels, but at most 256 unbinned pixels where that leaves at least 32 binned).</summary>
    public int PatchSize { get; init; }
    /// <summary>Fraction by which neighbouring patches overlap (0 … 0.9).</summary>
    public double Overlap { get; init; } = 0.75;
    /// <summary>Binning before correlation; 0 = automatic (binned images of about <see cref="PatchTracker.AutoBinTargetPixels"/> pixels).</summary>
    public int Bin { get; init; }
    /// <summary>Tracks are cut into pieces of this many views (0 = whole tracks); pieces overlap by <see cref="PieceOverlap"/>.</summary>
    public int PieceLength { get; init; } = 16;
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
    int PatchSize, int Bin, int ReferenceView, double MedianStrength, IReadOnlyList<string> Warnings);

/// <summary>
/// Markerless landmarks: a grid of overlapping patches on the view nearest zero tilt, each
/// followed outward view by view by correlating it with the next view's patch at the predicted
/// place, the view with the larger tilt stretched by cos θ_near / cos θ_far perpendicular to the
/// tilt axis (as tiltxcorr's patch tracking). All patches of one step are correlated in one batch
/// through <see cref="IPairCorrelator"/> (managed or GPU). A track ends when it leaves the image or
/// its correlation is weak; tracks are cut into overlapping pieces so that accumulated drift and
/// changing 3-D content stay small within one landmark. The input is a prealigned stack (the tilt
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
        var warnings = new List<string>();

        var (bin, p, starts) = Grid(stack.Nx, stack.Ny, options);
        var (binned, nx, ny) = CoarseAligner.BinStack(stack, bin);
        // Gold beads and hot pixels clipped (as the coarse stage does): a bead outweighs the specimen in a
        // patch, and beads on the two surfaces move differently, so the peak would jump between them.
        var data = options.ClipStdDevs > 0 ? CoarseAligner.DampHighContrast(binned, nx, ny, nz, 1.0, options.ClipStdDevs, new bool[nz]) : binned;
        int reference = Enumerable.Range(0, nz).MinBy(i => Math.Abs(tiltDegrees[i]));
        double alpha = options.TiltAxisDegrees * Math.PI / 180, ux = Math.Cos(alpha), uy = Math.Sin(alpha);
        double cx = nx / 2.0, cy = ny / 2.0;

        // Featureless patches (low SD against the median) are skipped.
        var sds = starts.Select(s => PatchSd(data, nx, ny, reference, s.X, s.Y, p)).ToArray();
        double medianSd = sds.OrderBy(v => v).ElementAt(sds.Length / 2);
        var active = new List<int>();
        for (int k = 0; k < starts.Count; k++)
            if (sds[k] >= options.MinimumContrast * medianSd && sds[k] > 0) active.Add(k);
        int featureless = starts.Count - active.Count;
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

        // Tracks → pieces → landmark observations in unbinned pixels.
        var observations = new List<LandmarkObservation>();
        int landmark = 0;
        foreach (int k in active)
        {
            var views = Enumerable.Range(0, nz).Where(v => positions[k, v] is not null).ToArray();
            if (views.Length < options.MinimumTrackLength) continue;
            foreach (var piece in Pieces(views, options.PieceLength, options.PieceOverlap))
            {
                if (piece.Length < options.MinimumTrackLength) continue;
                foreach (int v in piece)
                {
                    var q = positions[k, v]!.Value;
                    // The centre of binned pixel i is unbinned i·bin + (bin − 1)/2.
                    observations.Add(new LandmarkObservation(landmark, v, q.X * bin + (bin - 1) / 2.0, q.Y * bin + (bin - 1) / 2.0));
                }
                landmark++;
            }
        }
        double medianStrength = strengths.Count > 0 ? strengths.OrderBy(x => x).ElementAt(strengths.Count / 2) : 0;
        if (landmark == 0)
            warnings.Add("no patch could be tracked over enough views: the specimen may be featureless, or the prealignment or tilt axis wrong");
        _logger.LogInformation("patch tracking: {Landmarks} landmark pieces, {Observations} observations, median peak strength {Strength:F3}",
            landmark, observations.Count, medianStrength);
        return new PatchTrackResult(observations, landmark, starts.Count, featureless, p * bin, bin, reference, medianStrength, warnings);
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
        int stepPx = Math.Max(4, (int)Math.Round(p * (1 - options.Overlap)));
        int margin = p / 2 + 2;
        var starts = new List<(double X, double Y)>();
        for (int y = margin; y <= ny - margin; y += stepPx)
            for (int x = margin; x <= nx - margin; x += stepPx)
                starts.Add((x, y));
        return (bin, p, starts);
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
