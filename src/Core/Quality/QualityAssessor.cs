using System.Globalization;

namespace Tomalign.Core.Quality;

/// <summary>
/// The verdict on an alignment (DESIGN.md, "Knowing when it is wrong"): every check of <see cref="QualitySignals"/>
/// that fails adds a reason with its numbers; the verdict is the worst severity. The thresholds are named below with
/// the reasoning behind each; where the data give a scale (the correlation's chance peak, the redundancy of the
/// solve, the bead size, the centring precision) the threshold is relative to it.
/// </summary>
public static class QualityAssessor
{
    // ---- coarse -----------------------------------------------------------------------------------------------
    /// <summary>
    /// A pair whose peak is below this multiple of the chance peak (<see cref="CorrelationNoise"/>) cannot be told from
    /// noise: of 20 pairs of unrelated views the largest chance peak was 1.35 times their median.
    /// </summary>
    public const double WeakPeakFactor = 2.0;
    /// <summary>More than this fraction of weak pairs: the coarse chain is not measured (later stages may still recover).</summary>
    public const double WeakPairsDoubtfulFraction = 0.1;
    /// <summary>
    /// A shift between neighbouring views beyond this fraction of the field's smaller side is implausible: stage drift
    /// between two exposures is a few percent of the field, and the correlation then compares views that barely overlap.
    /// </summary>
    public const double NeighbourShiftDoubtfulFraction = 0.25;
    /// <summary>
    /// A view whose whole alignment moves it beyond this fraction of the field from the median view shares less than
    /// half of its area with the others: no real series drifts that far, and such a transform is a failed stage.
    /// </summary>
    public const double TotalShiftUnreliableFraction = 0.5;
    /// <summary>
    /// A redundant coarse pair (second neighbours) that misses the chain's fit by more than this many binned pixels
    /// measured something else than its neighbours (a wrong peak): good peaks agree to a fraction of a binned pixel.
    /// </summary>
    public const double ClosureDoubtfulBinnedPixels = 2.0;

    // ---- landmarks --------------------------------------------------------------------------------------------
    /// <summary>
    /// Fewer landmarks than this in a view leave its own unknowns (shift, rotation, with magnification per view) exactly
    /// determined: two points fix a similarity, the third is the first that checks it.
    /// </summary>
    public const int FewLandmarksPerView = 3;
    /// <summary>
    /// More than this fraction of the views without landmarks (or with too few) is unreliable: those views keep the
    /// coarse transform alone, unchecked, and a tomogram from them is wrong in a sizeable share of its projections.
    /// A landmark set that misses half the views (issue 14) is far past it.
    /// </summary>
    public const double WeakViewsUnreliableFraction = 0.2;
    /// <summary>
    /// Landmarks spanning less than this fraction of the field (their bounding box) determine a view's rotation and
    /// magnification from a small lever arm; the rest of the field is extrapolated.
    /// </summary>
    public const double LowCoverage = 0.05;
    /// <summary>More than this fraction of the views with low coverage is doubtful.</summary>
    public const double LowCoverageDoubtfulFraction = 0.2;
    /// <summary>
    /// Landmarks seen in fewer views than this (median) are short pieces: a landmark in three views gives six equations for
    /// its three coordinates and shares the rest with the views' unknowns; it checks almost nothing.
    /// </summary>
    public const int ShortTrackViews = 4;

