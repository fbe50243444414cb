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
    /// <summary>
    /// Binning for the correlation; 0: automatic, from the data (<see cref="SpectralSnrEstimate"/>: the
    /// band where the views carry signal sits well inside Nyquist; at least the binning that brings the
    /// larger side to ≤ <see cref="AutoBinTargetPixels"/>), then the more trustworthy of it and coarser ones.
    /// </summary>
    public int Bin { get; init; }
    public int AutoBinTargetPixels { get; init; } = 1024;
    /// <summary>
    /// The band-pass on the cross-power spectrum, cycles per binned pixel; null: automatic (etomo's usual
    /// 0.03, 0.25, 0.05 at the binning chosen from the data, <see cref="AutomaticFilter"/>).
    /// </summary>
    public BandPassFilter? Filter { get; init; }
    /// <summary>The filter used when <see cref="Filter"/> is null.</summary>
    public static BandPassFilter AutomaticFilter { get; } = new(0.03, 0.25, 0.05);
    public bool ExcludeCentralPeak { get; init; }
    /// <summary>
    /// Views (0-based) not correlated at all, as tiltxcorr's SkipViews: treated as blank views are — their .prexf line is the
    /// identity and the chain is bridged across them (the next view is correlated with the last one used).
    /// </summary>
    public IReadOnlyList<int> SkipViews { get; init; } = [];
    /// <summary>
    /// Damping of high-contrast points (gold beads, hot pixels) before correlating: each binned view
    /// is smoothed by a Gaussian of <see cref="DampSmoothingPixels"/> and clipped to median ± this
    /// many robust SDs (1.4826·MAD) of the smoothed view; 0: off (plain tiltxcorr); null: automatic —
    /// both are tried and the more trustworthy correlation kept (damping helps only where the texture
    /// carries enough signal; in weak-texture series the beads are the signal).
    /// </summary>
    public double? ClipStdDevs { get; init; }
    /// <summary>The clip tried when <see cref="ClipStdDevs"/> is null.</summary>
    public const double AutomaticClipStdDevs = 2.0;
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
    /// <summary>Use every trusted second-neighbour pair in the fit of the shifts too (they are always measured, as a check).</summary>
    public bool SecondNeighbours { get; init; }
    /// <summary>A view whose mean is below this fraction of the median view mean is treated as blank.</summary>
    public double DarkViewFraction { get; init; } = 0.05;
    /// <summary>A view whose SD exceeds this multiple of the median SD (shot noise of a tiny dose) is treated as blank.</summary>
    public double NoisyViewFactor { get; init; } = 5.0;
    /// <summary>
    /// Automatic settings and retries: with true, whatever is left automatic (binning, filter, damping)
    /// is chosen by trying the candidates and keeping the most trustworthy, and a pair that fails its
    /// checks is retried with the other candidates (coarser binning, the other damping). With false,
    /// one set of settings (automatic values: the size-based binning, <see cref="AutomaticFilter"/>, the
    /// clip) and no retries: fast, for searches (<see cref="TiltAxisSearch"/>).
    /// </summary>
    public bool Adaptive { get; init; } = true;
    /// <summary>
    /// Measure the trust signals (null correlations, second neighbours). Off only for searches that
    /// need the peak strengths alone; then every pair counts as trusted.
    /// </summary>
    public bool TrustChecks { get; init; } = true;
    /// <summary>
    /// A pair is trusted only if its peak strength is at least this multiple of the null correlation's
    /// (the same pair with the moving view turned by 180°: what the best wrong peak of these images looks like).
    /// </summary>
    public double MinPeakSnr { get; init; } = 1.5;

    public void Validate()
    {
        if (!double.IsFinite(TiltAxisDegrees)) throw new ArgumentException("tilt-axis angle must be finite");
        if (Bin < 0) throw new ArgumentException($"binning must be ≥ 0 (0: automatic), got {Bin}");
        if (AutoBinTargetPixels < 16) throw new ArgumentException("automatic binning target must be ≥ 16 pixels");
        if (ClipStdDevs is double c && (c < 0 || !double.IsFinite(c))) throw new ArgumentException("clip must be ≥ 0 SDs");
        if (PadFraction is < 0 or > 1) throw new ArgumentException("pad fraction must be within 0 … 1");
        if (TaperFraction is < 0 or > 0.5) throw new ArgumentException("taper fraction must be within 0 … 0.5");
        if (MaxShiftPixels < 0 || !double.IsFinite(MaxShiftPixels)) throw new ArgumentException("maximum shift must be ≥ 0");
        if (!(MinPeakSnr >= 0) || !double.IsFinite(MinPeakSnr)) throw new ArgumentException("minimum peak SNR must be ≥ 0");
    }
}

