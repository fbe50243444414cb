using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
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
    /// <summary>A candidate must be darker than the smoothed view's median by this many robust SDs.</summary>
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

public sealed record BeadTrackResult(IReadOnlyList<LandmarkObservation> Observations, int Seeded, int ReferenceView, double MeanTrackLength, IReadOnlyList<string> Warnings);

/// <summary>
/// Gold beads through a prealigned series, on the managed CPU path: candidates on the view nearest
/// zero tilt (Gaussian-smoothed minima, well contrasted, non-overlapping, away from the edges, the
/// strongest first), then each bead followed outward view by view. The next position is predicted
/// from the last two (their motion carries the parallax of the bead's height) or, for the first step,
/// from the cosine foreshortening perpendicular to the tilt axis; the darkest smoothed pixel near the
/// prediction starts a sub-pixel centre fit (<see cref="BeadCentreFit"/>); a fit that fails or wanders
/// off is a miss, and a bead missed in more than <see cref="BeadTrackOptions.MaxGap"/> views in a row
/// ends its track. Coordinates are those of the given stack (image pixels).
/// </summary>
public sealed class BeadTracker(ILogger? logger = null)
{
    private readonly ILogger _log = logger ?? NullLogger.Instance;

    public BeadTrackResult Track(ImageStack stack, IReadOnlyList<double> tiltDegrees, BeadTrackOptions o, IProgress<double>? progress = null)
    {
        ArgumentNullException.ThrowIfNull(stack);
        o.Validate();
        int nx = stack.Nx, ny = stack.Ny, nz = stack.Nz;
        if (tiltDegrees.Count != nz) throw new ArgumentException($"{tiltDegrees.Count} tilt angles for {nz} views");
        double r = o.BeadDiameter / 2;
        double sign = o.LightBeads ? -1 : 1;
        int reference = Enumerable.Range(0, nz).MinBy(i => Math.Abs(tiltDegrees[i]));
        var smoothed = new float[nz][];
        Parallel.For(0, nz, z => smoothed[z] = Smooth(stack.ReadView(z).ToArray(), nx, ny, Math.Max(0.7, r / 2), sign));

        // Seeds: local maxima of the (sign-corrected, smoothed) darkness, contrast above the threshold.
        var s0 = smoothed[reference];
        var sample = s0.Where((_, k) => k % 7 == 0).OrderBy(v => v).ToArray();
        double median = sample[sample.Length / 2];
        double mad = sample.Select(v => Math.Abs(v - median)).OrderBy(v => v).ElementAt(sample.Length / 2) * 1.4826;
        double edge = BeadCentreFit.OuterRadius(r) + 2;
        int win = Math.Max(1, (int)Math.Round(r));
        var candidates = new List<(int X, int Y, float V)>();
        for (int y = (int)edge; y < ny - edge; y++)
            for (int x = (int)edge; x < nx - edge; x++)
            {
                float v = s0[y * nx + x];
                if (v < median + o.MinimumContrastSds * mad) continue;
                bool peak = true;
                for (int dy = -win; dy <= win && peak; dy++)
                    for (int dx = -win; dx <= win; dx++)
                        if ((dx != 0 || dy != 0) && s0[(y + dy) * nx + x + dx] > v) { peak = false; break; }
                if (peak) candidates.Add((x, y, v));
            }
        double minSep = 3 * r + 4;
        var seeds = new List<(double X, double Y)>();
        foreach (var c in candidates.OrderByDescending(c => c.V))
        {
            if (seeds.Count >= o.Beads) break;
            if (seeds.Any(s => (s.X - c.X) * (s.X - c.X) + (s.Y - c.Y) * (s.Y - c.Y) < minSep * minSep)) continue;
            var fit = BeadCentreFit.Fit(stack.ReadView(reference), nx, ny, c.X, c.Y, r, !o.LightBeads);
            if (fit is { } f) seeds.Add((f.X, f.Y));
        }
        _log.LogInformation("beads: {Seeds} seeded on view {Ref} ({Candidates} candidates)", seeds.Count, reference, candidates.Count);
        var warnings = new List<string>();
        if (seeds.Count == 0)
        {
            warnings.Add("no bead was found on the view nearest zero tilt: check --bead-diameter and --light-beads");
            return new BeadTrackResult([], 0, reference, 0, warnings);
        }

        double alpha = o.TiltAxisDegrees * Math.PI / 180, ux = Math.Cos(alpha), uy = Math.Sin(alpha);
        double cx = nx / 2.0, cy = ny / 2.0;
        var positions = new (double X, double Y)?[seeds.Count, nz];
        for (int b = 0; b < seeds.Count; b++) positions[b, reference] = seeds[b];
        int done = 0;
        foreach (int dir in new[] { +1, -1 })
        {
            Parallel.For(0, seeds.Count, b =>
            {
                int misses = 0;
                for (int v = reference + dir; v >= 0 && v < nz; v += dir)
                {
                    // The last two found positions (their views) give the motion per view.
                    int last = -1, before = -1;
                    for (int w = v - dir; w >= 0 && w < nz && (w - reference) * dir >= 0; w -= dir)
                        if (positions[b, w] is not null) { if (last < 0) last = w; else { before = w; break; } }
                    if (last < 0) break;
                    var p = positions[b, last]!.Value;
                    double px, py;
                    if (before >= 0)
                    {
                        var q = positions[b, before]!.Value;
                        double steps = (double)(v - last) / (last - before);
                        px = p.X + (p.X - q.X) * steps; py = p.Y + (p.Y - q.Y) * steps;
                    }
                    else
                    {
                        double g = Math.Cos(tiltDegrees[v] * Math.PI / 180) / Math.Max(1e-6, Math.Cos(tiltDegrees[last] * Math.PI / 180));
                        double perp = (p.X - cx) * ux + (p.Y - cy) * uy;
                        px = p.X + (g - 1) * perp * ux; py = p.Y + (g - 1) * perp * uy;
                    }
                    var found = Find(stack.ReadView(v), smoothed[v], nx, ny, px, py, r, !o.LightBeads);
                    if (found is { } f && Math.Sqrt((f.X - px) * (f.X - px) + (f.Y - py) * (f.Y - py)) <= r + 3)
                    {
                        positions[b, v] = f;
                        misses = 0;
                    }
                    else if (++misses > o.MaxGap) break;
                }
                progress?.Report(Math.Min(1.0, Interlocked.Increment(ref done) / (2.0 * seeds.Count)));
            });
        }
        var obs = new List<LandmarkObservation>();
        for (int b = 0; b < seeds.Count; b++)
            for (int v = 0; v < nz; v++)
                if (positions[b, v] is { } p) obs.Add(new LandmarkObservation(b, v, p.X, p.Y));
        double meanLength = (double)obs.Count / seeds.Count;
        _log.LogInformation("beads: {Beads} tracks, {Observations} observations, mean track {Length:F1} of {Views} views", seeds.Count, obs.Count, meanLength, nz);
        return new BeadTrackResult(obs, seeds.Count, reference, meanLength, warnings);
    }

