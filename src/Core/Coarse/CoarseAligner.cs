using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Tomalign.Core.Backend;
using Tomalign.Core.Fft;
using Tomalign.Core.Formats;
using Tomalign.Core.Geometry;
using Tomalign.Core.Imaging;

namespace Tomalign.Core.Coarse;

/// <summary>Options of coarse alignment (IMOD tiltxcorr). Lengths in unbinned pixels.</summary>
public sealed record CoarseAlignOptions
{
    /// <summary>Tilt-axis angle α in the raw image, degrees counter-clockwise from +Y.</summary>
    public double TiltAxisDegrees { get; init; }
    /// <summary>Binning for the correlation; 0: automatic, the smallest that brings the larger side to ≤ <see cref="AutoBinTargetPixels"/>.</summary>
    public int Bin { get; init; }
    public int AutoBinTargetPixels { get; init; } = 1024;
    /// <summary>
    /// The band-pass on the cross-power spectrum. Default: a stronger low-pass than etomo's usual
    /// (0.03, 0.25, 0.05), chosen by measurement on simulated series (docs/COARSE.md).
    /// </summary>
    public BandPassFilter Filter { get; init; } = new(0.02, 0.06, 0.03);
    public bool ExcludeCentralPeak { get; init; }
    /// <summary>
    /// Damping of high-contrast points (gold beads, hot pixels) before correlating: each binned view
    /// is smoothed by a Gaussian of <see cref="DampSmoothingPixels"/> and clipped to median ± this
    /// many robust SDs (1.4826·MAD) of the smoothed view; 0: off (plain tiltxcorr).
    /// </summary>
    public double ClipStdDevs { get; init; } = 2.0;
    /// <summary>Gaussian sigma (binned pixels) of the smoothing before the clip; 0: clip the raw pixels.</summary>
    public double DampSmoothingPixels { get; init; } = 1.0;
    /// <summary>Each side is padded by this fraction of its length (then up to an FFT-friendly size).</summary>
    public double PadFraction { get; init; } = 0.05;
    /// <summary>Taper width as a fraction of the shorter side.</summary>
    public double TaperFraction { get; init; } = 0.1;
    /// <summary>Largest shift searched between neighbours, unbinned pixels; 0: no limit beyond the window overlap.</summary>
    public double MaxShiftPixels { get; init; }
    /// <summary>tiltxcorr -cumulative: after the batch, correlate each view with the mean of the views already aligned toward zero tilt (sequential).</summary>
    public bool CumulativeReference { get; init; }
    /// <summary>Also correlate each view with its second neighbour; the shifts then come from a robust least-squares fit over both.</summary>
    public bool SecondNeighbours { get; init; }
    /// <summary>A view whose mean is below this fraction of the median view mean is treated as blank.</summary>
    public double DarkViewFraction { get; init; } = 0.05;
    /// <summary>A view whose SD exceeds this multiple of the median SD (shot noise of a tiny dose) is treated as blank.</summary>
    public double NoisyViewFactor { get; init; } = 5.0;

    public void Validate()
    {
        if (!double.IsFinite(TiltAxisDegrees)) throw new ArgumentException("tilt-axis angle must be finite");
        if (Bin < 0) throw new ArgumentException($"binning must be ≥ 0 (0: automatic), got {Bin}");
        if (AutoBinTargetPixels < 16) throw new ArgumentException("automatic binning target must be ≥ 16 pixels");
        if (ClipStdDevs < 0 || !double.IsFinite(ClipStdDevs)) throw new ArgumentException("clip must be ≥ 0 SDs");
        if (PadFraction is < 0 or > 1) throw new ArgumentException("pad fraction must be within 0 … 1");
        if (TaperFraction is < 0 or > 0.5) throw new ArgumentException("taper fraction must be within 0 … 0.5");
        if (MaxShiftPixels < 0 || !double.IsFinite(MaxShiftPixels)) throw new ArgumentException("maximum shift must be ≥ 0");
        ArgumentNullException.ThrowIfNull(Filter);
    }
}

