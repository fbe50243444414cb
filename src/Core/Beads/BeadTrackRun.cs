using Microsoft.Extensions.Logging;
using Tomalign.Core.Geometry;
using Tomalign.Core.Imaging;

namespace Tomalign.Core.Beads;

/// <summary>
/// One tracking of seeded beads through a prealigned series (the work of <see cref="BeadTracker.Track"/>), beadtrack's
/// way: every bead has a 3-D position (s across the tilt axis, t along it, z its height) and every view a 2-D affine map
/// (what the prealignment left: shift, rotation, magnification, stretch) from the ideal projection
/// (s·cos θ + z·sin θ across the axis, t along it) to the image. Views are taken from the one nearest zero tilt outward,
/// alternating sides; in each the map is first searched as the common offset that best puts every bead's predicted
/// image on the bead-model score (over a reach sized from how far the maps have jumped so far, widened when too few
/// beads are found), then each bead is searched in a window sized from its prediction's uncertainty (wide across the
/// axis while its height is unknown), the map is fitted to the beads found, each prediction is corrected by the
/// residuals of its neighbours (the local area), and the beads are searched again in tight windows. A bead missed in a
/// view keeps its 3-D position and is predicted on (gap filling). After the pass every map and bead is refitted to all
/// observations, points that do not fit are dropped, and lost beads are rescued: each missing view is searched at the
/// model's prediction, and a bead tracked in few views has its height searched anew over all views.
/// </summary>
internal sealed class BeadTrackRun
{
    private readonly ImageStack _stack;
    private readonly float[][] _scores;
    private readonly double[] _cos, _sin;
    private readonly BeadTrackOptions _o;
    private readonly double _r;
    private readonly int _nx, _ny, _nz, _reference;
    private readonly double _cx, _cy;
    private readonly (double X, double Y) _ep, _ea;
    private readonly double[] _median, _sd;
    private readonly double _edge;
    /// <summary>Normalised score a bead image must reach (robust SDs of its view's score map).</summary>
    private readonly double _threshold;
    /// <summary>Normalised scores are clipped here in sums, so one very dark object cannot outvote many beads.</summary>
    private readonly double _cap;
    private readonly bool _wide;
    private readonly ILogger _log;

    private readonly int _nb;
    private readonly (double X, double Y)?[,] _pos;
    private readonly Xf?[] _map;
    private readonly double[] _mapRms;
    private readonly Bead3[] _bead;
    private double _zPrior, _zHalf;
    private readonly List<double> _jumps = [];

    /// <summary>The widest common-offset reach searched, pixels.</summary>
    public int WidestReach { get; private set; }

    private sealed class Bead3
    {
        public double S, T, Z;
        public bool ZKnown;
        // Inverse normal matrix of (s, z), for the uncertainty of predictions.
        public double I11, I12, I22;
        public double MeanSin;
        public bool Dropped;
    }

    public BeadTrackRun(ImageStack stack, float[][] scores, IReadOnlyList<double> tiltDegrees, BeadTrackOptions o, int reference,
        IReadOnlyList<(double X, double Y)> seeds, double seedContrast, bool wide, ILogger log)
    {
        _log = log;
        _stack = stack; _scores = scores; _o = o; _r = o.BeadDiameter / 2; _wide = wide;
        _nx = stack.Nx; _ny = stack.Ny; _nz = stack.Nz; _reference = reference;
        _cx = _nx / 2.0; _cy = _ny / 2.0;
        double alpha = o.TiltAxisDegrees * Math.PI / 180;
        _ep = (Math.Cos(alpha), Math.Sin(alpha));
        _ea = (-Math.Sin(alpha), Math.Cos(alpha));
        _cos = tiltDegrees.Select(t => Math.Cos(t * Math.PI / 180)).ToArray();
        _sin = tiltDegrees.Select(t => Math.Sin(t * Math.PI / 180)).ToArray();
        _median = new double[_nz]; _sd = new double[_nz];
        Parallel.For(0, _nz, v => (_median[v], _sd[v]) = BeadPresenceCheck.RobustStats(scores[v]));
        _edge = BeadCentreFit.OuterRadius(_r) + 1;
        _threshold = Math.Clamp(0.25 * seedContrast, 3, o.MinimumContrastSds);
        _cap = Math.Max(2 * _threshold, 2 * seedContrast);
        _nb = seeds.Count;
        _pos = new (double X, double Y)?[_nb, _nz];
        _map = new Xf?[_nz];
        _mapRms = new double[_nz];
        _map[reference] = Xf.Identity;
        _mapRms[reference] = 0.3;
        _bead = new Bead3[_nb];
        for (int b = 0; b < _nb; b++)
        {
            _pos[b, reference] = seeds[b];
            _bead[b] = new Bead3();
        }
        // Heights are unknown at first: anything up to 0.4 of the field's larger side either way (a specimen as thick as
        // 0.8 of the field); narrowed to what the tracked beads show once enough are known.
        _zHalf = 0.4 * Math.Max(_nx, _ny);
        _zPrior = 0;
        for (int b = 0; b < _nb; b++) FitBead(b);
    }

    /// <summary>The tracked positions, [bead, view].</summary>
    public (double X, double Y)?[,] Positions => _pos;