    /// <summary>
    /// The second pass (beadtrack's refit with the final model): every solved bead is projected into
    /// every view with the solved geometry, and its centre is searched again near that prediction. This
    /// re-finds beads lost on the first pass and replaces mis-tracked points; a bead the solve flagged
    /// as a whole is dropped. Coordinates as the solve's input (the same prealigned stack).
    /// </summary>
    public BeadTrackResult Refine(ImageStack stack, BeadTrackResult first, SolveResult solved, BeadTrackOptions o)
    {
        ArgumentNullException.ThrowIfNull(stack);
        ArgumentNullException.ThrowIfNull(first);
        ArgumentNullException.ThrowIfNull(solved);
        o.Validate();
        int nx = stack.Nx, ny = stack.Ny, nz = stack.Nz;
        if (solved.Views.Length != nz) throw new ArgumentException($"the solve has {solved.Views.Length} views, the stack {nz}");
        double r = o.BeadDiameter / 2, sign = o.LightBeads ? -1 : 1;
        var smoothed = new float[nz][];
        Parallel.For(0, nz, z => smoothed[z] = Smooth(stack.ReadView(z).ToArray(), nx, ny, Math.Max(0.7, r / 2), sign));
        var beads = solved.Landmarks.Where(l => !l.Flagged).ToArray();
        var found = new List<LandmarkObservation>[beads.Length];
        Parallel.For(0, beads.Length, b =>
        {
            var list = new List<LandmarkObservation>();
            var l = beads[b];
            for (int v = 0; v < nz; v++)
            {
                var (x, y) = solved.Views[v].ProjectPoint(l.X, l.Y, l.Z);
                double px = x + nx / 2.0, py = y + ny / 2.0;
                var f = Find(stack.ReadView(v), smoothed[v], nx, ny, px, py, r, !o.LightBeads, reach: 2);
                if (f is { } p && Math.Sqrt((p.X - px) * (p.X - px) + (p.Y - py) * (p.Y - py)) <= Math.Min(r, 3))
                    list.Add(new LandmarkObservation(l.Id, v, p.X, p.Y));
            }
            found[b] = list;
        });
        var obs = found.SelectMany(f => f).ToList();
        _log.LogInformation("beads, second pass: {Beads} beads, {Observations} observations (first pass {First})", beads.Length, obs.Count, first.Observations.Count);
        return new BeadTrackResult(obs, first.Seeded, first.ReferenceView, beads.Length > 0 ? (double)obs.Count / beads.Length : 0, first.Warnings);
    }

    /// <summary>The darkest smoothed pixel within r + 2 of the prediction, refined by the centre fit.</summary>
    private static (double X, double Y)? Find(ReadOnlySpan<float> view, float[] smoothed, int nx, int ny, double px, double py, double r, bool dark,
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
                float v = smoothed[y * nx + x];
                if (v > best) { best = v; bx = x; by = y; }
            }
        if (bx < 0) return null;
        var fit = BeadCentreFit.Fit(view, nx, ny, bx, by, r, dark);
        return fit is { } f ? (f.X, f.Y) : null;
    }

    /// <summary>Separable Gaussian smoothing (edges clamped), times <paramref name="sign"/> so beads are maxima.</summary>
    private static float[] Smooth(float[] v, int nx, int ny, double sigma, double sign)
    {
        int rad = (int)Math.Ceiling(3 * sigma);
        var k = new float[2 * rad + 1];
        double sum = 0;
        for (int t = -rad; t <= rad; t++) sum += k[t + rad] = (float)Math.Exp(-t * t / (2 * sigma * sigma));
        for (int t = 0; t < k.Length; t++) k[t] = (float)(k[t] / sum * -sign);
        var tmp = new float[v.Length];
        var outp = new float[v.Length];
        for (int y = 0; y < ny; y++)
            for (int x = 0; x < nx; x++)
            {
                float s = 0;
                for (int t = -rad; t <= rad; t++) s += k[t + rad] * v[y * nx + Math.Clamp(x + t, 0, nx - 1)];
                tmp[y * nx + x] = s;
            }
        for (int y = 0; y < ny; y++)
            for (int x = 0; x < nx; x++)
            {
                float s = 0;
                for (int t = -rad; t <= rad; t++) s += (k[t + rad] < 0 ? -k[t + rad] : k[t + rad]) * tmp[Math.Clamp(y + t, 0, ny - 1) * nx + x];
                outp[y * nx + x] = s;
            }
        return outp;
    }
}