/// <summary>
/// One neighbour pair as correlated, unbinned pixels: (PeakDx, PeakDy) is the measured shift
/// that carries the stretched moving view onto the reference near the image centre; (Dx, Dy) the
/// resulting translation of <see cref="View"/> onto <see cref="Neighbour"/> at the tilt axis.
/// </summary>
public sealed record CoarsePairResult(int View, int Neighbour, int ReferenceView, int MovingView, double Stretch,
    double PeakDx, double PeakDy, double Dx, double Dy, double Strength, double FitWeight);

/// <summary>The coarse alignment: .prexf (line i aligns view i to view i−1), .prexg (to the reference view).</summary>
public sealed record CoarseAlignResult(Xf[] Prexf, Xf[] Prexg, int ReferenceView, int Bin, int PaddedWidth, int PaddedHeight,
    IReadOnlyList<CoarsePairResult> Pairs, IReadOnlyList<int> BlankViews, IReadOnlyList<string> Warnings);

/// <summary>
/// tiltxcorr: each view is cross-correlated with its neighbour (view i with i−1), the view with
/// the larger |tilt| stretched by cos θ_ref / cos θ perpendicular to the tilt axis, all pairs
/// in one batch through <see cref="IPairCorrelator"/>. Blank views (dark, or shot-noise
/// dominated) are bridged: their line is the identity and the next view is correlated with the
/// last good one. The .prexg composes the .prexf lines outward from the view nearest zero tilt.
/// </summary>
public sealed class CoarseAligner
{
    private readonly IPairCorrelator _correlator;
    private readonly ILogger _logger;

    public CoarseAligner(IPairCorrelator correlator, ILogger? logger = null)
    {
        _correlator = correlator ?? throw new ArgumentNullException(nameof(correlator));
        _logger = logger ?? NullLogger.Instance;
    }

