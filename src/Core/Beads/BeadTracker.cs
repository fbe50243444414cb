using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Tomalign.Core.Backend;
using Tomalign.Core.Imaging;
using Tomalign.Core.Solve;

namespace Tomalign.Core.Beads;

/// <summary>Options of <see cref="BeadTracker"/> (beadtrack's in spirit).</summary>
public sealed record BeadTrackOptions
{
    /// <summary>Bead diameter in pixels of the stack.</summary>
    public double BeadDiameter { get; init; } = 10;
    /// <summary>Beads to seed on the view nearest zero tilt.</summary>
    public int Beads { get; init; } = 25;
    /// <summary>Tilt-axis angle in the (prealigned) stack, degrees counter-clockwise from +Y.</summary>
    public double TiltAxisDegrees { get; init; }
    /// <summary>Light beads on a dark background (default: dark beads, as gold in bright-field).</summary>
    public bool LightBeads { get; init; }
    /// <summary>A candidate must be darker than the scores view's median by this many robust SDs.</summary>
    public double MinimumContrastSds { get; init; } = 4;
    /// <summary>Views a bead may be missed in before its track ends.</summary>
    public int MaxGap { get; init; } = 2;

    public void Validate()
    {
        if (!(BeadDiameter >= 2) || !double.IsFinite(BeadDiameter)) throw new ArgumentException($"the bead diameter must be at least 2 pixels, got {BeadDiameter}");
        if (Beads < 1) throw new ArgumentException($"at least one bead must be seeded, got {Beads}");
        if (MaxGap < 0) throw new ArgumentException($"the gap must be ≥ 0 views, got {MaxGap}");
    }
}

/// <summary>
/// What <see cref="BeadTracker.Track"/> found. The positional part is the landmark set; the properties say how far to
/// trust it (for the quality verdict): beads per view, coverage, track lengths, the bead check before tracking, and
/// every problem found.
/// </summary>
public sealed record BeadTrackResult(IReadOnlyList<LandmarkObservation> Observations, int Seeded, int ReferenceView, double MeanTrackLength, IReadOnlyList<string> Warnings)
{
    /// <summary>A view with fewer beads than this cannot fix its own shift, rotation and magnification well.</summary>
    public const int MinimumBeadsPerView = 3;

    /// <summary>Observations (tracked beads) in each view, in view order; empty when nothing was tracked.</summary>
    public IReadOnlyList<int> BeadsPerView { get; init; } = [];
    /// <summary>The fraction of views with at least <see cref="MinimumBeadsPerView"/> beads (0 to 1).</summary>
    public double Coverage { get; init; }
    /// <summary>Views (0-based) with fewer than <see cref="MinimumBeadsPerView"/> beads.</summary>
    public IReadOnlyList<int> ThinViews { get; init; } = [];
    /// <summary>Each landmark's number of views, in landmark order.</summary>
    public IReadOnlyList<int> TrackLengths { get; init; } = [];
    /// <summary>Landmarks tracked through at least half the views.</summary>
    public int LongTracks { get; init; }
    /// <summary>The check that beads of the given diameter are there (contrast, best-matching diameter); null if not run.</summary>
    public BeadPresenceResult? Presence { get; init; }
    /// <summary>Heights of the tracked beads (pixels, relative): split into surfaces by the largest gap.</summary>
    public IReadOnlyList<double> Heights { get; init; } = [];
    /// <summary>Beads on the lower and upper surface (split at the largest height gap when it exceeds two bead diameters; else all on one).</summary>
    public (int Bottom, int Top) Surfaces { get; init; }
    /// <summary>How far, per view, the tracking had to move the prealignment (the shift of its map), pixels; NaN where unknown. Large values: the coarse alignment was off there.</summary>
    public IReadOnlyList<double> PrealignmentCorrections { get; init; } = [];
    /// <summary>The widest search reach used for a view's common offset, pixels.</summary>
    public int SearchReach { get; init; }
    /// <summary>True when the first tracking covered the series poorly and it was tracked again with the widest search (the better of the two is kept).</summary>
    public bool Retried { get; init; }
    /// <summary>RMS distance of the tracked points from the tracker's own 3-D model, pixels.</summary>
    public double ModelRms { get; init; }
    /// <summary>Why the bead set cannot be trusted (empty when it can): no beads, a wrong diameter, poor coverage, thin views.</summary>
    public IReadOnlyList<string> Problems { get; init; } = [];
    /// <summary>True when <see cref="Problems"/> is empty.</summary>
    public bool Reliable => Problems.Count == 0;
}