    // ---- patch landmarks (markerless) -------------------------------------------------------------------------
    /// <summary>
    /// Patch tracks whose links over 1 … 3 views disagree by more than this (unbinned pixels RMS) do not follow one feature
    /// consistently (too little signal, or a thick specimen's parallax inside the patches): doubtful. It is half the one pixel
    /// within which an alignment is called good (as <see cref="PredictedErrorDoubtfulPixels"/>). Measured across the zoo
    /// (docs/MARKERLESS.md): the 512² runs near 1 px true error had 0.65–0.71 px.
    /// </summary>
    public const double PatchLinkDoubtfulPixels = 0.5;
    /// <summary>
    /// Links disagreeing by more than this (unbinned pixels RMS) are unreliable: the tracks are off their features by more than
    /// the accuracy sought. Measured across the zoo (docs/MARKERLESS.md): the grossly wrong markerless runs (3.6–21 px) had
    /// 1.41–4.5 px, the sound ones 0.24–1.29 px (1.29 px: a bead series aligned markerless, 0.56 px true error, where tracks
    /// slide between the beads of the two surfaces and the robust solve discounts them). The gap is narrow, so the link
    /// residual is not the only guard: the 1.41 px run is caught by its tilts, others by their landmarks per view.
    /// </summary>
    public const double PatchLinkUnreliablePixels = 1.5;
    /// <summary>
    /// A median patch peak below this multiple of its null correlation's (the moving patch turned by 180°) stands weakly above
    /// noise: doubtful (the tracker's own MinimumPeakSnr, below which it falls back to larger patches).
    /// </summary>
    public const double PatchPeakSnrDoubtful = 2.0;
    /// <summary>Below this the peaks are not told from chance (of 20 pairs of unrelated views the largest chance peak was 1.35× their median): unreliable.</summary>
    public const double PatchPeakSnrUnreliable = 1.35;
    /// <summary>
    /// A view with fewer patch landmarks than this fraction of the median view's is thinly covered: its own unknowns (shift,
    /// rotation, magnification, tilt per view for patches) rest on a few tracks that may all sit in one corner.
    /// </summary>
    public const double PatchThinViewFraction = 0.25;
    /// <summary>
    /// Markerless solves fit a tilt and a magnification per view where patches give this many landmarks per view (the solve's
    /// own rule for --tilt auto); fewer leave a view's unknowns weakly determined and the fit absorbs the tracks' errors.
    /// </summary>
    public const int PatchFewLandmarksPerView = 10;
    /// <summary>More than this fraction of the views with fewer than <see cref="PatchFewLandmarksPerView"/> patch landmarks: doubtful.</summary>
    public const double PatchFewViewsDoubtfulFraction = 0.1;
    /// <summary>
    /// More than this fraction: unreliable. Measured across the zoo at 256² and 512² (docs/MARKERLESS.md): sound markerless runs
    /// had at most 10 % of such views (0.56–1.03 px true error), the grossly wrong ones (3.6–127 px) 32–100 %.
    /// </summary>
    public const double PatchFewViewsUnreliableFraction = 0.2;

    // ---- solve ------------------------------------------------------------------------------------------------
    /// <summary>
    /// Equations (2 per observation) per unknown below this: with q equations per unknown the residual RMS is
    /// σ·√(1 − 1/q) of the noise σ, so at q = 2 the fit already absorbs half of the noise power and hides errors as well.
    /// At or below 1 the solve is underdetermined (unreliable whatever its residual).
    /// </summary>
    public const double LowRedundancy = 2.0;
    /// <summary>
    /// The statistical error of the solved alignment at the landmarks, √2·σ̂·√(u / 2n) (σ̂ the noise per axis estimated
    /// from the residual and the redundancy, u unknowns, n observations: the mean leverage is u/2n), above this is
    /// doubtful: half of the one pixel within which an alignment is called good, the other half left to systematic errors.
    /// </summary>
    public const double PredictedErrorDoubtfulPixels = 0.5;
    /// <summary>The statistical error alone above this: unreliable.</summary>
    public const double PredictedErrorUnreliablePixels = 1.5;
    /// <summary>
    /// A mean residual above this is doubtful: well-centred beads and matched patches give a few tenths of a pixel
    /// (tiltalign's usual results, DESIGN.md); above 1.5 px the landmarks are off their features or the model misfits.
    /// </summary>
    public const double ResidualDoubtfulPixels = 1.5;
    /// <summary>
    /// A mean residual above this (or above the bead radius, for beads) is unreliable: the landmarks are not where the
    /// model puts them by more than a bead's radius, and the tomogram's features smear by more than their size.
    /// </summary>
    public const double ResidualUnreliablePixels = 5.0;
    /// <summary>
    /// RMS over mean residual above this: a few points far off dominate (for Gaussian errors it is 1.13).
    /// </summary>
    public const double HeavyTailRatio = 3.0;
    /// <summary>
    /// The noise estimated from the residual (σ̂) above this multiple of the centring bound (<see cref="CentringPrecision"/>):
    /// tracking errors or a misfit. Sound bead series measured 1.0–3.2 times the bound (256–384 px simulated series, five
    /// seeds: texture and the tracker's peak interpolation add to the shot noise the bound counts), so only a gross excess
    /// is a sign; the residual's absolute size is judged separately.
    /// </summary>
    public const double ResidualAboveBoundFactor = 10.0;
    /// <summary>
    /// σ̂ below this fraction of the centring bound: no measurement beats the bound, so the fit absorbed the noise in its
    /// own unknowns (too few independent observations for what it solved).
    /// </summary>
    public const double ResidualBelowBoundFactor = 1.0 / 3;
    /// <summary>More than this fraction of observations flagged by the robust solve: many landmarks are wrong.</summary>
    public const double FlaggedDoubtfulFraction = 0.3;