    public CoarseAlignResult Align(ImageStack stack, IReadOnlyList<double> tiltDegrees, CoarseAlignOptions options)
    {
        ArgumentNullException.ThrowIfNull(stack);
        ArgumentNullException.ThrowIfNull(tiltDegrees);
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        int nz = stack.Nz;
        if (tiltDegrees.Count != nz) throw new ArgumentException($"{tiltDegrees.Count} tilt angles for {nz} views");
        var warnings = new List<string>();

        int bin = options.Bin > 0 ? options.Bin : AutoBin(stack.Nx, stack.Ny, options.AutoBinTargetPixels);
        var (binned, nx, ny) = BinStack(stack, bin);
        if (nx < 8 || ny < 8) throw new ArgumentException($"binning {bin} leaves {nx}×{ny} pixels, too few to correlate");
        var stats = ViewStatisticsCalculator.Compute(binned, nx, ny, nz);
        var blank = FindBlankViews(stats, options);
        foreach (int v in blank)
        {
            string w = $"view {v} (tilt {tiltDegrees[v]:F1}°) is nearly blank (mean {stats[v].Mean:G4}, SD {stats[v].StdDev:G4}); it gets an identity transform and is skipped";
            warnings.Add(w);
            _logger.LogWarning("{Warning}", w);
        }

        var settings = CorrelationSettingsFor(nx, ny, bin, options);
        int px = settings.PaddedWidth, py = settings.PaddedHeight;
        float[] correlated = binned;
        if (options.ClipStdDevs > 0)
        {
            correlated = DampHighContrast(binned, nx, ny, nz, options.DampSmoothingPixels, options.ClipStdDevs, isBlankView: FlagBlank(nz, blank));
            stats = ViewStatisticsCalculator.Compute(correlated, nx, ny, nz);
        }

        // Chain of good views: each good view is paired with the previous good one (and, with
        // SecondNeighbours, the one before that); all pairs go to the correlator in one batch.
        var isBlank = new bool[nz];
        foreach (int v in blank) isBlank[v] = true;
        var good = Enumerable.Range(0, nz).Where(v => !isBlank[v]).ToArray();
        var pairs = new List<CorrelationPair>();
        var pairViews = new List<(int View, int Neighbour, double Stretch)>();
        double alpha = options.TiltAxisDegrees * Math.PI / 180, ux = Math.Cos(alpha), uy = Math.Sin(alpha);
        int reach = options.SecondNeighbours ? 2 : 1;
        for (int step = 1; step <= reach; step++)
            for (int j = step; j < good.Length; j++)
            {
                int v = good[j], previous = good[j - step];
                pairs.Add(NeighbourPair(v, previous, tiltDegrees, options.TiltAxisDegrees, out double s));
                pairViews.Add((v, previous, s));
            }

        _logger.LogInformation("coarse: {Pairs} pairs of {Nx}×{Ny} (bin {Bin}, padded {Px}×{Py}) in one batch", pairs.Count, nx, ny, bin, px, py);
        var peaks = _correlator.Correlate(correlated, nx, ny, nz, stats, pairs.ToArray(), settings);

        // Each pair measures t: stretched moving + t = reference near the image centre, i.e.
        // p_ref = S·p_mov + t. With the tilt axis at D_v in view v (its raw offset, the shift
        // to find), p_ref − D_ref = S·(p_mov − D_mov), so t = D_ref − S·D_mov. The stretch is about
        // the axis, not the image centre: taking t itself as the shift would leave an error
        // (S − 1)·D_mov per pair that grows with tilt. D = 0 on the reference view (the axis is
        // taken through its centre, as IMOD does); the other D solve t = D_ref − S·D_mov over all
        // pairs by least squares, reweighted (Tukey) so a pair that locked onto the wrong peak
        // (beads on one surface, a noisy high-tilt view) loses its say.
        int referenceView = ReferenceView(tiltDegrees, isBlank);
        var t = new (double X, double Y)[pairs.Count];
        for (int p = 0; p < pairs.Count; p++) t[p] = (peaks[p].Dx * bin, peaks[p].Dy * bin);
        var (solved, weights) = SolveAxisOffsets(pairs, t, good, referenceView, nz);
        if (options.CumulativeReference)
        {
            var binnedAxis = solved.Select(a => (a.X / bin, a.Y / bin)).ToArray();
            RefineCumulative(correlated, nx, ny, good, referenceView, tiltDegrees, ux, uy, settings, binnedAxis);
            solved = binnedAxis.Select(a => (a.Item1 * bin, a.Item2 * bin)).ToArray();
        }
        var axis = new (double X, double Y)?[nz];
        foreach (int v in good) axis[v] = solved[v];
        axis[referenceView] = (0, 0);
        // Blank views take the axis of the neighbour on the reference side.
        for (int v = referenceView + 1; v < nz; v++) axis[v] ??= axis[v - 1];
        for (int v = referenceView - 1; v >= 0; v--) axis[v] ??= axis[v + 1];
        for (int v = 0; v < nz; v++) axis[v] ??= (0, 0);

        var prexf = new Xf[nz];
        prexf[0] = Xf.Identity;
        for (int v = 1; v < nz; v++)
            prexf[v] = new Xf(1, 0, 0, 1, -(axis[v]!.Value.X - axis[v - 1]!.Value.X), -(axis[v]!.Value.Y - axis[v - 1]!.Value.Y));
        var results = new List<CoarsePairResult>();
        for (int p = 0; p < pairs.Count; p++)
        {
            var (view, neighbour, st) = pairViews[p];
            results.Add(new CoarsePairResult(view, neighbour, pairs[p].Reference, pairs[p].Moving, st,
                t[p].X, t[p].Y, axis[neighbour]!.Value.X - axis[view]!.Value.X, axis[neighbour]!.Value.Y - axis[view]!.Value.Y,
                peaks[p].Strength, weights[p]));
        }

        var strengths = results.Select(r => r.Strength).OrderBy(x => x).ToArray();
        if (strengths.Length > 0)
        {
            double median = strengths[strengths.Length / 2];
            foreach (var r in results.Where(r => r.Strength < 0.2 * median || r.FitWeight < 0.05))
            {
                string w = $"view {r.View}: weak or inconsistent correlation with view {r.Neighbour} (peak strength {r.Strength:F3}, median {median:F3}; fit weight {r.FitWeight:F2}); check that transform";
                warnings.Add(w);
                _logger.LogWarning("{Warning}", w);
            }
        }

        var prexg = ImodText.XfToXg(prexf, referenceView);   // xftoxg -nfit 0 with the reference view
        return new CoarseAlignResult(prexf, prexg, referenceView, bin, px, py, results, blank, warnings);
    }