/// <summary>
/// Gold beads through a prealigned series, as IMOD's autofidseed and beadtrack do it. Before anything, a check
/// (<see cref="BeadPresenceCheck"/>) that beads of the given diameter stand out on the view nearest zero tilt, with the
/// best-matching diameter for the message when they do not. Detection: every view is correlated in one batch with a
/// model of the projected bead (the backend's template kernel); seeds are the confident peaks on the view nearest
/// zero tilt (above a threshold that follows the strongest beads' contrast), spread over the field, then the average of
/// the best beads becomes the template of a second seeding pass. Tracking (<see cref="BeadTrackRun"/>): outward from the
/// reference view, with a 3-D model of every bead and an affine map per view, a common-offset search whose reach grows
/// when the prealignment is off, windows sized from each prediction's uncertainty, local-area correction, gap filling,
/// and a refit, cleaning and rescue pass. A set that covers fewer than half the views, or leaves views with fewer than
/// <see cref="BeadTrackResult.MinimumBeadsPerView"/> beads, is tracked again with the widest search, and the problems
/// that remain are reported in <see cref="BeadTrackResult.Problems"/>. Coordinates are those of the given stack.
/// </summary>
public sealed class BeadTracker(ITemplateCorrelator correlator, ILogger? logger = null)
{
    private readonly ITemplateCorrelator _correlator = correlator ?? throw new ArgumentNullException(nameof(correlator));
    private readonly ILogger _log = logger ?? NullLogger.Instance;

    public BeadTrackResult Track(ImageStack stack, IReadOnlyList<double> tiltDegrees, BeadTrackOptions o, IProgress<double>? progress = null)
    {
        ArgumentNullException.ThrowIfNull(stack);
        ArgumentNullException.ThrowIfNull(tiltDegrees);
        o.Validate();
        int nx = stack.Nx, ny = stack.Ny, nz = stack.Nz;
        if (tiltDegrees.Count != nz) throw new ArgumentException($"{tiltDegrees.Count} tilt angles for {nz} views");
        double r = o.BeadDiameter / 2;
        int reference = Enumerable.Range(0, nz).MinBy(i => Math.Abs(tiltDegrees[i]));
        var warnings = new List<string>();

        // 0. Are beads of this diameter there at all?
        var presence = BeadPresenceCheck.Run(_correlator, stack.ReadView(reference), nx, ny, o.BeadDiameter, o.LightBeads);
        _log.LogInformation("beads: contrast {C:F1} SDs at {D} px; best {B:F1} px ({BC:F1} SDs)", presence.Contrast, o.BeadDiameter, presence.BestDiameter, presence.BestContrast);
        if (presence.Presence == BeadPresence.Present && Math.Max(presence.BestDiameter / o.BeadDiameter, o.BeadDiameter / presence.BestDiameter) > BeadPresenceCheck.DiameterTolerance)
            warnings.Add($"the beads look about {presence.BestDiameter:F0} px across (matched-filter contrast {presence.BestContrast:F0} SDs there, " +
                         $"{presence.Contrast:F0} at --bead-diameter {o.BeadDiameter:G4}): a closer diameter tracks better");
        if (presence.Presence != BeadPresence.Present)
        {
            warnings.Add($"{presence.Problem}: {presence.Fix}");
            return Empty(reference, warnings, presence, nz);
        }

        // 1. Detection and seeds.
        var scores = ModelScores(stack, r, o.LightBeads);
        int size = ModelSize(r);
        var seeds = Seeds(scores[reference], scores[reference], stack.ReadView(reference), nx, ny, r, o, out double seedContrast);
        // Second pass (as Dynamo does): the average of the best beads as the template, seeds again on the reference view.
        if (seeds.Count >= 3)
        {
            var averaged = AverageTemplate(stack.ReadView(reference), nx, ny, seeds.Take(10).ToList(), size);
            if (averaged is not null)
            {
                var second = Correlate(stack, averaged, size, reference);
                var reseeded = Seeds(second, scores[reference], stack.ReadView(reference), nx, ny, r, o, out _);
                if (reseeded.Count >= seeds.Count) seeds = reseeded;
            }
        }
        _log.LogInformation("beads: {Seeds} seeded on view {Ref} (contrast of the strongest {C:F1} SDs)", seeds.Count, reference, seedContrast);
        if (seeds.Count == 0)
        {
            warnings.Add("no bead was found on the view nearest zero tilt: check --bead-diameter and --light-beads");
            return Empty(reference, warnings, presence, nz);
        }

        // 2. Tracking; again with the widest search when the first covers the series poorly.
        var run = new BeadTrackRun(stack, scores, tiltDegrees, o, reference, seeds, seedContrast, wide: false, _log);
        run.Run(progress is null ? null : new ScaledProgress(progress, 0, 0.5));
        var result = Summarise(run, seeds.Count, reference, nz, presence, warnings, retried: false);
        if (!result.Reliable && nz > 1)
        {
            _log.LogInformation("beads: {Problems}; tracking again with the widest search", string.Join("; ", result.Problems));
            var wide = new BeadTrackRun(stack, scores, tiltDegrees, o, reference, seeds, seedContrast, wide: true, _log);
            wide.Run(progress is null ? null : new ScaledProgress(progress, 0.5, 0.5));
            var again = Summarise(wide, seeds.Count, reference, nz, presence, warnings, retried: true);
            result = Better(again, result) ? again : result with { Retried = true };
        }
        progress?.Report(1.0);
        foreach (var problem in result.Problems) _log.LogWarning("beads: {Problem}", problem);
        _log.LogInformation("beads: {Beads} tracks, {Observations} observations, mean track {Length:F1} of {Views} views, coverage {Coverage:P0}",
            result.TrackLengths.Count, result.Observations.Count, result.MeanTrackLength, nz, result.Coverage);
        return result;
    }