    // ---- solved parameters ------------------------------------------------------------------------------------
    /// <summary>
    /// A solved rotation this far from the series' median is doubtful: a microscope's image rotation varies by tenths
    /// of a degree over a series (0.2–0.4° of jitter in the hard test series).
    /// </summary>
    public const double RotationDeviationDoubtfulDegrees = 2.0;
    /// <summary>This far is unreliable: no microscope rotates the image by it within a series; the view is misfitted.</summary>
    public const double RotationDeviationUnreliableDegrees = 5.0;
    /// <summary>A rotation step between neighbouring solved views beyond this is doubtful (jitter of 0.4° gives steps below 1.7°).</summary>
    public const double RotationStepDoubtfulDegrees = 2.5;
    /// <summary>The solved axis (median rotation) differs from the one the run started from by more than this: a note.</summary>
    public const double AxisChangeNoteDegrees = 3.0;
    /// <summary>
    /// Magnification (relative to the reference view) outside 1 ± this is doubtful: the lens drifts by well under a
    /// percent in a series (0.5 % jitter in the hard test series).
    /// </summary>
    public const double MagnificationDoubtful = 0.03;
    /// <summary>Outside 1 ± this (0.9–1.1) unreliable: no microscope changes magnification by 10 % within a series.</summary>
    public const double MagnificationUnreliable = 0.1;
    /// <summary>
    /// A solved tilt departing from the nominal one by more than this, after the common offset, is doubtful: goniometers
    /// are accurate to a fraction of a degree; more comes from a weak determination of the tilts.
    /// </summary>
    public const double TiltDepartureDoubtfulDegrees = 2.0;
    /// <summary>More than this: unreliable (a tilt range compressed from ±60° to ±50°, issue 14, departs by 10°).</summary>
    public const double TiltDepartureUnreliableDegrees = 5.0;
    /// <summary>A common tilt offset beyond this: a note (a tilted specimen is levelled by it, --level).</summary>
    public const double TiltOffsetNoteDegrees = 5.0;