    /// <summary>The per-view correction of the prealignment the tracking found (its shift), pixels; NaN where unknown.</summary>
    public double[] MapShifts => _map.Select(m => m is { } x ? Math.Sqrt(x.Dx * x.Dx + x.Dy * x.Dy) : double.NaN).ToArray();

    /// <summary>Heights of beads with a known height (the same units as the image), for the surface count.</summary>
    public IEnumerable<double> KnownHeights => _bead.Where(b => b.ZKnown && !b.Dropped).Select(b => b.Z);

    /// <summary>RMS of observations about the model, pixels.</summary>
    public double ModelRms { get; private set; }

    public void Run(IProgress<double>? progress)
    {
        // Outward from the reference, alternating sides, so both sides fix the heights early.
        var order = new List<(int View, int Dir)>();
        for (int k = 1; k < _nz; k++)
        {
            if (_reference + k < _nz) order.Add((_reference + k, +1));
            if (_reference - k >= 0) order.Add((_reference - k, -1));
        }
        var misses = new int[_nb, 2];
        int done = 0;
        foreach (var (v, dir) in order)
        {
            TrackView(v, dir, misses);
            progress?.Report(0.8 * ++done / Math.Max(1, order.Count));
        }
        GlobalPass();
        progress?.Report(0.9);
        Rescue();
        GlobalPass();
        progress?.Report(1.0);
    }

    // ───────────────────────── geometry ─────────────────────────

    private (double X, double Y) Ideal(int b, int v)
    {
        var q = _bead[b];
        double perp = q.S * _cos[v] + q.Z * _sin[v];
        return (_ep.X * perp + _ea.X * q.T, _ep.Y * perp + _ea.Y * q.T);
    }

    private (double X, double Y) Predict(int b, int v, Xf map)
    {
        var (x, y) = map.ApplyCentred(Ideal(b, v).X, Ideal(b, v).Y);
        return (x + _cx, y + _cy);
    }

    /// <summary>Half-width of a prediction's uncertainty across the tilt axis from the bead's own model: 3 SDs, or with the height unknown the whole height range.</summary>
    private double PerpSigma(int b, int v)
    {
        var q = _bead[b];
        if (!q.ZKnown) return _zHalf * Math.Abs(_sin[v] - q.MeanSin) + 0.5;
        return 3 * PerpSd(b, v);
    }

    private double PerpSd(int b, int v)
    {
        var q = _bead[b];
        const double s0 = 0.4;
        double c = _cos[v], s = _sin[v];
        return s0 * Math.Sqrt(Math.Max(0, c * c * q.I11 + 2 * c * s * q.I12 + s * s * q.I22));
    }

    private bool Inside(double x, double y) => x >= _edge && y >= _edge && x <= _nx - 1 - _edge && y <= _ny - 1 - _edge;

    private double Norm(int v, int x, int y) => (_scores[v][y * _nx + x] - _median[v]) / _sd[v];

    /// <summary>Fits the bead's (s, t, z) to its observations in views whose map is known.</summary>
    private void FitBead(int b)
    {
        var q = _bead[b];
        double cc = 0, cs = 0, ss = 0, pc = 0, ps = 0, st = 0, smin = double.PositiveInfinity, smax = double.NegativeInfinity, ssum = 0;
        int n = 0;
        var perps = new List<(double Perp, int View)>();
        for (int v = 0; v < _nz; v++)
        {
            if (_pos[b, v] is not { } p || _map[v] is not { } m) continue;
            var (x, y) = m.Inverse().ApplyCentred(p.X - _cx, p.Y - _cy);
            double perp = x * _ep.X + y * _ep.Y, along = x * _ea.X + y * _ea.Y;
            double c = _cos[v], s = _sin[v];
            cc += c * c; cs += c * s; ss += s * s; pc += perp * c; ps += perp * s; st += along;
            smin = Math.Min(smin, s); smax = Math.Max(smax, s); ssum += s;
            perps.Add((perp, v));
            n++;
        }
        if (n == 0) return;
        q.T = st / n;
        q.MeanSin = ssum / n;
        double det = cc * ss - cs * cs;
        // The height is known once the views span enough tilt that a pixel across the axis is ~20 px of height at most.
        if (n >= 2 && smax - smin >= 0.03 && det > 1e-9)
        {
            q.S = (pc * ss - ps * cs) / det;
            q.Z = (ps * cc - pc * cs) / det;
            q.I11 = ss / det; q.I12 = -cs / det; q.I22 = cc / det;
            q.ZKnown = true;
        }
        else
        {
            q.Z = _zPrior;
            q.S = perps.Average(p => (p.Perp - _zPrior * _sin[p.View]) / _cos[p.View]);
            q.ZKnown = false;
        }
    }

    private void UpdateHeightPrior()
    {
        var zs = _bead.Where(b => b.ZKnown && !b.Dropped).Select(b => b.Z).OrderBy(z => z).ToArray();
        if (zs.Length < 3) return;
        // The middle of the beads' heights (10th to 90th percentile): the slab's middle when beads sit on both surfaces.
        int lo = (int)Math.Floor(0.1 * (zs.Length - 1)), hi = (int)Math.Ceiling(0.9 * (zs.Length - 1));
        Recentre(0.5 * (zs[lo] + zs[hi]));
        zs = zs.Select(z => z - 0.5 * (zs[lo] + zs[hi])).ToArray();
        _zPrior = 0;
        // Half the range the known beads span, with room for a bead outside it: never below two bead diameters.
        double half = zs.Max(z => Math.Abs(z));
        _zHalf = Math.Min(_zHalf, Math.Max(1.5 * half + 2 * _r, 4 * _r));
    }

