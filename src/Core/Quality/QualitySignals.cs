using Tomalign.Core.Coarse;
using Tomalign.Core.Geometry;
using Tomalign.Core.Solve;

namespace Tomalign.Core.Quality;

/// <summary>Where the landmarks came from: what their expected residual and size mean.</summary>
public enum LandmarkKind
{
    /// <summary>Gold beads found and tracked (the size is the bead diameter).</summary>
    Beads,
    /// <summary>Markerless patch tracking (the size is the patch size, when known).</summary>
    Patches,
    /// <summary>A model read from a file (--resume, `solve`): its origin is unknown.</summary>
    Model,
}

/// <summary>
/// One neighbour pair of the coarse stage: its peak strength, the strength a pair of unrelated views reaches by chance
/// with the same settings (<see cref="CorrelationNoise"/>), the translation it gave (unbinned pixels), and its closure:
/// how far its measurement lies from the chain's fit over all pairs (unbinned pixels; null when the chain has no
/// redundant pair, i.e. every pair is needed and fits exactly).
/// </summary>
public readonly record struct CoarsePairSignal(int View, int Neighbour, double Strength, double ChancePeak, double Dx, double Dy, double? ClosurePixels = null);

/// <summary>
/// One view as the quality checks see it. <paramref name="Landmarks"/>: landmarks the solve used in this view (robust
/// weight &gt; 0); <paramref name="Coverage"/>: the fraction of the field their bounding box spans (0 with fewer than two);
/// the solved values are null for a view without landmarks (the solve leaves it at its start values) or without a
/// solve; <paramref name="ShiftX"/>, <paramref name="ShiftY"/>: the translation of the whole alignment (coarse then
/// solve) at the image centre, pixels; <paramref name="Excluded"/>: left out before the solve (a blank view).
/// </summary>
public readonly record struct ViewSignal(double NominalTilt, int Landmarks, double Coverage, double ResidualMean = double.NaN,
    double? SolvedTilt = null, double? SolvedRotation = null, double? SolvedMagnification = null,
    double ShiftX = 0, double ShiftY = 0, bool Excluded = false)
{
    /// <summary>The solve determined this view (it had landmarks and a solve ran).</summary>
    public bool Solved => Landmarks > 0 && SolvedTilt is not null;
}

/// <summary>
/// Everything <see cref="QualityAssessor"/> judges, as plain numbers: tests construct it directly, the pipeline builds
/// it in one place with <see cref="From"/>. Lengths in unbinned pixels, angles in degrees.
/// </summary>
public sealed record QualitySignals
{
    public required int Width { get; init; }
    public required int Height { get; init; }
    /// <summary>The tilt axis the run started from (given or searched), degrees counter-clockwise from +Y.</summary>
    public double NominalAxisDegrees { get; init; }
    /// <summary>One entry per view, in stack order.</summary>
    public required IReadOnlyList<ViewSignal> Views { get; init; }

    /// <summary>The coarse stage's pairs; empty when it did not run in this job (resumed from a file).</summary>
    public IReadOnlyList<CoarsePairSignal> CoarsePairs { get; init; } = [];
    /// <summary>The binning the coarse stage correlated at (its closure is judged in binned pixels).</summary>
    public int CoarseBin { get; init; } = 1;

    public LandmarkKind Kind { get; init; } = LandmarkKind.Model;
    /// <summary>Bead diameter (beads) or patch size (patches), pixels; null when unknown.</summary>
    public double? LandmarkSizePixels { get; init; }
    /// <summary>The number of views each landmark the solve used is seen in.</summary>
    public IReadOnlyList<int> TrackLengths { get; init; } = [];

    /// <summary>A solve ran (false: only the coarse and landmark signals are judged).</summary>
    public bool Solved { get; init; } = true;
    public int Observations { get; init; }
    /// <summary>Free parameters of the solve after the gauge (view variables + 3 per landmark − 3).</summary>
    public int Unknowns { get; init; }
    public double ResidualMean { get; init; } = double.NaN;
    public double ResidualRms { get; init; } = double.NaN;
    /// <summary>sqrt(Σ(rx² + ry²) / (2·observations)).</summary>
    public double ResidualRmsPerAxis { get; init; } = double.NaN;
    /// <summary>Fraction of the observations the robust solve flagged as outliers.</summary>
    public double FlaggedFraction { get; init; }
    /// <summary>False when the solve stopped at its iteration limit.</summary>
    public bool Converged { get; init; } = true;
    /// <summary>
    /// The precision of one landmark position per axis (pixels) expected from the images (e.g. the bead-centre fit's
    /// shot-noise limit), when the landmark stage measured it; null: unknown, the residual is then judged by its size alone.
    /// </summary>
    public double? ExpectedCentringSigmaPixels { get; init; }

    /// <summary>
    /// Markerless: how well the patch tracks' own correlations agree (PatchTrackResult.LinkResidualPixels: RMS disagreement of
    /// the links over 1 … 3 views after each track's least-squares positions, unbinned pixels); null when unknown (resumed, or
    /// not patches).
    /// </summary>
    public double? PatchLinkResidualPixels { get; init; }
    /// <summary>Markerless: the median patch correlation peak over its null correlation's (about 1 is noise); null when unknown.</summary>
    public double? PatchMedianPeakSnr { get; init; }