    /// <summary>The verdict on one alignment, with every reason, worst first.</summary>
    public static QualityVerdict Assess(QualitySignals s)
    {
        ArgumentNullException.ThrowIfNull(s);
        var reasons = new List<QualityReason>();
        int nv = s.Views.Count;
        var excluded = Enumerable.Range(0, nv).Where(i => s.Views[i].Excluded).ToArray();
        var active = Enumerable.Range(0, nv).Where(i => !s.Views[i].Excluded).ToArray();
        var unsolved = active.Where(i => s.Views[i].Landmarks == 0).ToArray();
        double field = Math.Min(s.Width, s.Height);

        Coarse(s, reasons, field);
        if (excluded.Length > 0)
            reasons.Add(new("excluded-views", Verdict.Good,
                F($"{excluded.Length} blank view(s) excluded from the coarse chain: {Views(excluded)}"), excluded));

        // Landmarks per view and their spread.
        var few = active.Where(i => s.Views[i].Landmarks is > 0 and < FewLandmarksPerView).ToArray();
        int weak = unsolved.Length + few.Length;
        bool weakUnreliable = active.Length > 0 && weak > WeakViewsUnreliableFraction * active.Length;
        if (unsolved.Length > 0)
            reasons.Add(new("unsolved-views", weakUnreliable ? Verdict.Unreliable : Verdict.Doubtful,
                F($"{unsolved.Length} of {active.Length} views have no landmark: {Views(unsolved)}; the solve left them at their start values (coarse alignment only)"),
                unsolved));
        if (few.Length > 0)
            reasons.Add(new("few-landmarks", weakUnreliable ? Verdict.Unreliable : Verdict.Doubtful,
                F($"{few.Length} view(s) have fewer than {FewLandmarksPerView} landmarks, so nothing checks their own unknowns: {Views(few)}"), few));
        if (weakUnreliable)
            reasons.Add(new("landmark-coverage-of-series", Verdict.Unreliable,
                F($"only {active.Length - weak} of {active.Length} views have {FewLandmarksPerView} or more landmarks (more than {WeakViewsUnreliableFraction:P0} lack them)")));
        var solvedViews = active.Where(i => s.Views[i].Landmarks > 0).ToArray();
        var narrow = active.Where(i => s.Views[i].Landmarks >= FewLandmarksPerView && s.Views[i].Coverage < LowCoverage).ToArray();
        if (solvedViews.Length > 0 && narrow.Length > LowCoverageDoubtfulFraction * solvedViews.Length)
            reasons.Add(new("low-coverage", Verdict.Doubtful,
                F($"in {narrow.Length} view(s) the landmarks span less than {LowCoverage:P0} of the field (median {Median(narrow.Select(i => s.Views[i].Coverage)):P1}): the rest of the field is extrapolated; {Views(narrow)}"),
                narrow));
        if (s.TrackLengths.Count > 0 && Median(s.TrackLengths.Select(t => (double)t)) < ShortTrackViews)
            reasons.Add(new("short-tracks", Verdict.Doubtful,
                F($"the landmarks are seen in a median of {Median(s.TrackLengths.Select(t => (double)t)):F0} views (fewer than {ShortTrackViews}): their 3-D positions rest on few views")));

        if (s.Kind == LandmarkKind.Patches) Patches(s, reasons, active);
        if (s.Solved) Solve(s, reasons, solvedViews);

        var ordered = reasons.OrderByDescending(r => r.Severity).ToList();
        var verdict = ordered.Count == 0 ? Verdict.Good : ordered.Max(r => r.Severity);
        return new QualityVerdict(verdict, ordered, unsolved, excluded);
    }