    /// <summary>
    /// Fixes the height gauge: heights are moved so that the known ones are centred on zero, and every map takes up the
    /// change (the predictions stay the same), so that a map's shift is the prealignment's error at the specimen's middle.
    /// </summary>
    private void Recentre(double z0)
    {
        if (Math.Abs(z0) < 1e-6) return;
        foreach (var q in _bead) q.Z -= z0;
        for (int v = 0; v < _nz; v++)
        {
            if (_map[v] is not { } m) continue;
            double k = z0 * _sin[v];
            _map[v] = m with { Dx = m.Dx + (m.A11 * _ep.X + m.A12 * _ep.Y) * k, Dy = m.Dy + (m.A21 * _ep.X + m.A22 * _ep.Y) * k };
        }
    }

    // ───────────────────────── search ─────────────────────────

    /// <summary>
    /// The best bead image in a window about (px, py): half-length <paramref name="across"/> across the tilt axis and
    /// <paramref name="along"/> along it; local maxima of the score above the threshold, strongest first, the first that the
    /// centre fit accepts, at its sub-pixel peak.
    /// </summary>
    private (double X, double Y, double Score)? Find(int v, double px, double py, double across, double along)
    {
        var score = _scores[v];
        double ext = Math.Abs(_ep.X) * across + Math.Abs(_ea.X) * along, eyt = Math.Abs(_ep.Y) * across + Math.Abs(_ea.Y) * along;
        int x0 = (int)Math.Floor(px - ext), x1 = (int)Math.Ceiling(px + ext), y0 = (int)Math.Floor(py - eyt), y1 = (int)Math.Ceiling(py + eyt);
        x0 = Math.Max(x0, (int)Math.Ceiling(_edge)); y0 = Math.Max(y0, (int)Math.Ceiling(_edge));
        x1 = Math.Min(x1, (int)(_nx - 1 - _edge)); y1 = Math.Min(y1, (int)(_ny - 1 - _edge));
        double limit = _median[v] + _threshold * _sd[v];
        var candidates = new List<(int X, int Y, float V)>();
        for (int y = y0; y <= y1; y++)
            for (int x = x0; x <= x1; x++)
            {
                float c = score[y * _nx + x];
                if (c < limit) continue;
                double dx = x - px, dy = y - py;
                if (Math.Abs(dx * _ep.X + dy * _ep.Y) > across || Math.Abs(dx * _ea.X + dy * _ea.Y) > along) continue;
                bool peak = true;
                for (int j = -1; j <= 1 && peak; j++)
                    for (int i = -1; i <= 1; i++)
                        if ((i != 0 || j != 0) && score[(y + j) * _nx + x + i] > c) { peak = false; break; }
                if (peak) candidates.Add((x, y, c));
            }
        if (candidates.Count == 0) return null;
        var view = _stack.ReadView(v);
        foreach (var c in candidates.OrderByDescending(c => c.V).Take(3))
        {
            if (BeadCentreFit.Fit(view, _nx, _ny, c.X, c.Y, _r, !_o.LightBeads) is null) continue;
            if (BeadTracker.SubPixelPeak(score, _nx, c.X, c.Y) is { } s) return (s.X, s.Y, (c.V - _median[v]) / _sd[v]);
        }
        return null;
    }

    /// <summary>The clipped, normalised score of one view, and the same max-filtered over ±2 px (the coarse common search's map).</summary>
    private (float[] Clipped, float[] Pooled) Maps(int v)
    {
        var score = _scores[v];
        var a = new float[score.Length];
        float med = (float)_median[v], inv = (float)(1 / _sd[v]), cap = (float)_cap;
        for (int k = 0; k < a.Length; k++) a[k] = Math.Clamp((score[k] - med) * inv, 0, cap);
        var t = new float[a.Length];
        var p = new float[a.Length];
        Parallel.For(0, _ny, y =>
        {
            for (int x = 0; x < _nx; x++)
            {
                float m = 0;
                for (int i = Math.Max(0, x - 2); i <= Math.Min(_nx - 1, x + 2); i++) m = Math.Max(m, a[y * _nx + i]);
                t[y * _nx + x] = m;
            }
        });
        Parallel.For(0, _ny, y =>
        {
            for (int x = 0; x < _nx; x++)
            {
                float m = 0;
                for (int j = Math.Max(0, y - 2); j <= Math.Min(_ny - 1, y + 2); j++) m = Math.Max(m, t[j * _nx + x]);
                p[y * _nx + x] = m;
            }
        });
        return (a, p);
    }