/// <summary>
/// One neighbour pair as correlated, unbinned pixels: (PeakDx, PeakDy) is the measured shift
/// that carries the stretched moving view onto the reference near the image centre; (Dx, Dy) the
/// resulting translation of <see cref="View"/> onto <see cref="Neighbour"/> at the tilt axis.
/// The init-only properties are the pair's trust signals.
/// </summary>
public sealed record CoarsePairResult(int View, int Neighbour, int ReferenceView, int MovingView, double Stretch,
    double PeakDx, double PeakDy, double Dx, double Dy, double Strength, double FitWeight)
{
    /// <summary>Peak strength of the null correlation (the same pair, the moving view turned by 180°), at the same settings.</summary>
    public double NullStrength { get; init; }
    /// <summary><see cref="CoarsePairResult.Strength"/> over the null level (the larger of this pair's null strength and the median over pairs); about 1: noise.</summary>
    public double PeakSnr { get; init; }
    /// <summary>
    /// The smaller, over the view triples this pair is part of, of |second-neighbour shift − the two
    /// first-neighbour shifts chained|, unbinned pixels; NaN where no triple exists.
    /// </summary>
    public double ClosureResidualPixels { get; init; }
    /// <summary>|this shift − the same pair's shift at the other binning tried|, unbinned pixels; NaN when only one binning was tried.</summary>
    public double BinningDisagreementPixels { get; init; }
    /// <summary>The pair passed every check (peak SNR ≥ the minimum, and its chain closes where it can be checked).</summary>
    public bool Trusted { get; init; }
    /// <summary>No measurement of this pair could be trusted: its shift was bridged by a second-neighbour pair, or interpolated from its neighbours.</summary>
    public bool Retried { get; init; }
    /// <summary>The shift of this pair is an interpolation (no trusted measurement, no trusted bridge): its views are flagged.</summary>
    public bool Interpolated { get; init; }
    /// <summary>The binning of the measurement used.</summary>
    public int Bin { get; init; }
    /// <summary>Whether the measurement used had the beads damped.</summary>
    public bool BeadsDamped { get; init; }
}

/// <summary>The coarse alignment: .prexf (line i aligns view i to view i−1), .prexg (to the reference view).</summary>
public sealed record CoarseAlignResult(Xf[] Prexf, Xf[] Prexg, int ReferenceView, int Bin, int PaddedWidth, int PaddedHeight,
    IReadOnlyList<CoarsePairResult> Pairs, IReadOnlyList<int> BlankViews, IReadOnlyList<string> Warnings)
{
    /// <summary>Overall trust summary (fraction of trusted pairs, median peak SNR, chain closure, largest shift, settings).</summary>
    public CoarseQuality Quality { get; init; } = new();
    /// <summary>Per view: true when its chain of pairs to the reference view rests only on trusted measurements (blank views: false).</summary>
    public IReadOnlyList<bool> ViewTrusted { get; init; } = [];
    /// <summary>The band-pass used by the primary measurements, cycles per binned pixel.</summary>
    public BandPassFilter Filter { get; init; } = CoarseAlignOptions.AutomaticFilter;
    /// <summary>The clip of the primary measurements (0: beads not damped).</summary>
    public double ClipStdDevs { get; init; }
}