    /// <summary>
    /// tiltxcorr -cumulative (Renken): outward from the reference on each side, view v is
    /// correlated with the mean of the views already aligned on that side (and the reference),
    /// each resampled into the frame of v's neighbour r toward zero: p_u = M·(p_r − D_r) + D_u with
    /// M the perpendicular scaling cos θ_u / cos θ_r. Sequential (one pair per call), so slower
    /// than the batch; it averages the reference's noise down. Offsets in binned pixels.
    /// </summary>
    private void RefineCumulative(float[] views, int nx, int ny, int[] good, int referenceView, IReadOnlyList<double> tilts,
        double ux, double uy, CorrelationSettings settings, (double X, double Y)[] axis)
    {
        int frame = nx * ny;
        axis[referenceView] = (0, 0);
        var means = ViewStatisticsCalculator.Compute(views, nx, ny, views.Length / frame);
        foreach (int side in new[] { 1, -1 })
        {
            var chain = good.Where(v => side > 0 ? v > referenceView : v < referenceView).OrderBy(v => side * v).ToArray();
            var aligned = new List<int> { referenceView };
            int r = referenceView;
            foreach (int v in chain)
            {
                var two = new float[2 * frame];
                var sum = two.AsSpan(0, frame);
                double cr = Math.Cos(tilts[r] * Math.PI / 180);
                foreach (int u in aligned)
                {
                    double f = Math.Cos(tilts[u] * Math.PI / 180) / cr - 1;
                    double m11 = 1 + f * ux * ux, m12 = f * ux * uy, m22 = 1 + f * uy * uy;
                    var (drx, dry) = axis[r]; var (dux, duy) = axis[u];
                    float fill = (float)means[u].Mean;
                    long vo = (long)u * frame;
                    for (int y = 0; y < ny; y++)
                        for (int x = 0; x < nx; x++)
                        {
                            double qx = x - nx / 2.0 - drx, qy = y - ny / 2.0 - dry;
                            double sx = m11 * qx + m12 * qy + dux + nx / 2.0, sy = m12 * qx + m22 * qy + duy + ny / 2.0;
                            float value = fill;
                            if (sx >= 0 && sy >= 0 && sx <= nx - 1 && sy <= ny - 1)
                            {
                                int x0 = (int)sx, y0 = (int)sy, x1 = Math.Min(x0 + 1, nx - 1), y1 = Math.Min(y0 + 1, ny - 1);
                                float fx = (float)(sx - x0), fy = (float)(sy - y0);
                                float a = views[vo + y0 * nx + x0], b = views[vo + y0 * nx + x1], c = views[vo + y1 * nx + x0], d = views[vo + y1 * nx + x1];
                                float top = a + fx * (b - a), bottom = c + fx * (d - c);
                                value = top + fy * (bottom - top);
                            }
                            sum[y * nx + x] += value;
                        }
                }
                float scale = 1f / aligned.Count;
                for (int i = 0; i < frame; i++) sum[i] *= scale;
                views.AsSpan(v * frame, frame).CopyTo(two.AsSpan(frame));
                double s = Math.Cos(tilts[r] * Math.PI / 180) / Math.Max(1e-6, Math.Cos(tilts[v] * Math.PI / 180));
                var S = new Xf(1 + (s - 1) * ux * ux, (s - 1) * ux * uy, (s - 1) * ux * uy, 1 + (s - 1) * uy * uy, 0, 0);
                var peak = _correlator.Correlate(two, nx, ny, 2, ViewStatisticsCalculator.Compute(two, nx, ny, 2),
                    new[] { new CorrelationPair(0, 1, S) }, settings)[0];
                // D_v = S⁻¹·(D_r − t)
                var inv = S.Inverse();
                double wx = axis[r].X - peak.Dx, wy = axis[r].Y - peak.Dy;
                axis[v] = (inv.A11 * wx + inv.A12 * wy, inv.A21 * wx + inv.A22 * wy);
                aligned.Add(v);
                r = v;
            }
        }
    }