    private static void Coarse(QualitySignals s, List<QualityReason> reasons, double field)
    {
        var pairs = s.CoarsePairs;
        if (pairs.Count > 0)
        {
            var weak = pairs.Where(p => p.Strength < WeakPeakFactor * p.ChancePeak).ToArray();
            if (weak.Length > WeakPairsDoubtfulFraction * pairs.Count)
                reasons.Add(new("coarse-weak-peaks", Verdict.Doubtful,
                    F($"{weak.Length} of {pairs.Count} coarse pairs peak below {WeakPeakFactor}× the chance level {weak[0].ChancePeak:F3} (median strength {Median(pairs.Select(p => p.Strength)):F3}): their shifts may be noise; views {Views(weak.Select(p => p.View))}"),
                    weak.Select(p => p.View).Distinct().Order().ToArray()));
            var jumps = pairs.Where(p => Math.Sqrt(p.Dx * p.Dx + p.Dy * p.Dy) > NeighbourShiftDoubtfulFraction * field).ToArray();
            if (jumps.Length > 0)
            {
                var worst = jumps.MaxBy(p => p.Dx * p.Dx + p.Dy * p.Dy);
                reasons.Add(new("coarse-implausible-shift", Verdict.Doubtful,
                    F($"{jumps.Length} coarse pair(s) shift by more than {NeighbourShiftDoubtfulFraction:P0} of the field (up to {Math.Sqrt(worst.Dx * worst.Dx + worst.Dy * worst.Dy):F0} px, view {worst.View} to {worst.Neighbour}); views {Views(jumps.Select(p => p.View))}"),
                    jumps.Select(p => p.View).Distinct().Order().ToArray()));
            }
            var closures = pairs.Where(p => p.ClosurePixels is not null).ToArray();
            double limit = ClosureDoubtfulBinnedPixels * Math.Max(1, s.CoarseBin);
            var open = closures.Where(p => p.ClosurePixels > limit).ToArray();
            if (closures.Length > 0 && open.Length > WeakPairsDoubtfulFraction * closures.Length)
                reasons.Add(new("coarse-closure", Verdict.Doubtful,
                    F($"{open.Length} of {closures.Length} coarse pairs disagree with the chain by more than {limit:F1} px (worst {open.Max(p => p.ClosurePixels!.Value):F1} px): the chain is inconsistent; views {Views(open.Select(p => p.View))}"),
                    open.Select(p => p.View).Distinct().Order().ToArray()));
        }
        // The whole alignment's translation, against the median view's.
        var moved = s.Views.Select((v, i) => (v, i)).Where(t => !t.v.Excluded).ToArray();
        if (moved.Length > 0)
        {
            double mx = Median(moved.Select(t => t.v.ShiftX)), my = Median(moved.Select(t => t.v.ShiftY));
            var far = moved.Where(t => Math.Sqrt((t.v.ShiftX - mx) * (t.v.ShiftX - mx) + (t.v.ShiftY - my) * (t.v.ShiftY - my)) > TotalShiftUnreliableFraction * field)
                .Select(t => t.i).ToArray();
            if (far.Length > 0)
            {
                double worst = far.Max(i => Math.Sqrt((s.Views[i].ShiftX - mx) * (s.Views[i].ShiftX - mx) + (s.Views[i].ShiftY - my) * (s.Views[i].ShiftY - my)));
                reasons.Add(new("implausible-shift", Verdict.Unreliable,
                    F($"{far.Length} view(s) are shifted by more than half the field ({worst:F0} px of {field:F0}) from the others: {Views(far)}"), far));
            }
        }
    }

    /// <summary>
    /// Markerless landmarks: the patch tracks' own consistency (their multi-lag links), how far their correlation peaks stand
    /// above noise, and how evenly the tracks cover the views.
    /// </summary>
    /// <summary>The largest tilt-axis error measured on markerless series that passed every other check (1024², seed 301: 0.35°).</summary>
    internal const double PatchAxisErrorDegrees = 0.35;