    private static bool Better(BeadTrackResult a, BeadTrackResult b) =>
        a.Problems.Count < b.Problems.Count || (a.Problems.Count == b.Problems.Count && (a.Coverage > b.Coverage || (a.Coverage == b.Coverage && a.Observations.Count > b.Observations.Count)));

    private static BeadTrackResult Empty(int reference, List<string> warnings, BeadPresenceResult presence, int nz) =>
        new([], 0, reference, 0, warnings)
        {
            Presence = presence, BeadsPerView = new int[nz], ThinViews = Enumerable.Range(0, nz).ToArray(),
            Problems = [presence.Problem is { } p ? $"{p}: {presence.Fix}" : "no bead was found on the view nearest zero tilt"],
        };

    /// <summary>The run's tracks as observations (beads in fewer than 3 views, or dropped, left out) and the measures of trust.</summary>
    private static BeadTrackResult Summarise(BeadTrackRun run, int seeded, int reference, int nz, BeadPresenceResult presence, List<string> warnings, bool retried)
    {
        var pos = run.Positions;
        var obs = new List<LandmarkObservation>();
        var lengths = new List<int>();
        int id = 0;
        for (int b = 0; b < seeded; b++)
        {
            if (run.IsDropped(b)) continue;
            int n = Enumerable.Range(0, nz).Count(v => pos[b, v] is not null);
            if (n < Math.Min(3, nz)) continue;
            for (int v = 0; v < nz; v++)
                if (pos[b, v] is { } p) obs.Add(new LandmarkObservation(id, v, p.X, p.Y));
            lengths.Add(n);
            id++;
        }
        var perView = new int[nz];
        foreach (var q in obs) perView[q.View]++;
        int need = BeadTrackResult.MinimumBeadsPerView;
        var thin = Enumerable.Range(0, nz).Where(v => perView[v] < need).ToArray();
        double coverage = (double)(nz - thin.Length) / nz;
        int longTracks = lengths.Count(l => 2 * l >= nz);
        var problems = new List<string>();
        if (lengths.Count == 0) problems.Add("no bead could be tracked beyond the view nearest zero tilt");
        else
        {
            if (coverage < 0.5) problems.Add($"the beads cover only {nz - thin.Length} of {nz} views with {need} or more beads");
            else if (thin.Length > 0) problems.Add($"{thin.Length} view(s) have fewer than {need} beads: {string.Join(", ", thin.Take(12))}{(thin.Length > 12 ? ", …" : "")}");
            if (longTracks < need) problems.Add($"only {longTracks} bead(s) are tracked through half the views or more");
        }
        var heights = run.KnownHeights.ToArray();
        var sorted = heights.OrderBy(z => z).ToArray();
        double gap = 0; int at = -1;
        for (int k = 1; k < sorted.Length; k++)
            if (sorted[k] - sorted[k - 1] > gap) { gap = sorted[k] - sorted[k - 1]; at = k; }
        double diameter = 2 * presence.GivenDiameter;
        var surfaces = at >= 0 && gap >= diameter ? (at, sorted.Length - at) : (sorted.Length, 0);
        return new BeadTrackResult(obs, seeded, reference, lengths.Count > 0 ? (double)obs.Count / lengths.Count : 0, warnings.Concat(problems).ToArray())
        {
            BeadsPerView = perView, Coverage = coverage, ThinViews = thin, TrackLengths = lengths, LongTracks = longTracks, Presence = presence,
            Heights = heights, Surfaces = surfaces, PrealignmentCorrections = run.MapShifts, SearchReach = run.WidestReach, Retried = retried,
            ModelRms = run.ModelRms, Problems = problems,
        };
    }