    /// <summary>
    /// The integer offset that maximises, summed over the beads, the best score in each bead's window (points across the
    /// axis within ±across): first on the pooled map over ±reach (every 2 px when the reach is large, windows sampled every
    /// 2 px), then on the clipped map itself within ±3 px of that (every pixel), so that the offset is exact to a pixel
    /// even where broad peaks (large beads) make the pooled sum flat. Ties go to the smaller offset.
    /// </summary>
    private (int Dx, int Dy, double Sum) CommonOffset(float[] clipped, float[] pooled, List<(int B, double X, double Y, double Across)> items, int reach)
    {
        (int, int)[][] Samples(int step) => items.Select(it =>
        {
            int k = (int)Math.Floor(it.Across / step);
            return Enumerable.Range(-k, 2 * k + 1).Select(i => ((int)Math.Round(it.X + step * i * _ep.X), (int)Math.Round(it.Y + step * i * _ep.Y))).ToArray();
        }).ToArray();
        double Sum(float[] map, (int, int)[][] samples, int dx, int dy)
        {
            double sum = 0;
            foreach (var pts in samples)
            {
                float best = 0;
                foreach (var (x, y) in pts)
                {
                    int xx = x + dx, yy = y + dy;
                    if ((uint)xx < (uint)_nx && (uint)yy < (uint)_ny) best = Math.Max(best, map[yy * _nx + xx]);
                }
                sum += best;
            }
            return sum - 1e-6 * (dx * dx + dy * dy);
        }
        var coarse = Samples(2);
        int step = reach > 12 ? 2 : 1;
        var grid = new List<(int, int)>();
        for (int dy = -reach; dy <= reach; dy += step)
            for (int dx = -reach; dx <= reach; dx += step) grid.Add((dx, dy));
        var sums = new double[grid.Count];
        Parallel.For(0, grid.Count, k => sums[k] = Sum(pooled, coarse, grid[k].Item1, grid[k].Item2));
        var (bx, by) = grid[Array.IndexOf(sums, sums.Max())];
        var fine = Samples(1);
        double bs = double.NegativeInfinity;
        int cx = bx, cy = by;
        for (int dy = cy - 3; dy <= cy + 3; dy++)
            for (int dx = cx - 3; dx <= cx + 3; dx++)
            {
                double s = Sum(clipped, fine, dx, dy);
                if (s > bs) { bs = s; (bx, by) = (dx, dy); }
            }
        return (bx, by, bs);
    }

    // ───────────────────────── maps ─────────────────────────

    /// <summary>
    /// The affine map (similarity for fewer than 6 beads, shift alone with the prior's linear part for fewer than 3) from
    /// ideal to observed (both about the centre), with robust rounds that drop pairs beyond max(1.5 px, 3 robust SDs).
    /// </summary>
    private static (Xf Map, double Rms, bool[] Inlier)? FitMap(IReadOnlyList<((double X, double Y) From, (double X, double Y) To)> pairs, Xf prior)
    {
        int n = pairs.Count;
        if (n == 0) return null;
        var inlier = Enumerable.Repeat(true, n).ToArray();
        Xf map = prior;
        double rms = 0;
        for (int round = 0; round < 4; round++)
        {
            var use = Enumerable.Range(0, n).Where(k => inlier[k]).Select(k => pairs[k]).ToList();
            if (use.Count == 0) break;
            map = use.Count >= 6 ? Affine(use) ?? Similarity(use) ?? Shift(use, prior)
                : use.Count >= 3 ? Similarity(use) ?? Shift(use, prior) : Shift(use, prior);
            var res = pairs.Select(p => { var (x, y) = map.ApplyCentred(p.From.X, p.From.Y); return Math.Sqrt((x - p.To.X) * (x - p.To.X) + (y - p.To.Y) * (y - p.To.Y)); }).ToArray();
            var inRes = Enumerable.Range(0, n).Where(k => inlier[k]).Select(k => res[k]).OrderBy(x => x).ToArray();
            double sd = 1.4826 * inRes[inRes.Length / 2];
            double limit = Math.Max(1.5, 3 * sd);
            var next = res.Select(x => x <= limit).ToArray();
            rms = Math.Sqrt(Enumerable.Range(0, n).Where(k => next[k]).Select(k => res[k] * res[k]).DefaultIfEmpty(0).Average());
            if (next.SequenceEqual(inlier)) break;
            if (next.Count(x => x) == 0) break;
            inlier = next;
        }
        return (map, Math.Max(rms, 0.2), inlier);
    }

    private static Xf Shift(IReadOnlyList<((double X, double Y) From, (double X, double Y) To)> p, Xf prior)
    {
        var lin = prior with { Dx = 0, Dy = 0 };
        double dx = p.Average(q => q.To.X - lin.ApplyCentred(q.From.X, q.From.Y).X);
        double dy = p.Average(q => q.To.Y - lin.ApplyCentred(q.From.X, q.From.Y).Y);
        return lin with { Dx = dx, Dy = dy };
    }

    private static Xf? Similarity(IReadOnlyList<((double X, double Y) From, (double X, double Y) To)> p)
    {
        double mfx = p.Average(q => q.From.X), mfy = p.Average(q => q.From.Y), mtx = p.Average(q => q.To.X), mty = p.Average(q => q.To.Y);
        double sxx = 0, sab = 0, sba = 0;
        foreach (var (f, t) in p)
        {
            double fx = f.X - mfx, fy = f.Y - mfy, tx = t.X - mtx, ty = t.Y - mty;
            sxx += fx * fx + fy * fy; sab += fx * tx + fy * ty; sba += fx * ty - fy * tx;
        }
        if (!(sxx > 1e-6)) return null;
        double a = sab / sxx, b = sba / sxx;
        return new Xf(a, -b, b, a, mtx - (a * mfx - b * mfy), mty - (b * mfx + a * mfy));
    }