    private static void Patches(QualitySignals s, List<QualityReason> reasons, int[] active)
    {
        // No signal here sees the systematic part of a markerless alignment's error: across the zoo, runs that passed every
        // check below were 0.42–2.14 px from the truth (1024² seed 301: links 0.31 px, peaks 3.5×, 144 tracks, 2.14 px), so a
        // markerless alignment is not called good. Most of it is the tilt axis (docs/ZOO.md, session 7): patch landmarks lie
        // near one plane, and a thick specimen's parallax inside the patches turned the solved axis by 0.13–0.35° (seeds
        // 301, 401–403 at 1024²) while a jackknife over blocks of tracks agreed to 0.03–0.04°, so no internal consistency shows
        // it. The reason states what the largest measured turn does at this field's corners.
        double corner = 0.5 * Math.Sqrt((double)s.Width * s.Width + (double)s.Height * s.Height);
        reasons.Add(new("patch-systematic", Verdict.Doubtful,
            "markerless (patch) landmarks: alignments that pass every check measured 0.4–2.1 px from the truth across the test series. " +
            "Patch landmarks lie near one plane and determine the tilt axis weakly: a thick specimen's parallax inside the patches turned it by " +
            F($"up to {PatchAxisErrorDegrees:F2}° in tests, which moves this field's corners by {corner * PatchAxisErrorDegrees * Math.PI / 180:F1} px (the tomogram turns ") +
            "nearly as a whole and blurs less); check the tomogram, or give a trusted tilt axis"));
        if (s.PatchLinkResidualPixels is { } link && link > PatchLinkDoubtfulPixels)
            reasons.Add(new("patch-links", link > PatchLinkUnreliablePixels ? Verdict.Unreliable : Verdict.Doubtful,
                F($"the patch tracks' correlations over 1 … 3 views disagree by {link:F2} px RMS (above {(link > PatchLinkUnreliablePixels ? PatchLinkUnreliablePixels : PatchLinkDoubtfulPixels):F1} px): ") +
                (link > PatchLinkUnreliablePixels
                    ? "the patches do not follow one feature each, and the alignment can be off by several pixels"
                    : "the tracks follow their features only to about a pixel")));
        if (s.PatchMedianPeakSnr is { } snr && snr < PatchPeakSnrDoubtful)
            reasons.Add(new("patch-peaks-weak", snr < PatchPeakSnrUnreliable ? Verdict.Unreliable : Verdict.Doubtful,
                F($"the patch correlation peaks stand a median {snr:F2}× above their null correlation's (below {(snr < PatchPeakSnrUnreliable ? PatchPeakSnrUnreliable : PatchPeakSnrDoubtful):F2}×): too little specimen signal for patch tracking")));
        var counts = active.Where(i => s.Views[i].Landmarks > 0).Select(i => (double)s.Views[i].Landmarks).ToArray();
        if (counts.Length == 0) return;
        double median = Median(counts);
        var thin = active.Where(i => s.Views[i].Landmarks > 0 && s.Views[i].Landmarks < PatchThinViewFraction * median).ToArray();
        var few = active.Where(i => s.Views[i].Landmarks > 0 && s.Views[i].Landmarks < PatchFewLandmarksPerView).ToArray();
        if (thin.Length > 0)
            reasons.Add(new("patch-thin-views", thin.Length > WeakViewsUnreliableFraction * active.Length ? Verdict.Unreliable : Verdict.Doubtful,
                F($"{thin.Length} view(s) keep fewer than {PatchThinViewFraction:P0} of the median view's {median:F0} patch landmarks: {Views(thin)}"), thin));
        if (few.Length > PatchFewViewsDoubtfulFraction * active.Length)
            reasons.Add(new("patch-few-landmarks", few.Length > PatchFewViewsUnreliableFraction * active.Length ? Verdict.Unreliable : Verdict.Doubtful,
                F($"{few.Length} of {active.Length} views have fewer than {PatchFewLandmarksPerView} patch landmarks (median {median:F0}): their per-view tilt and magnification are weakly determined; {Views(few)}"),
                few));
    }