    /// <summary>
    /// The second pass (beadtrack's refit with the final model): every solved bead is projected into
    /// every view with the solved geometry, and its centre is searched again near that prediction. This
    /// re-finds beads lost on the first pass and replaces mis-tracked points; a landmark whose median
    /// residual is above both 1 px and 3× the overall median (not a bead) is dropped. Coordinates as the solve's input (the same prealigned stack).
    /// </summary>
    public BeadTrackResult Refine(ImageStack stack, BeadTrackResult first, SolveResult solved, BeadTrackOptions o)
    {
        ArgumentNullException.ThrowIfNull(stack);
        ArgumentNullException.ThrowIfNull(first);
        ArgumentNullException.ThrowIfNull(solved);
        o.Validate();
        int nx = stack.Nx, ny = stack.Ny, nz = stack.Nz;
        if (solved.Views.Length != nz) throw new ArgumentException($"the solve has {solved.Views.Length} views, the stack {nz}");
        double r = o.BeadDiameter / 2;
        var scores = ModelScores(stack, r, o.LightBeads);
        // Only landmarks that clearly are not beads go: a median residual above 1 px and 3× the overall median
        // (a median, so that a bead mis-tracked in a few views, which this pass repairs, stays).
        static double Median(IEnumerable<double> v) { var a = v.OrderBy(x => x).ToArray(); return a.Length == 0 ? 0 : a[a.Length / 2]; }
        double limit = Math.Max(1.0, 3 * Median(solved.Points.Select(q => q.Magnitude)));
        var medians = solved.Points.GroupBy(q => q.Landmark).ToDictionary(g => g.Key, g => Median(g.Select(q => q.Magnitude)));
        var beads = solved.Landmarks.Where(l => !(medians.GetValueOrDefault(l.Id) > limit)).ToArray();
        var found = new List<LandmarkObservation>[beads.Length];
        Parallel.For(0, beads.Length, b =>
        {
            var list = new List<LandmarkObservation>();
            var l = beads[b];
            for (int v = 0; v < nz; v++)
            {
                var (x, y) = solved.Views[v].ProjectPoint(l.X, l.Y, l.Z);
                double px = x + nx / 2.0, py = y + ny / 2.0;
                var f = Find(stack.ReadView(v), scores[v], nx, ny, px, py, r, !o.LightBeads, reach: 2);
                if (f is { } p && Math.Sqrt((p.X - px) * (p.X - px) + (p.Y - py) * (p.Y - py)) <= Math.Min(r, 3))
                    list.Add(new LandmarkObservation(l.Id, v, p.X, p.Y));
            }
            found[b] = list;
        });
        var obs = found.SelectMany(f => f).ToList();
        _log.LogInformation("beads, second pass: {Beads} beads, {Observations} observations (first pass {First})", beads.Length, obs.Count, first.Observations.Count);
        return new BeadTrackResult(obs, first.Seeded, first.ReferenceView, beads.Length > 0 ? (double)obs.Count / beads.Length : 0, first.Warnings);
    }