/// <summary>
/// tiltxcorr: each view is cross-correlated with its neighbour (view i with i−1), the view with
/// the larger |tilt| stretched by cos θ_ref / cos θ perpendicular to the tilt axis, all pairs
/// in one batch through <see cref="IPairCorrelator"/>. Blank views (dark, or shot-noise
/// dominated) are bridged: their line is the identity and the next view is correlated with the
/// last good one. The .prexg composes the .prexf lines outward from the view nearest zero tilt.
/// Every pair is checked (peak against a null correlation, chain closure with the second
/// neighbours, agreement across binnings); settings left automatic are chosen from the data, and
/// pairs that fail are retried, bridged, or interpolated and flagged (docs/COARSE.md).
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

    /// <summary>One set of correlation settings.</summary>
    private sealed record Candidate(int Bin, double Clip, BandPassFilter Filter);

    /// <summary>The measurements of one candidate: first-neighbour pairs, their nulls, second-neighbour pairs.</summary>
    private sealed class Evaluation
    {
        public required Candidate Candidate { get; init; }
        public required CorrelationSettings Settings { get; init; }
        public required float[] Views { get; init; }
        public required int Nx { get; init; }
        public required int Ny { get; init; }
        public required (double X, double Y)[] T1 { get; init; }
        public required double[] Strength1 { get; init; }
        public required double[] Null1 { get; init; }
        public required double[] Snr1 { get; init; }
        public required (double X, double Y)[] T2 { get; init; }
        public required double[] Snr2 { get; init; }
        public required double[] Closure2 { get; init; }
        public required double[] Closure1 { get; init; }
        public required bool[] Trusted1 { get; init; }
        public double FractionTrusted { get; init; }
        public double MedianSnr { get; init; }
        public double ClosureRms { get; init; }
        public double TrustedClosureRms { get; init; }
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

        int sizeBin = AutoBin(stack.Nx, stack.Ny, options.AutoBinTargetPixels);
        var binnedCache = new Dictionary<int, (float[] Data, int Nx, int Ny)>();
        (float[] Data, int Nx, int Ny) Binned(int b)
        {
            if (!binnedCache.TryGetValue(b, out var x)) binnedCache[b] = x = BinStack(stack, b);
            return x;
        }
        int firstBin = options.Bin > 0 ? options.Bin : sizeBin;
        var (b0data, b0nx, b0ny) = Binned(firstBin);
        if (b0nx < 8 || b0ny < 8) throw new ArgumentException($"binning {firstBin} leaves {b0nx}×{b0ny} pixels, too few to correlate");
        var firstStats = ViewStatisticsCalculator.Compute(b0data, b0nx, b0ny, nz);
        foreach (int v in options.SkipViews)
            if (v < 0 || v >= nz) throw new ArgumentException($"skipped view {v} is not a view of the {nz}");
        var blank = FindBlankViews(firstStats, options).Where(v => !options.SkipViews.Contains(v)).ToList();
        foreach (int v in options.SkipViews.Distinct().Order())
        {
            string w = $"view {v} (1-based {v + 1}, tilt {tiltDegrees[v]:F1}°) is skipped as asked (--exclude-views): identity transform, the chain bridged across it";
            warnings.Add(w);
            _logger.LogInformation("{Warning}", w);
        }
        foreach (int v in blank)
        {
            string w = $"view {v} (tilt {tiltDegrees[v]:F1}°) is nearly blank (mean {firstStats[v].Mean:G4}, SD {firstStats[v].StdDev:G4}); it gets an identity transform and is skipped";
            warnings.Add(w);
            _logger.LogWarning("{Warning}", w);
        }
        var isBlank = FlagBlank(nz, blank.Concat(options.SkipViews).Distinct().ToList());
        var good = Enumerable.Range(0, nz).Where(v => !isBlank[v]).ToArray();
        int referenceView = ReferenceView(tiltDegrees, isBlank);

        // Candidates: the binning from the data (or given), coarser ones, damped and not.
        SpectralSnrEstimate? spectral = null;
        int minSide = Math.Min(stack.Nx, stack.Ny);
        var bins = new List<int>();
        if (options.Bin > 0) bins.Add(options.Bin);
        else
        {
            var near = good.OrderBy(v => Math.Abs(tiltDegrees[v])).Take(5).ToArray();
            spectral = near.Length > 0 ? SpectralSnrEstimate.Measure(stack, near, 16) : null;
            int maxBin = Math.Max(sizeBin, minSide / 128);
            int fromData = spectral is { CutoffCyclesPerPixel: > 0 } ? Math.Max(1, (int)Math.Floor(0.25 / spectral.CutoffCyclesPerPixel)) : maxBin;
            bins.Add(Math.Clamp(fromData, sizeBin, Math.Max(sizeBin, maxBin)));
        }
        bool adaptive = options.Adaptive && options.TrustChecks;
        if (adaptive)
            for (int k = 0; k < 2; k++)
            {
                int b = bins[^1] * 2;
                if (minSide / b >= 64) bins.Add(b);
            }
        var clips = options.ClipStdDevs is double given ? new[] { given } : adaptive ? new[] { CoarseAlignOptions.AutomaticClipStdDevs, 0.0 } : new[] { CoarseAlignOptions.AutomaticClipStdDevs };
        if (adaptive && options.ClipStdDevs is double g2) clips = g2 > 0 ? new[] { g2, 0.0 } : new[] { 0.0, CoarseAlignOptions.AutomaticClipStdDevs };
        var filter = options.Filter ?? CoarseAlignOptions.AutomaticFilter;
        var candidates = new List<Candidate>();
        foreach (int b in bins)
            foreach (double c in clips) candidates.Add(new Candidate(b, c, filter));
        bool settingsGiven = options.Bin > 0 && options.ClipStdDevs is not null;

        // Pairs: first neighbours (the chain), their nulls, second neighbours (the closure check).
        var pairs1 = new List<CorrelationPair>(); var stretch1 = new List<double>();
        for (int j = 1; j < good.Length; j++)
        {
            pairs1.Add(NeighbourPair(good[j], good[j - 1], tiltDegrees, options.TiltAxisDegrees, out double s));
            stretch1.Add(s);
        }
        var pairs2 = new List<CorrelationPair>(); var stretch2 = new List<double>();
        if (options.TrustChecks)
            for (int j = 2; j < good.Length; j++)
            {
                pairs2.Add(NeighbourPair(good[j], good[j - 2], tiltDegrees, options.TiltAxisDegrees, out double s));
                stretch2.Add(s);
            }

        var evaluations = new List<Evaluation>();
        var dampedCache = new Dictionary<(int, double), float[]>();
        foreach (var c in candidates)
        {
            var (data, nx, ny) = Binned(c.Bin);
            if (nx < 8 || ny < 8) throw new ArgumentException($"binning {c.Bin} leaves {nx}×{ny} pixels, too few to correlate");
            if (!dampedCache.TryGetValue((c.Bin, c.Clip), out var views))
                dampedCache[(c.Bin, c.Clip)] = views = c.Clip > 0 ? DampHighContrast(data, nx, ny, nz, options.DampSmoothingPixels, c.Clip, isBlank) : data;
            evaluations.Add(Evaluate(c, views, nx, ny, nz, pairs1, pairs2, good, referenceView, options));
        }

        // The primary candidate: the given settings, or the most trustworthy (fraction of trusted
        // pairs within 0.05 of the best, then the smallest chain closure among trusted triples,
        // then the finer binning).
        var ranked = RankCandidates(evaluations, settingsGiven || !adaptive);
        var primary = ranked[0];
        foreach (var e in evaluations)
            _logger.LogDebug("coarse candidate bin {Bin} clip {Clip}: {Trusted:P0} trusted, median peak SNR {Snr:F2}, closure RMS {Closure:F2} px (trusted {TrustedClosure:F2} px)",
                e.Candidate.Bin, e.Candidate.Clip, e.FractionTrusted, e.MedianSnr, e.ClosureRms, e.TrustedClosureRms);

        // Binning agreement: the same pair at the next binning with the same damping.
        var otherBinning = evaluations.FirstOrDefault(e => e.Candidate.Clip == primary.Candidate.Clip && e.Candidate.Bin != primary.Candidate.Bin);

        // Observations for the final fit: each first pair from the first candidate (in rank order)
        // that trusts it; else a trusted second-neighbour bridge; else an interpolated step.
        var obsPairs = new List<CorrelationPair>(); var obsT = new List<(double X, double Y)>(); var obsWeight = new List<double>();
        var obsTrusted = new List<bool>(); var obsOfPair1 = new int[pairs1.Count]; var source = new Evaluation?[pairs1.Count];
        var bridged = new bool[pairs1.Count];
        // A measurement from another candidate joins the chain only if it closes with the chain's
        // neighbouring pairs (through a trusted second-neighbour shift of any candidate): mixing
        // measurements that locked onto different features (beads on the other surface) would not.
        var chosenT = new (double X, double Y)?[pairs1.Count];
        for (int p = 0; p < pairs1.Count; p++)
            if (primary.Trusted1[p]) { source[p] = primary; chosenT[p] = primary.T1[p]; }
        for (int p = 0; p < pairs1.Count; p++)
        {
            if (source[p] is not null) continue;
            foreach (var e in ranked.Skip(1))
                if (e.Trusted1[p] && ClosesWithChain(p, e.T1[p], e.Candidate.Bin, chosenT, ranked, pairs1, pairs2, good, nz, options))
                { source[p] = e; chosenT[p] = e.T1[p]; break; }
        }
        for (int p = 0; p < pairs1.Count; p++)
        {
            obsOfPair1[p] = -1;
            if (source[p] is { } src)
            {
                obsOfPair1[p] = obsPairs.Count;
                obsPairs.Add(pairs1[p]); obsT.Add(src.T1[p]); obsWeight.Add(1); obsTrusted.Add(true);
            }
        }
        var usedBridge = new HashSet<int>();
        for (int p = 0; p < pairs1.Count; p++)
        {
            if (source[p] is not null) continue;
            // Second pairs spanning first pair p: q = p (views j, j−2 with j = p + 2) and q = p − 1.
            foreach (int q in new[] { p, p - 1 })
            {
                if (q < 0 || q >= pairs2.Count || usedBridge.Contains(q)) continue;
                var bridge = ranked.FirstOrDefault(e => BridgeTrusted(e, q, ranked, options));
                if (bridge is null) continue;
                usedBridge.Add(q);
                obsPairs.Add(pairs2[q]); obsT.Add(bridge.T2[q]); obsWeight.Add(1); obsTrusted.Add(true);
                bridged[p] = true;
                break;
            }
        }
        if (options.SecondNeighbours)
            for (int q = 0; q < pairs2.Count; q++)
                if (!usedBridge.Contains(q) && primary.Snr2[q] >= options.MinPeakSnr && !(primary.Closure2[q] > ClosureTolerance(primary.Candidate.Bin)))
                { obsPairs.Add(pairs2[q]); obsT.Add(primary.T2[q]); obsWeight.Add(1); obsTrusted.Add(true); }

        // Interpolated steps where a view is still cut off from the reference: D_m − D_r = δ, the
        // median step of the nearest trusted pairs on either side (0 if none), as an identity-stretch pair.
        var connected = Connected(obsPairs, obsTrusted, referenceView, nz);
        var interpolated = new bool[pairs1.Count];
        foreach (int side in new[] { 1, -1 })
        {
            var order = Enumerable.Range(0, pairs1.Count).Where(p => side > 0 ? good[p + 1] > referenceView : good[p] < referenceView);
            foreach (int p in side > 0 ? order.OrderBy(p => p) : order.OrderByDescending(p => p))
            {
                int outer = side > 0 ? good[p + 1] : good[p], inner = side > 0 ? good[p] : good[p + 1];
                if (connected[outer] || !connected[inner]) continue;
                var steps = new List<(double X, double Y)>();
                foreach (int dir in new[] { -1, 1 })
                    for (int k = p + dir, n = 0; k >= 0 && k < pairs1.Count && n < 2; k += dir)
                        if (source[k] is { } s) { steps.Add((-s.T1[k].X, -s.T1[k].Y)); n++; }
                double dx = steps.Count > 0 ? Median(steps.Select(s => s.X)) : 0, dy = steps.Count > 0 ? Median(steps.Select(s => s.Y)) : 0;
                // Step of the moving view relative to the reference view of the pair: −t ≈ D_m − D_r.
                var pr = pairs1[p];
                obsPairs.Add(new CorrelationPair(pr.Reference, pr.Moving, Xf.Identity));
                obsT.Add((-dx, -dy)); obsWeight.Add(1); obsTrusted.Add(false);
                interpolated[p] = true;
                connected[outer] = true;
                // Views beyond, reached through trusted observations from outer, become connected too.
                var more = Connected(obsPairs, obsTrusted.Select(_ => true).ToList(), referenceView, nz);
                for (int v = 0; v < nz; v++) connected[v] |= more[v];
            }
        }

        var (solved, weights) = SolveAxisOffsets(obsPairs, obsT.ToArray(), good, referenceView, nz, obsWeight.ToArray());
        int bin = primary.Candidate.Bin;
        var settings = primary.Settings;
        if (options.CumulativeReference)
        {
            var binnedAxis = solved.Select(a => (a.X / bin, a.Y / bin)).ToArray();
            RefineCumulative(primary.Views, primary.Nx, primary.Ny, good, referenceView, tiltDegrees,
                Math.Cos(options.TiltAxisDegrees * Math.PI / 180), Math.Sin(options.TiltAxisDegrees * Math.PI / 180), settings, binnedAxis);
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
        for (int p = 0; p < pairs1.Count; p++)
        {
            int view = good[p + 1], neighbour = good[p];
            var e = source[p] ?? primary;
            double disagreement = double.NaN;
            var other = e == primary ? otherBinning : evaluations.FirstOrDefault(o => o.Candidate.Clip == e.Candidate.Clip && o.Candidate.Bin != e.Candidate.Bin);
            if (other is not null) disagreement = Math.Sqrt(Math.Pow(other.T1[p].X - e.T1[p].X, 2) + Math.Pow(other.T1[p].Y - e.T1[p].Y, 2));
            results.Add(new CoarsePairResult(view, neighbour, pairs1[p].Reference, pairs1[p].Moving, stretch1[p],
                e.T1[p].X, e.T1[p].Y, axis[neighbour]!.Value.X - axis[view]!.Value.X, axis[neighbour]!.Value.Y - axis[view]!.Value.Y,
                e.Strength1[p], obsOfPair1[p] >= 0 ? weights[obsOfPair1[p]] : 0)
            {
                NullStrength = e.Null1[p], PeakSnr = e.Snr1[p], ClosureResidualPixels = e.Closure1[p], BinningDisagreementPixels = disagreement,
                Trusted = source[p] is not null, Retried = source[p] is not null && source[p] != primary || bridged[p] || interpolated[p],
                Interpolated = interpolated[p], Bin = e.Candidate.Bin, BeadsDamped = e.Candidate.Clip > 0,
            });
        }
        if (options.SecondNeighbours)
            for (int q = 0; q < pairs2.Count; q++)
            {
                int view = good[q + 2], neighbour = good[q];
                results.Add(new CoarsePairResult(view, neighbour, pairs2[q].Reference, pairs2[q].Moving, stretch2[q],
                    primary.T2[q].X, primary.T2[q].Y, axis[neighbour]!.Value.X - axis[view]!.Value.X, axis[neighbour]!.Value.Y - axis[view]!.Value.Y,
                    primary.Snr2[q] * Median(primary.Null1), 0)
                { PeakSnr = primary.Snr2[q], ClosureResidualPixels = primary.Closure2[q], Trusted = primary.Snr2[q] >= options.MinPeakSnr, Bin = bin, BeadsDamped = primary.Candidate.Clip > 0 });
            }

        var trustedViews = Connected(obsPairs, obsTrusted, referenceView, nz);
        for (int v = 0; v < nz; v++) if (isBlank[v]) trustedViews[v] = false;   // blank and skipped views
        foreach (var r in results.Take(pairs1.Count).Where(r => !r.Trusted))
        {
            string how = r.Interpolated ? "its shift is interpolated from the neighbouring pairs" : "it is bridged by a second-neighbour pair";
            string w = $"view {r.View}: the correlation with view {r.Neighbour} cannot be trusted (peak {r.PeakSnr:F2}× the null correlation's, " +
                $"chain closure {r.ClosureResidualPixels:F1} px); {how}; check that transform";
            warnings.Add(w);
            _logger.LogWarning("{Warning}", w);
        }

        var prexg = ImodText.XfToXg(prexf, referenceView);   // xftoxg -nfit 0 with the reference view
        int trustedCount = results.Take(pairs1.Count).Count(r => r.Trusted);
        double largest = prexg.Length > 0 ? prexg.Max(g => Math.Sqrt(g.Dx * g.Dx + g.Dy * g.Dy)) : 0;
        var quality = new CoarseQuality
        {
            Pairs = pairs1.Count, TrustedPairs = trustedCount,
            FractionTrusted = pairs1.Count > 0 ? trustedCount / (double)pairs1.Count : 1,
            InterpolatedPairs = interpolated.Count(x => x),
            UntrustedViews = Enumerable.Range(0, nz).Where(v => !isBlank[v] && !trustedViews[v]).ToArray(),
            MedianPeakSnr = primary.MedianSnr, ChainClosureRmsPixels = primary.ClosureRms,
            Consistent = !(primary.ClosureRms > 2 * ClosureTolerance(bin)),
            LargestShiftFraction = largest / Math.Max(1, minSide),
            Bin = bin, BeadsDamped = primary.Candidate.Clip > 0, Filter = primary.Candidate.Filter,
            SettingsSource = settingsGiven ? "given" : "automatic (data)", Spectral = spectral,
            Candidates = ranked.Select(e => new CoarseCandidateSummary(e.Candidate.Bin, e.Candidate.Clip > 0, e.FractionTrusted, e.MedianSnr, e.ClosureRms)).ToArray(),
        };
        if (options.TrustChecks && !quality.Consistent)
        {
            string w = $"coarse alignment: the neighbour shifts do not chain consistently (closure RMS {quality.ChainClosureRmsPixels:F1} px at bin {bin}): " +
                "the pairs lock onto different features (with beads on two surfaces, different surfaces), so shifts can be off by their parallax; treat the coarse shifts as rough";
            warnings.Add(w);
            _logger.LogWarning("{Warning}", w);
        }
        if (options.TrustChecks && quality.FractionTrusted < 0.9)
        {
            string w = $"coarse alignment: only {quality.TrustedPairs} of {quality.Pairs} neighbour pairs could be trusted (median peak {quality.MedianPeakSnr:F2}× the null correlation's); " +
                $"{quality.UntrustedViews.Count} views rest on interpolated or bridged shifts";
            warnings.Add(w);
            _logger.LogWarning("{Warning}", w);
        }
        _logger.LogInformation("coarse: bin {Bin}, beads {Damped}, {Trusted}/{Pairs} pairs trusted, median peak SNR {Snr:F2}, chain closure RMS {Closure:F2} px",
            bin, primary.Candidate.Clip > 0 ? "damped" : "kept", trustedCount, pairs1.Count, primary.MedianSnr, primary.ClosureRms);
        return new CoarseAlignResult(prexf, prexg, referenceView, bin, settings.PaddedWidth, settings.PaddedHeight, results, blank, warnings)
        {
            Quality = quality, ViewTrusted = trustedViews, Filter = primary.Candidate.Filter, ClipStdDevs = primary.Candidate.Clip,
        };
    }

    /// <summary>
    /// Whether first pair <paramref name="p"/> with shift <paramref name="t"/> closes, within the tolerance,
    /// with a chosen neighbouring first pair through a second-neighbour shift (of any candidate whose peak
    /// passes); true when no neighbour is chosen yet (nothing to contradict).
    /// </summary>
    private static bool ClosesWithChain(int p, (double X, double Y) t, int bin, (double X, double Y)?[] chosen, List<Evaluation> all,
        List<CorrelationPair> pairs1, List<CorrelationPair> pairs2, int[] good, int nz, CoarseAlignOptions o)
    {
        bool anyNeighbour = false;
        // q = p − 1 spans first pairs p − 1 and p; q = p spans p and p + 1.
        foreach (var (q, other) in new[] { (p - 1, p - 1), (p, p + 1) })
        {
            if (q < 0 || q >= pairs2.Count || other < 0 || other >= pairs1.Count || chosen[other] is not { } to) continue;
            anyNeighbour = true;
            int first = Math.Min(p, other);
            var local = new List<CorrelationPair> { pairs1[first], pairs1[first + 1] };
            var tl = first == p ? new[] { t, to } : new[] { to, t };
            var (d, _) = SolveAxisOffsets(local, tl, new[] { good[first], good[first + 1], good[first + 2] }, good[first], nz, null, robust: false);
            var pr = pairs2[q];
            var S = pr.MovingStretch;
            foreach (var e in all)
            {
                if (e.Snr2[q] < o.MinPeakSnr) continue;
                double ex = d[pr.Reference].X - (S.A11 * d[pr.Moving].X + S.A12 * d[pr.Moving].Y) - e.T2[q].X;
                double ey = d[pr.Reference].Y - (S.A21 * d[pr.Moving].X + S.A22 * d[pr.Moving].Y) - e.T2[q].Y;
                if (Math.Sqrt(ex * ex + ey * ey) <= ClosureTolerance(Math.Max(bin, e.Candidate.Bin))) return true;
            }
        }
        return !anyNeighbour;
    }

    /// <summary>Closure tolerance, unbinned pixels: two binned pixels, at least 2.</summary>
    private static double ClosureTolerance(int bin) => Math.Max(2.0, 2.0 * bin);

    /// <summary>A second-neighbour pair can bridge if its peak SNR passes and another candidate that also passes agrees with it (or there is no other).</summary>
    private static bool BridgeTrusted(Evaluation e, int q, List<Evaluation> all, CoarseAlignOptions o)
    {
        if (e.Snr2[q] < o.MinPeakSnr) return false;
        var others = all.Where(x => x != e).ToList();
        if (others.Count == 0) return true;
        double tol = ClosureTolerance(Math.Max(e.Candidate.Bin, 1));
        return others.Any(x => x.Snr2[q] >= o.MinPeakSnr && Math.Sqrt(Math.Pow(x.T2[q].X - e.T2[q].X, 2) + Math.Pow(x.T2[q].Y - e.T2[q].Y, 2)) <= Math.Max(tol, ClosureTolerance(x.Candidate.Bin)));
    }

    private static List<Evaluation> RankCandidates(List<Evaluation> evaluations, bool keepFirst)
    {
        if (keepFirst) return new[] { evaluations[0] }.Concat(RankCandidates(evaluations.Skip(1).ToList(), false)).ToList();
        if (evaluations.Count == 0) return evaluations;
        double best = evaluations.Max(e => e.FractionTrusted);
        var eligible = evaluations.Where(e => e.FractionTrusted >= best - 0.05).ToList();
        var rest = evaluations.Where(e => !eligible.Contains(e)).OrderByDescending(e => e.FractionTrusted).ToList();
        double bestClosure = eligible.Min(e => Key(e));
        // Among the eligible: the smallest closure, a finer binning winning within 10 % (+0.1 px).
        var first = eligible.Where(e => Key(e) <= bestClosure * 1.1 + 0.1).OrderBy(e => e.Candidate.Bin).ThenBy(Key).First();
        return new[] { first }.Concat(eligible.Where(e => e != first).OrderBy(Key)).Concat(rest).ToList();
        static double Key(Evaluation e) => double.IsNaN(e.TrustedClosureRms) ? 0 : e.TrustedClosureRms;
    }

    /// <summary>Correlates the first-neighbour pairs, their nulls and the second-neighbour pairs of one candidate, and checks each pair.</summary>
    private Evaluation Evaluate(Candidate c, float[] views, int nx, int ny, int nz, List<CorrelationPair> pairs1, List<CorrelationPair> pairs2,
        int[] good, int referenceView, CoarseAlignOptions options)
    {
        var settings = CorrelationSettingsFor(nx, ny, c.Bin, options, c.Filter);
        var stats = ViewStatisticsCalculator.Compute(views, nx, ny, nz);
        var all = new List<CorrelationPair>(pairs1);
        if (options.TrustChecks)
        {
            foreach (var p in pairs1)
            {
                var s = p.MovingStretch;   // the null: the moving view turned by 180° about the centre
                all.Add(new CorrelationPair(p.Reference, p.Moving, new Xf(-s.A11, -s.A12, -s.A21, -s.A22, 0, 0)));
            }
            all.AddRange(pairs2);
        }
        _logger.LogDebug("coarse: {Pairs} pairs of {Nx}×{Ny} (bin {Bin}, clip {Clip}, padded {Px}×{Py}) in one batch", all.Count, nx, ny, c.Bin, c.Clip, settings.PaddedWidth, settings.PaddedHeight);
        var peaks = _correlator.Correlate(views, nx, ny, nz, stats, all.ToArray(), settings);
        int n1 = pairs1.Count, n2 = options.TrustChecks ? pairs2.Count : 0;
        var t1 = new (double X, double Y)[n1]; var s1 = new double[n1]; var null1 = new double[n1]; var snr1 = new double[n1];
        for (int p = 0; p < n1; p++) { t1[p] = (peaks[p].Dx * c.Bin, peaks[p].Dy * c.Bin); s1[p] = peaks[p].Strength; }
        var t2 = new (double X, double Y)[n2]; var snr2 = new double[n2]; var closure2 = new double[n2]; var closure1 = new double[n1];
        Array.Fill(closure1, double.NaN);
        var trusted1 = new bool[n1];
        if (!options.TrustChecks)
        {
            Array.Fill(trusted1, true);
            Array.Fill(snr1, double.NaN);
            return new Evaluation
            {
                Candidate = c, Settings = settings, Views = views, Nx = nx, Ny = ny, T1 = t1, Strength1 = s1, Null1 = null1, Snr1 = snr1,
                T2 = t2, Snr2 = snr2, Closure2 = closure2, Closure1 = closure1, Trusted1 = trusted1, FractionTrusted = 1, MedianSnr = double.NaN,
                ClosureRms = double.NaN, TrustedClosureRms = double.NaN,
            };
        }
        for (int p = 0; p < n1; p++) null1[p] = Math.Max(0, peaks[n1 + p].Strength);
        double nullMedian = n1 > 0 ? Math.Max(1e-6, Median(null1)) : 1e-6;
        for (int p = 0; p < n1; p++) snr1[p] = s1[p] / Math.Max(null1[p], nullMedian);
        for (int q = 0; q < n2; q++)
        {
            t2[q] = (peaks[2 * n1 + q].Dx * c.Bin, peaks[2 * n1 + q].Dy * c.Bin);
            double nullLevel = Math.Max(nullMedian, Math.Max(null1[q], null1[q + 1]));
            snr2[q] = peaks[2 * n1 + q].Strength / nullLevel;
        }
        // Chain closure: the first-neighbour chain (a tree: exact) predicts every second-neighbour shift.
        var (chain, _) = SolveAxisOffsets(pairs1, t1, good, referenceView, nz, null, robust: false);
        double tol = ClosureTolerance(c.Bin);
        for (int q = 0; q < n2; q++)
        {
            var pr = pairs2[q];
            var S = pr.MovingStretch;
            var dr = chain[pr.Reference]; var dm = chain[pr.Moving];
            double ex = dr.X - (S.A11 * dm.X + S.A12 * dm.Y) - t2[q].X, ey = dr.Y - (S.A21 * dm.X + S.A22 * dm.Y) - t2[q].Y;
            closure2[q] = Math.Sqrt(ex * ex + ey * ey);
            // Second pair q spans first pairs q and q + 1.
            foreach (int p in new[] { q, q + 1 })
                closure1[p] = double.IsNaN(closure1[p]) ? closure2[q] : Math.Min(closure1[p], closure2[q]);
        }
        for (int p = 0; p < n1; p++)
            trusted1[p] = snr1[p] >= options.MinPeakSnr && !(closure1[p] > tol);
        var trustedTriples = Enumerable.Range(0, n2).Where(q => trusted1[q] && trusted1[q + 1] && snr2[q] >= options.MinPeakSnr).ToArray();
        return new Evaluation
        {
            Candidate = c, Settings = settings, Views = views, Nx = nx, Ny = ny, T1 = t1, Strength1 = s1, Null1 = null1, Snr1 = snr1,
            T2 = t2, Snr2 = snr2, Closure2 = closure2, Closure1 = closure1, Trusted1 = trusted1,
            FractionTrusted = n1 > 0 ? trusted1.Count(x => x) / (double)n1 : 1,
            MedianSnr = n1 > 0 ? Median(snr1) : double.NaN,
            ClosureRms = n2 > 0 ? Math.Sqrt(closure2.Average(x => x * x)) : double.NaN,
            TrustedClosureRms = trustedTriples.Length > 0 ? Math.Sqrt(trustedTriples.Average(q => closure2[q] * closure2[q])) : double.NaN,
        };
    }

    /// <summary>Views reachable from the reference through the observations flagged in <paramref name="use"/>.</summary>
    private static bool[] Connected(List<CorrelationPair> pairs, IReadOnlyList<bool> use, int referenceView, int nz)
    {
        var seen = new bool[nz];
        seen[referenceView] = true;
        bool changed = true;
        while (changed)
        {
            changed = false;
            for (int p = 0; p < pairs.Count; p++)
            {
                if (!use[p]) continue;
                int a = pairs[p].Reference, b = pairs[p].Moving;
                if (seen[a] != seen[b]) { seen[a] = seen[b] = true; changed = true; }
            }
        }
        return seen;
    }

    private static double Median(IEnumerable<double> values)
    {
        var a = values.Where(double.IsFinite).OrderBy(x => x).ToArray();
        if (a.Length == 0) return double.NaN;
        return a.Length % 2 == 1 ? a[a.Length / 2] : 0.5 * (a[a.Length / 2 - 1] + a[a.Length / 2]);
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
        (double X, double Y)[] t, int[] good, int referenceView, int nz, double[]? baseWeights = null, bool robust = true)
    {
        var index = new int[nz];
        Array.Fill(index, -1);
        int unknowns = 0;
        foreach (int v in good) if (v != referenceView) index[v] = unknowns++;
        var weights = baseWeights?.ToArray() ?? Enumerable.Repeat(1.0, pairs.Count).ToArray();
        var axis = new (double X, double Y)[nz];
        if (unknowns == 0) return (axis, weights);
        var x = new double[2 * unknowns];
        for (int iteration = 0; iteration < (robust ? 6 : 1); iteration++)
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
                weights[p] = (baseWeights?[p] ?? 1) * (u >= 1 ? 0 : (1 - u * u) * (1 - u * u));
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
    public static CorrelationSettings CorrelationSettingsFor(int nx, int ny, int bin, CoarseAlignOptions options) =>
        CorrelationSettingsFor(nx, ny, bin, options, options?.Filter ?? CoarseAlignOptions.AutomaticFilter);

    /// <summary>The same with the filter <paramref name="filter"/> instead of the options' one.</summary>
    public static CorrelationSettings CorrelationSettingsFor(int nx, int ny, int bin, CoarseAlignOptions options, BandPassFilter filter)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (bin < 1) throw new ArgumentOutOfRangeException(nameof(bin));
        int px = FftSize.NextGoodEven((int)Math.Ceiling(nx * (1 + 2 * options.PadFraction)));
        int py = FftSize.NextGoodEven((int)Math.Ceiling(ny * (1 + 2 * options.PadFraction)));
        int taper = Math.Max(1, (int)Math.Round(options.TaperFraction * Math.Min(nx, ny)));
        int maxShift = options.MaxShiftPixels > 0 ? Math.Max(1, (int)Math.Ceiling(options.MaxShiftPixels / bin)) : int.MaxValue;
        return new CorrelationSettings(px, py, taper, filter, 0, options.ExcludeCentralPeak, maxShift);
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