    private static Xf? Affine(IReadOnlyList<((double X, double Y) From, (double X, double Y) To)> p)
    {
        double mfx = p.Average(q => q.From.X), mfy = p.Average(q => q.From.Y), mtx = p.Average(q => q.To.X), mty = p.Average(q => q.To.Y);
        double sxx = 0, sxy = 0, syy = 0, ax = 0, ay = 0, bx = 0, by = 0;
        foreach (var (f, t) in p)
        {
            double fx = f.X - mfx, fy = f.Y - mfy, tx = t.X - mtx, ty = t.Y - mty;
            sxx += fx * fx; sxy += fx * fy; syy += fy * fy;
            ax += fx * tx; ay += fy * tx; bx += fx * ty; by += fy * ty;
        }
        double det = sxx * syy - sxy * sxy;
        // Beads nearly on a line do not fix a stretch across it.
        if (!(det > 1e-3 * (sxx + syy) * (sxx + syy))) return null;
        double a11 = (ax * syy - ay * sxy) / det, a12 = (ay * sxx - ax * sxy) / det;
        double a21 = (bx * syy - by * sxy) / det, a22 = (by * sxx - bx * sxy) / det;
        return new Xf(a11, a12, a21, a22, mtx - (a11 * mfx + a12 * mfy), mty - (a21 * mfx + a22 * mfy));
    }

    /// <summary>
    /// The local-area correction of a prediction: the residuals (observed − map) of the found beads with known heights,
    /// weighted by a Gaussian of their distance (its width the distance to the fourth nearest), shrunk towards zero when
    /// few are near.
    /// </summary>
    private static (double X, double Y) LocalCorrection(double x, double y, IReadOnlyList<(double X, double Y, double Rx, double Ry)> residuals, int self = -1)
    {
        if (residuals.Count < 4) return (0, 0);
        var d = residuals.Select((q, k) => (k, D2: (q.X - x) * (q.X - x) + (q.Y - y) * (q.Y - y))).Where(q => q.k != self).OrderBy(q => q.D2).ToArray();
        if (d.Length < 4) return (0, 0);
        double w2 = Math.Max(d[3].D2, 1);
        double sw = 1, sx = 0, sy = 0; // the 1: a prior of no correction, worth one close neighbour
        foreach (var (k, d2) in d.Take(8))
        {
            double w = Math.Exp(-d2 / (2 * w2));
            sw += w; sx += w * residuals[k].Rx; sy += w * residuals[k].Ry;
        }
        return (sx / sw, sy / sw);
    }

    // ───────────────────────── the pass ─────────────────────────

    private Xf NearestMap(int v, int dir)
    {
        for (int w = v - dir; w >= 0 && w < _nz; w -= dir)
            if (_map[w] is { } m) return m;
        return Xf.Identity;
    }

    private double Hmin => 2 + 0.25 * _r;