    private static void Solve(QualitySignals s, List<QualityReason> reasons, int[] solvedViews)
    {
        int equations = 2 * s.Observations;
        double q = s.Unknowns > 0 ? equations / (double)s.Unknowns : double.PositiveInfinity;
        if (q <= 1)
            reasons.Add(new("underdetermined", Verdict.Unreliable,
                F($"the solve is underdetermined: {s.Observations} observations give {equations} equations for {s.Unknowns} unknowns; its residual ({s.ResidualMean:F3} px) means nothing")));
        else if (q < LowRedundancy)
            reasons.Add(new("low-redundancy", Verdict.Doubtful,
                F($"only {q:F2} equations per unknown ({s.Observations} observations, {s.Unknowns} unknowns): the fit absorbs much of any error, and the residual understates it")));

        if (q > 1 && double.IsFinite(s.ResidualRmsPerAxis))
        {
            // σ̂: the residual per axis corrected for the degrees of freedom the fit took.
            double sigma = s.ResidualRmsPerAxis / Math.Sqrt(Math.Max(1e-12, 1 - 1 / q));
            // Whole patch tracks: one 3-D point per track misfits where a patch's content changes with the tilt (a thick
            // specimen's parallax inside the patch, tracks that slide between features), and the robust solve discounts such
            // tracks; the noise the alignment inherits is the tracks' own, which their multi-lag links measure (per axis L/√2).
            bool fromLinks = s.Kind == LandmarkKind.Patches && s.PatchLinkResidualPixels is { } l && l > 0 && l / Math.Sqrt(2) < sigma;
            double noise = fromLinks ? s.PatchLinkResidualPixels!.Value / Math.Sqrt(2) : sigma;
            double predicted = Math.Sqrt(2) * noise * Math.Sqrt(s.Unknowns / (double)equations);
            if (predicted > PredictedErrorDoubtfulPixels)
                reasons.Add(new("predicted-error", predicted > PredictedErrorUnreliablePixels ? Verdict.Unreliable : Verdict.Doubtful,
                    fromLinks
                        ? F($"from the patch tracks' link noise ({noise:F2} px per axis; the residual's {sigma:F2} px includes the whole tracks' misfit) and {q:F1} equations per unknown, the alignment's own statistical error is about {predicted:F2} px")
                        : F($"from the residual (noise {sigma:F2} px per axis) and {q:F1} equations per unknown, the alignment's own statistical error is about {predicted:F2} px")));
            if (s.ExpectedCentringSigmaPixels is { } expected && expected > 0)
            {
                if (sigma > ResidualAboveBoundFactor * expected)
                    reasons.Add(new("residual-above-expected", Verdict.Doubtful,
                        F($"the residual's noise {sigma:F2} px per axis is {sigma / expected:F1}× the {expected:F3} px bound of the landmark centring: tracking errors or a model that does not fit")));
                else if (sigma < ResidualBelowBoundFactor * expected)
                    reasons.Add(new("residual-below-expected", Verdict.Doubtful,
                        F($"the residual's noise {sigma:F3} px per axis is {sigma / expected:F2}× the {expected:F3} px bound of the landmark centring, which no measurement beats: the fit absorbed the noise (too few independent observations)")));
            }
        }

        if (double.IsFinite(s.ResidualMean))
        {
            double unreliable = ResidualUnreliablePixels;
            string why = F($"{ResidualUnreliablePixels:F1} px");
            if (s.Kind == LandmarkKind.Beads && s.LandmarkSizePixels is { } d && d / 2 < unreliable)
            {
                unreliable = d / 2;
                why = F($"the bead radius {d / 2:F1} px");
            }
            if (s.ResidualMean > unreliable)
                reasons.Add(new("residual-large", Verdict.Unreliable,
                    F($"residual mean {s.ResidualMean:F2} px (RMS {s.ResidualRms:F2}) is above {why}: the landmarks are not where the solved geometry puts them")));
            else if (s.ResidualMean > ResidualDoubtfulPixels)
                reasons.Add(new("residual-large", Verdict.Doubtful,
                    F($"residual mean {s.ResidualMean:F2} px (RMS {s.ResidualRms:F2}) is above {ResidualDoubtfulPixels:F1} px (good landmarks give a few tenths)")));
            if (s.ResidualMean > 0 && s.ResidualRms > HeavyTailRatio * s.ResidualMean)
                reasons.Add(new("residual-outliers", Verdict.Doubtful,
                    F($"residual RMS {s.ResidualRms:F2} px is {s.ResidualRms / s.ResidualMean:F1}× the mean {s.ResidualMean:F2} px: a few observations are far off")));
        }
        if (s.FlaggedFraction > FlaggedDoubtfulFraction)
            reasons.Add(new("many-outliers", Verdict.Doubtful, F($"the robust solve flagged {s.FlaggedFraction:P0} of the observations as outliers")));
        if (!s.Converged)
            reasons.Add(new("not-converged", Verdict.Doubtful, "the solve stopped at its iteration limit without converging"));

        Parameters(s, reasons, solvedViews);
    }