    /// <summary>The best score within r + 2 of the prediction, checked by the centre fit, at its sub-pixel peak.</summary>
    private static (double X, double Y)? Find(ReadOnlySpan<float> view, float[] scores, int nx, int ny, double px, double py, double r, bool dark,
        int reach = -1)
    {
        if (reach < 0) reach = (int)Math.Ceiling(r + 2);
        int x0 = (int)Math.Round(px), y0 = (int)Math.Round(py);
        double edge = BeadCentreFit.OuterRadius(r) + 1;
        float best = float.NegativeInfinity; int bx = -1, by = -1;
        for (int y = y0 - reach; y <= y0 + reach; y++)
            for (int x = x0 - reach; x <= x0 + reach; x++)
            {
                if (x < edge || y < edge || x > nx - 1 - edge || y > ny - 1 - edge) continue;
                float v = scores[y * nx + x];
                if (v > best) { best = v; bx = x; by = y; }
            }
        if (bx < 0) return null;
        // A bead at all: the centre fit must find a positive (dark, or light) signal there.
        if (BeadCentreFit.Fit(view, nx, ny, bx, by, r, dark) is null) return null;
        return SubPixelPeak(scores, nx, bx, by);
    }

    /// <summary>
    /// Splits solved beads into two surfaces (autofidseed -TwoSurfaces, as IMOD marks them: contour surface
    /// 1 = bottom, 2 = top) at the largest gap between consecutive heights, when that gap is at least
    /// <paramref name="minimumGap"/> pixels; otherwise every bead is on surface 1.
    /// </summary>
    public static (Dictionary<int, int> Surface, double Gap) SplitSurfaces(IReadOnlyList<SolvedLandmark> beads, double minimumGap)
    {
        var sorted = beads.OrderBy(b => b.Z).ToArray();
        double gap = 0; int at = -1;
        for (int k = 1; k < sorted.Length; k++)
            if (sorted[k].Z - sorted[k - 1].Z > gap) { gap = sorted[k].Z - sorted[k - 1].Z; at = k; }
        var surface = new Dictionary<int, int>();
        for (int k = 0; k < sorted.Length; k++) surface[sorted[k].Id] = at >= 0 && gap >= minimumGap && k >= at ? 2 : 1;
        return (surface, gap);
    }

    /// <summary>
    /// The sub-pixel maximum of a score map near integer (bx, by): a parabola through the peak and its
    /// neighbours along x and along y. On the bead-model score this is the matched-filter estimate:
    /// measured on the simulated 512² series at 20 e/px, 0.13 px RMS against the truth where the
    /// centroid fit gives 0.36 px (100 % against 86 % of isolated bead images within 0.5 px).
    /// </summary>
    internal static (double X, double Y)? SubPixelPeak(float[] scores, int nx, int bx, int by)
    {
        float c = scores[by * nx + bx];
        float l = scores[by * nx + bx - 1], rr = scores[by * nx + bx + 1];
        float u = scores[(by - 1) * nx + bx], d = scores[(by + 1) * nx + bx];
        double ax = l - 2.0 * c + rr, ay = u - 2.0 * c + d;
        if (!(ax < 0) || !(ay < 0)) return null;
        double dx = (l - rr) / (2 * ax), dy = (u - d) / (2 * ay);
        if (Math.Abs(dx) > 1 || Math.Abs(dy) > 1) return null;
        return (bx + dx, by + dy);
    }