    private void TrackView(int v, int dir, int[,] misses)
    {
        int side = dir > 0 ? 0 : 1;
        var prior = NearestMap(v, dir);
        // Beads worth searching: not dropped, not ended on this side, a window of sensible size, predicted inside the field.
        double maxAcross = 3 * _r + 12;
        var items = new List<(int B, double X, double Y, double Across)>();
        for (int b = 0; b < _nb; b++)
        {
            if (_bead[b].Dropped || misses[b, side] > _o.MaxGap) continue;
            double across = Math.Max(Hmin, PerpSigma(b, v));
            if (across > maxAcross) continue;
            var (x, y) = Predict(b, v, prior);
            if (!Inside(x, y)) continue;
            items.Add((b, x, y, across));
        }
        if (items.Count == 0) return;

        // 1. The common offset, over a reach from the jumps seen so far; widened while too few beads are found.
        double jumpRms = _jumps.Count == 0 ? 0 : Math.Sqrt(_jumps.Average(j => j * j));
        int maxReach = Math.Max(8, Math.Min(_nx, _ny) / 4);
        int reach = _wide ? maxReach : (int)Math.Clamp(Math.Ceiling(Math.Max(2 * _r, 4 * jumpRms + 4)), 6, maxReach);
        var (clipped, pooled) = Maps(v);
        // Beads with known heights alone place the common offset once there are enough of them.
        var known = items.Where(it => _bead[it.B].ZKnown).ToList();
        var placing = known.Count >= 3 ? known : items;
        (double X, double Y, double Score)?[] found = [];
        int bestCount = -1;
        (int Dx, int Dy) offset = (0, 0);
        while (true)
        {
            WidestReach = Math.Max(WidestReach, reach);
            var (dx, dy, _) = CommonOffset(clipped, pooled, placing, reach);
            var f = new (double X, double Y, double Score)?[items.Count];
            Parallel.For(0, items.Count, k =>
            {
                var it = items[k];
                f[k] = Find(v, it.X + dx, it.Y + dy, it.Across + 1, Hmin + 1);
            });
            int count = f.Count(x => x is not null);
            if (count > bestCount) { bestCount = count; found = f; offset = (dx, dy); }
            bool enough = count >= Math.Min(items.Count, Math.Max(3, (int)Math.Ceiling(0.5 * items.Count)));
            bool atEdge = Math.Max(Math.Abs(dx), Math.Abs(dy)) >= reach - 1;
            if ((enough && !atEdge) || reach >= maxReach) break;
            reach = Math.Min(maxReach, (int)Math.Ceiling(reach * 2.5));
        }
        Unique(items.Select(it => it.B).ToArray(), found, items.Select(it => (it.X + offset.Dx, it.Y + offset.Dy)).ToArray());

        // 2. The map from the beads found (those with known heights, when there are enough), then every bead again
        // in a tight window about the map's prediction plus its neighbours' residuals.
        var fit = FitFrom(v, items.Select(it => it.B).ToArray(), found, prior with { Dx = prior.Dx + offset.Dx, Dy = prior.Dy + offset.Dy });
        // Fewer than three beads do not place a view (two can agree by chance): the view stays unplaced, its beads missed.
        if (bestCount < Math.Min(3, items.Count) || fit is not { } mapFit)
        {
            _log.LogDebug("beads: view {V}: {Items} searched, reach {Reach}, offset ({Dx}, {Dy}), found {F}: not placed", v, items.Count, reach, offset.Dx, offset.Dy, bestCount);
            foreach (var it in items) misses[it.B, side]++;
            return;
        }
        var map = mapFit.Map;
        double rms = mapFit.Rms;
        var residuals = new List<(double X, double Y, double Rx, double Ry)>();
        for (int k = 0; k < items.Count; k++)
            if (found[k] is { } p && _bead[items[k].B].ZKnown)
            {
                var (x, y) = Predict(items[k].B, v, map);
                residuals.Add((x, y, p.X - x, p.Y - y));
            }
        var second = new (double X, double Y, double Score)?[items.Count];
        var centres = new (double X, double Y)[items.Count];
        Parallel.For(0, items.Count, k =>
        {
            int b = items[k].B;
            var (x, y) = Predict(b, v, map);
            var (lx, ly) = _bead[b].ZKnown ? LocalCorrection(x, y, residuals) : (0, 0);
            x += lx; y += ly;
            centres[k] = (x, y);
            double along = Math.Max(1.5, 3 * rms) + 0.5;
            double across = Math.Sqrt(along * along + PerpSigma(b, v) * PerpSigma(b, v));
            second[k] = Inside(x, y) ? Find(v, x, y, across, along) : null;
        });
        Unique(items.Select(it => it.B).ToArray(), second, centres);
        var fit2 = FitFrom(v, items.Select(it => it.B).ToArray(), second, map);
        if (fit2 is { } f2) { map = f2.Map; rms = f2.Rms; }
        if (second.Count(q => q is not null) < Math.Min(3, items.Count))
        {
            foreach (var it in items) misses[it.B, side]++;
            return;
        }
        _map[v] = map;
        _mapRms[v] = rms;
        _log.LogDebug("beads: view {V}: {Items} searched ({Known} of known height), reach {Reach}, offset ({Dx}, {Dy}), found {F1} then {F2}, map rms {Rms:F2}, shift ({X:F1}, {Y:F1})",
            v, items.Count, known.Count, reach, offset.Dx, offset.Dy, bestCount, second.Count(q => q is not null), rms, map.Dx, map.Dy);
        var near = NearestMapView(v, dir);
        if (near >= 0) _jumps.Add(Math.Sqrt(Math.Pow(map.Dx - _map[near]!.Value.Dx, 2) + Math.Pow(map.Dy - _map[near]!.Value.Dy, 2)));
        for (int k = 0; k < items.Count; k++)
        {
            int b = items[k].B;
            if (second[k] is { } p && (fit2 is null || fit2.Value.Accepted[k]))
            {
                _pos[b, v] = (p.X, p.Y);
                misses[b, side] = 0;
                FitBead(b);
            }
            else misses[b, side]++;
        }
        UpdateHeightPrior();
    }

    private int NearestMapView(int v, int dir)
    {
        for (int w = v - dir; w >= 0 && w < _nz; w -= dir)
            if (_map[w] is not null) return w;
        return -1;
    }

    /// <summary>Two beads on one image: the one predicted nearer keeps it.</summary>
    private static void Unique(int[] beads, (double X, double Y, double Score)?[] found, (double X, double Y)[] predicted)
    {
        for (int i = 0; i < found.Length; i++)
            for (int j = i + 1; j < found.Length; j++)
            {
                if (found[i] is not { } a || found[j] is not { } b) continue;
                if ((a.X - b.X) * (a.X - b.X) + (a.Y - b.Y) * (a.Y - b.Y) > 4) continue;
                double di = Math.Pow(a.X - predicted[i].X, 2) + Math.Pow(a.Y - predicted[i].Y, 2);
                double dj = Math.Pow(b.X - predicted[j].X, 2) + Math.Pow(b.Y - predicted[j].Y, 2);
                if (di <= dj) found[j] = null; else found[i] = null;
            }
    }