    /// <summary>
    /// The signals of one alignment from the stage results: the coarse result (null when resumed; <paramref name="coarseOptions"/>
    /// the options it ran with, null for the defaults), the .prexg the landmarks were measured on (null: identity), the solve
    /// and the nominal tilts. Views the coarse stage found blank are marked excluded.
    /// </summary>
    public static QualitySignals From(int width, int height, IReadOnlyList<double> nominalTilts, double nominalAxisDegrees,
        CoarseAlignResult? coarse, IReadOnlyList<Xf>? prexg, SolveResult solve, LandmarkKind kind, double? landmarkSizePixels = null,
        CoarseAlignOptions? coarseOptions = null, double? expectedCentringSigmaPixels = null)
    {
        ArgumentNullException.ThrowIfNull(nominalTilts);
        ArgumentNullException.ThrowIfNull(solve);
        int nv = nominalTilts.Count;
        if (solve.Views.Length != nv) throw new ArgumentException($"{solve.Views.Length} solved views for {nv} tilt angles");
        if (prexg is not null && prexg.Count != nv) throw new ArgumentException($"{prexg.Count} coarse transforms for {nv} views");

        var used = solve.Points.Where(p => p.Weight > 0).ToArray();
        var blank = new HashSet<int>(coarse?.BlankViews ?? []);
        var views = new ViewSignal[nv];
        for (int i = 0; i < nv; i++)
        {
            var points = used.Where(p => p.View == i).ToArray();
            int landmarks = points.Select(p => p.Landmark).Distinct().Count();
            double coverage = 0;
            if (points.Length >= 2)
            {
                double w = points.Max(p => p.X) - points.Min(p => p.X), h = points.Max(p => p.Y) - points.Min(p => p.Y);
                coverage = Math.Clamp(w / width, 0, 1) * Math.Clamp(h / height, 0, 1);
            }
            var g = solve.Views[i];
            var whole = Xf.Product(prexg?[i] ?? Xf.Identity, g.RawToAligned());
            bool solved = landmarks > 0;
            views[i] = new ViewSignal(nominalTilts[i], landmarks, coverage, solve.PerView[i].Count > 0 ? solve.PerView[i].Mean : double.NaN,
                solved ? g.TiltDegrees : null, solved ? g.AxisAngleDegrees : null, solved ? g.Magnification : null,
                whole.Dx, whole.Dy, Excluded: blank.Contains(i));
        }

        var tracks = used.GroupBy(p => p.Landmark).Select(t => t.Select(p => p.View).Distinct().Count()).ToArray();
        return new QualitySignals
        {
            Width = width, Height = height, NominalAxisDegrees = nominalAxisDegrees, Views = views,
            CoarsePairs = coarse is null ? [] : PairSignals(coarse, prexg, width, height, nominalAxisDegrees, coarseOptions ?? new CoarseAlignOptions()),
            CoarseBin = coarse?.Bin ?? 1,
            Kind = kind, LandmarkSizePixels = landmarkSizePixels, TrackLengths = tracks,
            Solved = true, Observations = solve.ObservationCount, Unknowns = solve.Unknowns,
            ResidualMean = solve.Overall.Mean, ResidualRms = solve.Overall.Rms, ResidualRmsPerAxis = solve.RmsPerAxis,
            FlaggedFraction = solve.ObservationCount > 0 ? (double)solve.FlaggedPointCount / solve.ObservationCount : 0,
            Converged = solve.StopReason != SolveStopReason.MaxIterations,
            ExpectedCentringSigmaPixels = expectedCentringSigmaPixels,
        };
    }

    /// <summary>
    /// The coarse pairs with their chance peak (from the correlation settings the stage used) and, where the chain has more
    /// pairs than it needs (second neighbours), each pair's misfit to the chain: the measured shift t against
    /// D_ref − S·D_moving, with the axis offsets D_v = −(prexg translation of v).
    /// </summary>
    private static CoarsePairSignal[] PairSignals(CoarseAlignResult coarse, IReadOnlyList<Xf>? prexg, int width, int height, double axisDegrees,
        CoarseAlignOptions options)
    {
        int bin = Math.Max(1, coarse.Bin);
        // The filter the coarse stage actually used (it chooses one from the data unless told).
        double chance = CorrelationNoise.ExpectedPeak(CoarseAligner.CorrelationSettingsFor(Math.Max(8, width / bin), Math.Max(8, height / bin), bin, options, coarse.Filter));
        int goodViews = coarse.Prexg.Length - coarse.BlankViews.Count;
        bool redundant = coarse.Pairs.Count > goodViews - 1;
        var g = prexg ?? coarse.Prexg;
        double a = axisDegrees * Math.PI / 180, ux = Math.Cos(a), uy = Math.Sin(a);
        return coarse.Pairs.Select(p =>
        {
            double? closure = null;
            if (redundant)
            {
                double s = p.Stretch - 1;
                var (rx, ry) = (-g[p.ReferenceView].Dx, -g[p.ReferenceView].Dy);
                var (mx, my) = (-g[p.MovingView].Dx, -g[p.MovingView].Dy);
                double tx = rx - ((1 + s * ux * ux) * mx + s * ux * uy * my), ty = ry - (s * ux * uy * mx + (1 + s * uy * uy) * my);
                closure = Math.Sqrt((p.PeakDx - tx) * (p.PeakDx - tx) + (p.PeakDy - ty) * (p.PeakDy - ty));
            }
            return new CoarsePairSignal(p.View, p.Neighbour, p.Strength, chance, p.Dx, p.Dy, closure);
        }).ToArray();
    }
}