    /// <summary>
    /// Local maxima of <paramref name="sign"/>·score (within ±<paramref name="window"/>) at or beyond <paramref name="limit"/>
    /// (in the same sense), at least <paramref name="edge"/> from the border.
    /// </summary>
    internal static List<(int X, int Y, float V)> LocalMaxima(float[] score, int nx, int ny, int edge, int window, float sign, double limit)
    {
        var found = new List<(int X, int Y, float V)>[ny];
        Parallel.For(edge, Math.Max(edge, ny - edge), y =>
        {
            var row = new List<(int X, int Y, float V)>();
            for (int x = edge; x < nx - edge; x++)
            {
                float v = score[y * nx + x];
                if (sign * v < sign * limit) continue;
                bool peak = true;
                for (int dy = -window; dy <= window && peak; dy++)
                {
                    int yy = y + dy;
                    if (yy < 0 || yy >= ny) continue;
                    for (int dx = -window; dx <= window; dx++)
                    {
                        int xx = x + dx;
                        if ((dx == 0 && dy == 0) || xx < 0 || xx >= nx) continue;
                        if (sign * score[yy * nx + xx] > sign * v) { peak = false; break; }
                    }
                }
                if (peak) row.Add((x, y, v));
            }
            found[y] = row;
        });
        return found.Where(l => l is not null).SelectMany(l => l).ToList();
    }

    /// <summary>
    /// Seeds on one view's score map: local maxima (window ±r), away from the edges, at least 3r + 4 apart, each placed at
    /// the sub-pixel peak of <paramref name="positionScore"/> (the bead-model map: the averaged template's centre may be off
    /// by a fraction of a pixel) and accepted by the centre fit. Confident peaks only: above median + k·robust SD of the
    /// map, k the larger of <see cref="BeadTrackOptions.MinimumContrastSds"/> and a third of the typical contrast of the
    /// strongest five peaks (with strong gold, weaker texture does not seed). Spread over the field: the field is cut into
    /// about as many cells as beads asked for, and each round takes the strongest remaining peak of every cell.
    /// </summary>
    private static List<(double X, double Y)> Seeds(float[] score, float[] positionScore, ReadOnlySpan<float> view, int nx, int ny, double r, BeadTrackOptions o, out double contrast)
    {
        var (median, sd) = BeadPresenceCheck.RobustStats(score);
        int edge = (int)Math.Ceiling(BeadCentreFit.OuterRadius(r) + 2);
        int win = Math.Max(1, (int)Math.Round(r));
        var candidates = LocalMaxima(score, nx, ny, edge, win, 1, median + o.MinimumContrastSds * sd).OrderByDescending(c => c.V).ToList();
        double minSep = 3 * r + 4;
        // Non-overlapping candidates, strongest first.
        var separated = new List<(int X, int Y, float V)>();
        foreach (var c in candidates)
            if (!separated.Any(s => (s.X - c.X) * (s.X - c.X) + (s.Y - c.Y) * (s.Y - c.Y) < minSep * minSep)) separated.Add(c);
        contrast = separated.Count == 0 ? 0 : (separated[Math.Min(separated.Count - 1, 2)].V - median) / sd;
        double limit = median + Math.Max(o.MinimumContrastSds, contrast / 3) * sd;
        var confident = separated.Where(c => c.V >= limit).ToList();
        int cells = Math.Max(1, (int)Math.Ceiling(Math.Sqrt(o.Beads)));
        var byCell = confident.GroupBy(c => (Math.Min(cells - 1, c.X * cells / nx), Math.Min(cells - 1, c.Y * cells / ny)))
            .Select(g => new Queue<(int X, int Y, float V)>(g.OrderByDescending(c => c.V))).ToList();
        var seeds = new List<(double X, double Y)>();
        var view1 = view.ToArray();
        while (seeds.Count < o.Beads && byCell.Any(q => q.Count > 0))
        {
            // One round: the strongest remaining of each cell, strongest cells first.
            var round = byCell.Where(q => q.Count > 0).Select(q => q.Dequeue()).OrderByDescending(c => c.V).ToList();
            foreach (var c in round)
            {
                if (seeds.Count >= o.Beads) break;
                var found = Find(view1, positionScore, nx, ny, c.X, c.Y, r, !o.LightBeads, reach: 2);
                if (found is { } f) seeds.Add(f);
            }
        }
        return seeds;
    }