    /// <summary>
    /// Least squares for the axis offsets D_v of the good views (D_ref = 0) from t_p = D_ref − S_p·D_mov
    /// (2 equations per pair), iteratively reweighted with Tukey's biweight (c = 4.685 robust SDs
    /// of the residuals, the SD floored at 0.25 px). Returns D per view and each pair's final weight.
    /// </summary>
    internal static ((double X, double Y)[] Axis, double[] Weights) SolveAxisOffsets(List<CorrelationPair> pairs,
        (double X, double Y)[] t, int[] good, int referenceView, int nz)
    {
        var index = new int[nz];
        Array.Fill(index, -1);
        int unknowns = 0;
        foreach (int v in good) if (v != referenceView) index[v] = unknowns++;
        var weights = Enumerable.Repeat(1.0, pairs.Count).ToArray();
        var axis = new (double X, double Y)[nz];
        if (unknowns == 0) return (axis, weights);
        var x = new double[2 * unknowns];
        for (int iteration = 0; iteration < 6; iteration++)
        {
            var ata = new double[2 * unknowns, 2 * unknowns];
            var atb = new double[2 * unknowns];
            for (int p = 0; p < pairs.Count; p++)
            {
                // Row: D_ref − S·D_mov = t, for the x and the y equation.
                var S = pairs[p].MovingStretch;
                int r = index[pairs[p].Reference], m = index[pairs[p].Moving];
                for (int row = 0; row < 2; row++)
                {
                    var coef = new List<(int Col, double Value)>();
                    if (r >= 0) coef.Add((2 * r + row, 1));
                    if (m >= 0)
                    {
                        coef.Add((2 * m, -(row == 0 ? S.A11 : S.A21)));
                        coef.Add((2 * m + 1, -(row == 0 ? S.A12 : S.A22)));
                    }
                    double rhs = row == 0 ? t[p].X : t[p].Y, w = weights[p];
                    foreach (var (ci, cv) in coef)
                    {
                        atb[ci] += w * cv * rhs;
                        foreach (var (cj, cw) in coef) ata[ci, cj] += w * cv * cw;
                    }
                }
            }
            for (int i = 0; i < 2 * unknowns; i++) ata[i, i] += 1e-9; // a view whose pairs all lost their weight stays at 0
            var solution = MathNet.Numerics.LinearAlgebra.Matrix<double>.Build.DenseOfArray(ata)
                .Solve(MathNet.Numerics.LinearAlgebra.Vector<double>.Build.DenseOfArray(atb));
            x = solution.ToArray();
            foreach (int v in good) axis[v] = index[v] < 0 ? (0, 0) : (x[2 * index[v]], x[2 * index[v] + 1]);
            var residual = new double[pairs.Count];
            for (int p = 0; p < pairs.Count; p++)
            {
                var S = pairs[p].MovingStretch;
                var dr = axis[pairs[p].Reference]; var dm = axis[pairs[p].Moving];
                double ex = dr.X - (S.A11 * dm.X + S.A12 * dm.Y) - t[p].X, ey = dr.Y - (S.A21 * dm.X + S.A22 * dm.Y) - t[p].Y;
                residual[p] = Math.Sqrt(ex * ex + ey * ey);
            }
            double scale = Math.Max(0.25, 1.4826 * residual.OrderBy(v => v).ElementAt(residual.Length / 2));
            double c = 4.685 * scale;
            for (int p = 0; p < pairs.Count; p++)
            {
                double u = residual[p] / c;
                weights[p] = u >= 1 ? 0 : (1 - u * u) * (1 - u * u);
            }
        }
        return (axis, weights);
    }