    /// <summary>
    /// The view's map from found beads: those with known heights when there are at least three, else all (their heights
    /// from the prior), then only a shift. Accepted: per item, whether its point fits the map (beads of unknown height
    /// are judged along the axis only).
    /// </summary>
    private (Xf Map, double Rms, bool[] Accepted)? FitFrom(int v, int[] beads, (double X, double Y, double Score)?[] found, Xf prior)
    {
        var idx = Enumerable.Range(0, beads.Length).Where(k => found[k] is not null).ToArray();
        if (idx.Length == 0) return null;
        var knownIdx = idx.Where(k => _bead[beads[k]].ZKnown).ToArray();
        var use = knownIdx.Length >= 3 ? knownIdx : idx;
        var pairs = use.Select(k => (Ideal(beads[k], v), (found[k]!.Value.X - _cx, found[k]!.Value.Y - _cy))).ToList();
        (Xf Map, double Rms, bool[] Inlier)? fit;
        if (knownIdx.Length >= 3) fit = FitMap(pairs, prior);
        else
        {
            // Heights unknown: a shift alone (the prior's rotation and scale). Along the tilt axis, the median offset of
            // the beads; across it the offset cannot be told from the beads' heights (two surfaces move apart).
            var lin = prior with { Dx = 0, Dy = 0 };
            var offsets = pairs.Select(q =>
            {
                var (x, y) = lin.ApplyCentred(q.Item1.X, q.Item1.Y);
                return (X: q.Item2.Item1 - x, Y: q.Item2.Item2 - y);
            }).ToArray();
            var along = offsets.Select(o => o.X * _ea.X + o.Y * _ea.Y).OrderBy(x => x).ToArray();
            var across = offsets.Select(o => o.X * _ep.X + o.Y * _ep.Y).OrderBy(x => x).ToArray();
            // Across the axis: the middle of the beads' spread (10th to 90th percentile), so that the windows, as wide
            // as the height range, are centred on the specimen and heights count from its middle.
            int lo = (int)Math.Floor(0.1 * (across.Length - 1)), hi = (int)Math.Ceiling(0.9 * (across.Length - 1));
            double ma = along[along.Length / 2], mp = 0.5 * (across[lo] + across[hi]);
            fit = (lin with { Dx = mp * _ep.X + ma * _ea.X, Dy = mp * _ep.Y + ma * _ea.Y }, 0.5, []);
        }
        if (fit is not { } f) return null;
        var accepted = new bool[beads.Length];
        double limit = Math.Max(1.5, 3 * f.Rms);
        foreach (int k in idx)
        {
            var p = found[k]!.Value;
            var (x, y) = f.Map.ApplyCentred(Ideal(beads[k], v).X, Ideal(beads[k], v).Y);
            double rx = p.X - _cx - x, ry = p.Y - _cy - y;
            double along = Math.Abs(rx * _ea.X + ry * _ea.Y), across = Math.Abs(rx * _ep.X + ry * _ep.Y);
            accepted[k] = along <= limit && across <= Math.Sqrt(limit * limit + PerpSigma(beads[k], v) * PerpSigma(beads[k], v));
        }
        return (f.Map, f.Rms, accepted);
    }

    // ───────────────────────── refit, cleaning and rescue ─────────────────────────

    /// <summary>Every map and bead refitted to all observations (three rounds); points that do not fit are dropped, and so are beads that fit badly.</summary>
    private void GlobalPass()
    {
        for (int round = 0; round < 3; round++)
        {
            for (int v = 0; v < _nz; v++)
            {
                if (v == _reference) continue;
                var beads = Enumerable.Range(0, _nb).Where(b => !_bead[b].Dropped && _pos[b, v] is not null && _bead[b].ZKnown).ToArray();
                if (beads.Length == 0) continue;
                var pairs = beads.Select(b => (Ideal(b, v), (_pos[b, v]!.Value.X - _cx, _pos[b, v]!.Value.Y - _cy))).ToList();
                if (FitMap(pairs, _map[v] ?? Xf.Identity) is { } f)
                {
                    _map[v] = f.Map;
                    _mapRms[v] = f.Rms;
                }
            }
            for (int b = 0; b < _nb; b++) FitBead(b);
        }
        // Points far off the model go; then beads whose typical point is far off (not a bead, or two confused).
        var res = new List<(int B, int V, double R)>();
        for (int b = 0; b < _nb; b++)
            for (int v = 0; v < _nz; v++)
                if (!_bead[b].Dropped && _pos[b, v] is { } p && _map[v] is { } m && _bead[b].ZKnown)
                {
                    var (x, y) = Predict(b, v, m);
                    res.Add((b, v, Math.Sqrt((p.X - x) * (p.X - x) + (p.Y - y) * (p.Y - y))));
                }
        if (res.Count == 0) return;
        var sorted = res.Select(q => q.R).OrderBy(x => x).ToArray();
        double med = sorted[sorted.Length / 2];
        ModelRms = Math.Sqrt(res.Average(q => q.R * q.R));
        double limit = Math.Max(1.5, 4 * 1.4826 * med);
        foreach (var (b, v, r) in res)
            if (r > limit && v != _reference) _pos[b, v] = null;
        foreach (var g in res.GroupBy(q => q.B))
        {
            var rs = g.Select(q => q.R).OrderBy(x => x).ToArray();
            if (rs[rs.Length / 2] > Math.Max(1.0, 3 * med)) _bead[g.Key].Dropped = true;
        }
        for (int b = 0; b < _nb; b++) FitBead(b);
        UpdateHeightPrior();
    }