    /// <summary>
    /// The projected bead, 2·√(r² − d²) (4×4 sub-samples per pixel), negated for dark beads, made zero-mean
    /// and unit-norm over a square of side 2·⌈r + 1.5⌉ + 1: correlation with it peaks on beads.
    /// </summary>
    public static float[] BeadModel(double r, bool lightBeads, out int size)
    {
        size = ModelSize(r);
        int h = size / 2;
        var t = new double[size * size];
        for (int j = 0; j < size; j++)
            for (int i = 0; i < size; i++)
            {
                double sum = 0;
                for (int sj = 0; sj < 4; sj++)
                    for (int si = 0; si < 4; si++)
                    {
                        double dx = i - h + (si + 0.5) / 4 - 0.5, dy = j - h + (sj + 0.5) / 4 - 0.5, q = r * r - dx * dx - dy * dy;
                        if (q > 0) sum += 2 * Math.Sqrt(q);
                    }
                t[j * size + i] = (lightBeads ? 1 : -1) * sum / 16;
            }
        return Normalise(t);
    }

    /// <summary>The side of the bead template: 2·⌈r + 1.5⌉ + 1.</summary>
    public static int ModelSize(double r) => 2 * (int)Math.Ceiling(r + 1.5) + 1;

    private static float[] Normalise(double[] t)
    {
        double mean = t.Average();
        double norm = Math.Sqrt(t.Sum(v => (v - mean) * (v - mean)));
        return t.Select(v => (float)(norm > 0 ? (v - mean) / norm : 0)).ToArray();
    }

    /// <summary>The mean of the views around the given bead centres (rounded), zero-mean and unit-norm; null if none fits.</summary>
    private static float[]? AverageTemplate(ReadOnlySpan<float> view, int nx, int ny, List<(double X, double Y)> centres, int size)
    {
        int h = size / 2;
        var sum = new double[size * size];
        int used = 0;
        foreach (var (x, y) in centres)
        {
            int cx = (int)Math.Round(x), cy = (int)Math.Round(y);
            if (cx - h < 0 || cy - h < 0 || cx + h >= nx || cy + h >= ny) continue;
            for (int j = 0; j < size; j++)
                for (int i = 0; i < size; i++) sum[j * size + i] += view[(cy - h + j) * nx + cx - h + i];
            used++;
        }
        return used == 0 ? null : Normalise(sum);
    }

    // The bead-model scores of the last stack: Refine after Track on the same stack reuses them.
    private (ImageStack Stack, double Radius, bool Light, float[][] Scores)? _modelScores;

    /// <summary>Every view's score against the bead model (computed once per stack, radius and polarity).</summary>
    private float[][] ModelScores(ImageStack stack, double r, bool lightBeads)
    {
        if (_modelScores is { } c && ReferenceEquals(c.Stack, stack) && c.Radius == r && c.Light == lightBeads) return c.Scores;
        var model = BeadModel(r, lightBeads, out int size);
        var scores = Correlate(stack, model, size);
        _modelScores = (stack, r, lightBeads, scores);
        return scores;
    }

    /// <summary>One view correlated with the template.</summary>
    private float[] Correlate(ImageStack stack, float[] template, int size, int view)
    {
        var one = new float[stack.ViewLength];
        _correlator.Correlate(stack.ReadView(view), stack.Nx, stack.Ny, 1, template, size, one);
        return one;
    }

    /// <summary>Views correlated with the template in batches (the backend's kernel), as one score map per view.</summary>
    private float[][] Correlate(ImageStack stack, float[] template, int size)
    {
        // Batches of up to 256 MB of output, so the maps are not held twice for a whole large stack.
        int n = stack.ViewLength, batch = (int)Math.Clamp((256L << 20) / (4L * n), 1, stack.Nz);
        var buffer = new float[(long)batch * n];
        var maps = new float[stack.Nz][];
        for (int z0 = 0; z0 < stack.Nz; z0 += batch)
        {
            int count = Math.Min(batch, stack.Nz - z0);
            var output = buffer.AsSpan(0, count * n);
            _correlator.Correlate(stack.Data.AsSpan(z0 * n, count * n), stack.Nx, stack.Ny, count, template, size, output);
            for (int k = 0; k < count; k++) maps[z0 + k] = output.Slice(k * n, n).ToArray();
        }
        return maps;
    }
}

/// <summary>
/// Progress passed on at once, on the caller's thread, as offset + scale·p. (System.Progress posts to the thread pool:
/// a report that throws there — a cancelled command's progress line does — ends the process instead of the work.)
/// </summary>
internal sealed class ScaledProgress(IProgress<double> inner, double offset, double scale) : IProgress<double>
{
    public void Report(double value) => inner.Report(offset + scale * value);
}