    /// <summary>
    /// How the coarse stage correlates binned views of nx×ny (binning <paramref name="bin"/>): each
    /// side padded by PadFraction and up to an even FFT-friendly size, the taper TaperFraction of the
    /// shorter side, the filter and the shift limit of <paramref name="options"/>. The clip is done
    /// beforehand (<see cref="DampHighContrast"/>), so the settings do not clip again.
    /// </summary>
    public static CorrelationSettings CorrelationSettingsFor(int nx, int ny, int bin, CoarseAlignOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (bin < 1) throw new ArgumentOutOfRangeException(nameof(bin));
        int px = FftSize.NextGoodEven((int)Math.Ceiling(nx * (1 + 2 * options.PadFraction)));
        int py = FftSize.NextGoodEven((int)Math.Ceiling(ny * (1 + 2 * options.PadFraction)));
        int taper = Math.Max(1, (int)Math.Round(options.TaperFraction * Math.Min(nx, ny)));
        int maxShift = options.MaxShiftPixels > 0 ? Math.Max(1, (int)Math.Ceiling(options.MaxShiftPixels / bin)) : int.MaxValue;
        return new CorrelationSettings(px, py, taper, options.Filter, 0, options.ExcludeCentralPeak, maxShift);
    }

    /// <summary>
    /// The pair of <paramref name="view"/> and its neighbour <paramref name="previous"/>: the one with
    /// the larger |tilt| moves and is stretched by s = cos θ_ref / cos θ_moving perpendicular to the
    /// tilt axis (at <paramref name="tiltAxisDegrees"/> from +Y).
    /// </summary>
    public static CorrelationPair NeighbourPair(int view, int previous, IReadOnlyList<double> tiltDegrees, double tiltAxisDegrees, out double stretch)
    {
        double alpha = tiltAxisDegrees * Math.PI / 180, ux = Math.Cos(alpha), uy = Math.Sin(alpha);
        bool viewIsMoving = Math.Abs(tiltDegrees[view]) >= Math.Abs(tiltDegrees[previous]);
        int reference = viewIsMoving ? previous : view, moving = viewIsMoving ? view : previous;
        double cr = Math.Cos(tiltDegrees[reference] * Math.PI / 180), cm = Math.Cos(tiltDegrees[moving] * Math.PI / 180);
        double s = stretch = cm > 1e-6 ? cr / cm : 1;
        return new CorrelationPair(reference, moving, new Xf(1 + (s - 1) * ux * ux, (s - 1) * ux * uy, (s - 1) * ux * uy, 1 + (s - 1) * uy * uy, 0, 0));
    }

    /// <summary>The smallest binning that brings the larger side to at most <paramref name="target"/> pixels.</summary>
    public static int AutoBin(int nx, int ny, int target) => Math.Max(1, (int)Math.Ceiling(Math.Max(nx, ny) / (double)target));

    private static int ReferenceView(IReadOnlyList<double> tilts, bool[] blank)
    {
        int best = -1;
        for (int i = 0; i < tilts.Count; i++)
            if (!blank[i] && (best < 0 || Math.Abs(tilts[i]) < Math.Abs(tilts[best]))) best = i;
        return best < 0 ? 0 : best;
    }

    private static List<int> FindBlankViews(ViewStatistics[] stats, CoarseAlignOptions o)
    {
        var finite = stats.Where(s => double.IsFinite(s.Mean) && double.IsFinite(s.StdDev)).ToArray();
        double medianMean = finite.Length > 0 ? finite.Select(s => Math.Abs(s.Mean)).OrderBy(x => x).ElementAt(finite.Length / 2) : 0;
        double medianSd = finite.Length > 0 ? finite.Select(s => s.StdDev).OrderBy(x => x).ElementAt(finite.Length / 2) : 0;
        var blank = new List<int>();
        for (int v = 0; v < stats.Length; v++)
        {
            var s = stats[v];
            bool bad = !double.IsFinite(s.Mean) || !double.IsFinite(s.StdDev) || s.StdDev <= 1e-12 * Math.Max(1, Math.Abs(s.Mean))
                || (medianMean > 0 && Math.Abs(s.Mean) < o.DarkViewFraction * medianMean)
                || (medianSd > 0 && s.StdDev > o.NoisyViewFactor * medianSd);
            if (bad) blank.Add(v);
        }
        return blank;
    }