    private static void Parameters(QualitySignals s, List<QualityReason> reasons, int[] solved)
    {
        if (solved.Length == 0) return;
        var rot = solved.Select(i => s.Views[i].SolvedRotation).ToArray();
        if (rot.All(r => r is not null))
        {
            double median = Median(rot.Select(r => r!.Value));
            double Dev(int i) => Math.Abs(Wrap(s.Views[i].SolvedRotation!.Value - median));
            var off = solved.Where(i => Dev(i) > RotationDeviationDoubtfulDegrees).ToArray();
            if (off.Length > 0)
            {
                double worst = off.Max(Dev);
                int at = off.MaxBy(Dev);
                reasons.Add(new("rotation-drift", worst > RotationDeviationUnreliableDegrees ? Verdict.Unreliable : Verdict.Doubtful,
                    F($"solved rotation departs from the series' median {median:F2}° by up to {worst:F2}° (view {at}: {s.Views[at].SolvedRotation:F2}°); views {Views(off)}"), off));
            }
            var steps = new List<(int View, double Step)>();
            for (int k = 1; k < solved.Length; k++)
                if (solved[k] == solved[k - 1] + 1)
                    steps.Add((solved[k], Math.Abs(Wrap(s.Views[solved[k]].SolvedRotation!.Value - s.Views[solved[k - 1]].SolvedRotation!.Value))));
            var jumps = steps.Where(t => t.Step > RotationStepDoubtfulDegrees).ToArray();
            if (jumps.Length > 0)
                reasons.Add(new("rotation-step", Verdict.Doubtful,
                    F($"solved rotation jumps by up to {jumps.Max(t => t.Step):F2}° between neighbouring views (more than {RotationStepDoubtfulDegrees}°): views {Views(jumps.Select(t => t.View))}"),
                    jumps.Select(t => t.View).ToArray()));
            double change = Wrap(median - s.NominalAxisDegrees);
            if (Math.Abs(change) > AxisChangeNoteDegrees)
                reasons.Add(new("axis-changed", Verdict.Good,
                    F($"the solved tilt axis {median:F2}° differs from the starting {s.NominalAxisDegrees:F2}° by {change:F2}°")));
        }

        var mags = solved.Where(i => s.Views[i].SolvedMagnification is not null).ToArray();
        if (mags.Length > 0)
        {
            double Off(int i) => Math.Abs(s.Views[i].SolvedMagnification!.Value - 1);
            var bad = mags.Where(i => Off(i) > MagnificationDoubtful).ToArray();
            if (bad.Length > 0)
            {
                int at = bad.MaxBy(Off);
                reasons.Add(new("magnification", Off(at) > MagnificationUnreliable ? Verdict.Unreliable : Verdict.Doubtful,
                    F($"solved magnification outside {1 - MagnificationDoubtful:F2}–{1 + MagnificationDoubtful:F2} in {bad.Length} view(s), up to {s.Views[at].SolvedMagnification:F4} (view {at}); views {Views(bad)}"),
                    bad));
            }
        }

        var tilted = solved.Where(i => s.Views[i].SolvedTilt is not null).ToArray();
        if (tilted.Length > 1)
        {
            double offset = tilted.Average(i => s.Views[i].SolvedTilt!.Value - s.Views[i].NominalTilt);
            double Dep(int i) => Math.Abs(s.Views[i].SolvedTilt!.Value - s.Views[i].NominalTilt - offset);
            var bad = tilted.Where(i => Dep(i) > TiltDepartureDoubtfulDegrees).ToArray();
            if (bad.Length > 0)
            {
                int at = bad.MaxBy(Dep);
                reasons.Add(new("tilt-departure", Dep(at) > TiltDepartureUnreliableDegrees ? Verdict.Unreliable : Verdict.Doubtful,
                    F($"solved tilts depart from the nominal ones by up to {Dep(at):F2}° after their common offset {offset:F2}° (view {at}: {s.Views[at].SolvedTilt:F2}° for {s.Views[at].NominalTilt:F2}°); views {Views(bad)}"),
                    bad));
            }
            if (Math.Abs(offset) > TiltOffsetNoteDegrees)
                reasons.Add(new("tilt-offset", Verdict.Good, F($"the solved tilts are offset from the nominal ones by {offset:F2}° in common")));
        }
    }

    private static double Wrap(double degrees)
    {
        double d = degrees % 360;
        if (d > 180) d -= 360;
        if (d <= -180) d += 360;
        return d;
    }

    private static double Median(IEnumerable<double> values)
    {
        var v = values.Where(double.IsFinite).OrderBy(x => x).ToArray();
        if (v.Length == 0) return double.NaN;
        return v.Length % 2 == 1 ? v[v.Length / 2] : 0.5 * (v[v.Length / 2 - 1] + v[v.Length / 2]);
    }

    /// <summary>A list of views for a message: "3, 4, 5" (the first 12, then how many more).</summary>
    private static string Views(IEnumerable<int> views)
    {
        var v = views.Distinct().Order().ToArray();
        return v.Length <= 12 ? string.Join(", ", v) : string.Join(", ", v.Take(12)) + $" and {v.Length - 12} more";
    }

    private static string F(FormattableString s) => s.ToString(CultureInfo.InvariantCulture);
}