    /// <summary>
    /// Lost beads back: a bead seen in few views has its height searched anew over every view with a map (the height whose
    /// predictions sum the most bead score), then every bead is searched in each view it is missing from, in a tight window
    /// about the model's prediction.
    /// </summary>
    private void Rescue()
    {
        int mapped = _map.Count(m => m is not null);
        for (int b = 0; b < _nb; b++)
        {
            if (_bead[b].Dropped) continue;
            int n = Enumerable.Range(0, _nz).Count(v => _pos[b, v] is not null);
            if (_bead[b].ZKnown && n >= mapped / 2) continue;
            HeightScan(b);
        }
        Parallel.For(0, _nb, b =>
        {
            if (_bead[b].Dropped || !_bead[b].ZKnown) return;
            for (int v = 0; v < _nz; v++)
            {
                if (_pos[b, v] is not null || _map[v] is not { } m) continue;
                var (x, y) = Predict(b, v, m);
                if (!Inside(x, y)) continue;
                double along = Math.Max(1.5, 3 * _mapRms[v]) + 0.5;
                double across = Math.Sqrt(along * along + PerpSigma(b, v) * PerpSigma(b, v));
                if (Find(v, x, y, Math.Min(across, 2 * along + 2), along) is { } f) _pos[b, v] = (f.X, f.Y);
            }
        });
        // A rescued point on another bead's image: the one whose model predicts it better keeps it.
        for (int v = 0; v < _nz; v++)
        {
            if (_map[v] is not { } m) continue;
            var beads = Enumerable.Range(0, _nb).Where(b => !_bead[b].Dropped && _pos[b, v] is not null).ToArray();
            var found = beads.Select(b => ((double X, double Y, double Score)?)(_pos[b, v]!.Value.X, _pos[b, v]!.Value.Y, 0)).ToArray();
            var predicted = beads.Select(b => Predict(b, v, m)).ToArray();
            Unique(beads, found, predicted);
            for (int k = 0; k < beads.Length; k++)
                if (found[k] is null && beads[k] >= 0 && v != _reference) _pos[beads[k], v] = null;
        }
    }

    /// <summary>The bead's height searched over every view with a map, from its reference-view position; its points replaced when the scan finds more.</summary>
    private void HeightScan(int b)
    {
        if (_pos[b, _reference] is not { } p0) return;
        var views = Enumerable.Range(0, _nz).Where(v => _map[v] is not null).ToArray();
        double maxSin = views.Max(v => Math.Abs(_sin[v]));
        if (maxSin < 0.02) return;
        double step = 0.5 / maxSin;
        var (x0, y0) = (p0.X - _cx, p0.Y - _cy);
        double perp0 = x0 * _ep.X + y0 * _ep.Y, t = x0 * _ea.X + y0 * _ea.Y;
        double range = 0.4 * Math.Max(_nx, _ny);
        int nzs = (int)Math.Ceiling(2 * range / step) + 1;
        var sums = new double[nzs];
        Parallel.For(0, nzs, k =>
        {
            double z = -range + k * step, s = (perp0 - z * _sin[_reference]) / _cos[_reference], sum = 0;
            foreach (int v in views)
            {
                double perp = s * _cos[v] + z * _sin[v];
                var (x, y) = _map[v]!.Value.ApplyCentred(_ep.X * perp + _ea.X * t, _ep.Y * perp + _ea.Y * t);
                int ix = (int)Math.Round(x + _cx), iy = (int)Math.Round(y + _cy);
                if (ix < 1 || iy < 1 || ix >= _nx - 1 || iy >= _ny - 1) continue;
                double best = 0;
                for (int j = -1; j <= 1; j++)
                    for (int i = -1; i <= 1; i++) best = Math.Max(best, Norm(v, ix + i, iy + j));
                sum += Math.Min(best, _cap);
            }
            sums[k] = sum;
        });
        double zBest = -range + Array.IndexOf(sums, sums.Max()) * step;
        var trial = new (double X, double Y)?[_nz];
        trial[_reference] = p0;
        var saved = (_bead[b].S, _bead[b].T, _bead[b].Z, _bead[b].ZKnown);
        _bead[b].Z = zBest; _bead[b].S = (perp0 - zBest * _sin[_reference]) / _cos[_reference]; _bead[b].T = t;
        foreach (int v in views)
        {
            if (v == _reference) continue;
            var (x, y) = Predict(b, v, _map[v]!.Value);
            if (!Inside(x, y)) continue;
            double w = Math.Max(1.5, 3 * _mapRms[v]) + 1;
            if (Find(v, x, y, w, w) is { } f) trial[v] = (f.X, f.Y);
        }
        int before = Enumerable.Range(0, _nz).Count(v => _pos[b, v] is not null), after = trial.Count(q => q is not null);
        if (after > before)
        {
            for (int v = 0; v < _nz; v++) _pos[b, v] = trial[v];
            FitBead(b);
        }
        else (_bead[b].S, _bead[b].T, _bead[b].Z, _bead[b].ZKnown) = saved;
    }

    /// <summary>Whether the bead was dropped as not fitting.</summary>
    public bool IsDropped(int b) => _bead[b].Dropped;
}