    private static bool[] FlagBlank(int nz, List<int> blank)
    {
        var f = new bool[nz];
        foreach (int v in blank) f[v] = true;
        return f;
    }

    /// <summary>
    /// Smooths every view by a separable Gaussian of <paramref name="sigma"/> pixels (edges
    /// clamped) and clips it to median ± k·1.4826·MAD (robust statistics of the smoothed view,
    /// from every pixel of a regular subsample), so a few strong points (beads, hot pixels) cannot
    /// outweigh the specimen in the correlation. Blank views are copied unchanged.
    /// </summary>
    public static float[] DampHighContrast(float[] views, int nx, int ny, int nz, double sigma, double k, bool[] isBlankView)
    {
        var output = new float[views.Length];
        int r = sigma > 0 ? (int)Math.Ceiling(3 * sigma) : 0;
        var kernel = new float[2 * r + 1];
        double ksum = 0;
        for (int i = -r; i <= r; i++) { kernel[i + r] = (float)(r == 0 ? 1 : Math.Exp(-i * i / (2 * sigma * sigma))); ksum += kernel[i + r]; }
        for (int i = 0; i < kernel.Length; i++) kernel[i] = (float)(kernel[i] / ksum);
        long frame = (long)nx * ny;
        Parallel.For(0, nz, z =>
        {
            var src = views.AsSpan((int)(z * frame), (int)frame);
            var dst = output.AsSpan((int)(z * frame), (int)frame);
            if (isBlankView[z]) { src.CopyTo(dst); return; }
            var tmp = new float[frame];
            for (int y = 0; y < ny; y++)
                for (int x = 0; x < nx; x++)
                {
                    float sum = 0;
                    for (int i = -r; i <= r; i++) sum += kernel[i + r] * src[y * nx + Math.Clamp(x + i, 0, nx - 1)];
                    tmp[y * nx + x] = sum;
                }
            for (int y = 0; y < ny; y++)
                for (int x = 0; x < nx; x++)
                {
                    float sum = 0;
                    for (int i = -r; i <= r; i++) sum += kernel[i + r] * tmp[Math.Clamp(y + i, 0, ny - 1) * nx + x];
                    dst[y * nx + x] = sum;
                }
            int step = Math.Max(1, (int)(frame / 20000));
            var sample = new List<float>((int)(frame / step) + 1);
            for (long i = 0; i < frame; i += step) sample.Add(dst[(int)i]);
            sample.Sort();
            float median = sample[sample.Count / 2];
            var dev = sample.Select(v => Math.Abs(v - median)).OrderBy(v => v).ToArray();
            double rsd = 1.4826 * dev[dev.Length / 2];
            float lo = (float)(median - k * rsd), hi = (float)(median + k * rsd);
            for (int i = 0; i < dst.Length; i++) dst[i] = Math.Clamp(dst[i], lo, hi);
        });
        return output;
    }

    /// <summary>Averages bin×bin blocks (the remainder at the right and top edges is dropped); bin 1 returns the data as is.</summary>
    internal static (float[] Data, int Nx, int Ny) BinStack(ImageStack stack, int bin)
    {
        if (bin == 1) return (stack.Data, stack.Nx, stack.Ny);
        int nx = stack.Nx / bin, ny = stack.Ny / bin, nz = stack.Nz;
        var data = new float[(long)nx * ny * nz];
        float scale = 1f / (bin * bin);
        Parallel.For(0, ny * nz, row =>
        {
            int z = row / ny, y = row % ny;
            var src = stack.Data;
            for (int x = 0; x < nx; x++)
            {
                double sum = 0;
                for (int j = 0; j < bin; j++)
                {
                    long o = ((long)z * stack.Ny + y * bin + j) * stack.Nx + x * bin;
                    for (int i = 0; i < bin; i++) sum += src[o + i];
                }
                data[((long)z * ny + y) * nx + x] = (float)(sum * scale);
            }
        });
        return (data, nx, ny);
    }
}
