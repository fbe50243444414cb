using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Tomalign.Core.Backend;
using Tomalign.Core.Coarse;
using Tomalign.Core.Geometry;
using Tomalign.Core.Imaging;

namespace Tomalign.Core.Refine;

/// <summary>Options of <see cref="AxisProfileRefiner"/>.</summary>
public sealed record AxisProfileOptions
{
    /// <summary>Binning of the aligned views; 0 = automatic (about 512 pixels on the larger side).</summary>
    public int Bin { get; init; }
    /// <summary>Strips across the tilt axis (each a band of the specimen, foreshortened by cos θ in each view).</summary>
    public int Strips { get; init; } = 6;
    /// <summary>Segments along the axis on which each strip's profile is matched.</summary>
    public int Segments { get; init; } = 6;
    /// <summary>Share of the reference view's width (about the axis) that the strips cover.</summary>
    public double WidthFraction { get; init; } = 0.8;
    /// <summary>
    /// SD (unbinned pixels) of the Gaussian that smooths each profile against noise before matching, applied only at bin 1
    /// (binned rows are already averages). Measured at 20 e/px: 512²×41 at bin 1, SD 1.5 / 3 px left 0.60 / 0.33 px of a
    /// 1.0 px error (ramps of rotation, scale and shift); at 2048²×41 (bin 4) smoothing by 3 px made three seeds slightly
    /// worse (0.38 / 0.43 / 0.63 → 0.42 / 0.46 / 0.64 px).
    /// </summary>
    public double SmoothingPixels { get; init; } = 3;
    /// <summary>Largest shift along the axis searched (binned pixels).</summary>
    public int MaxShift { get; init; } = 4;
    /// <summary>
    /// Degree of the polynomial in the tilt angle through which the per-view corrections are smoothed (−1: not smoothed).
    /// The landmark solve follows each view's own jitter well and leaves slow drifts; the profiles see the drifts but
    /// are noisier view by view, so by default only the slow part of their corrections is applied.
    /// </summary>
    public int SmoothDegree { get; init; } = 1;
    /// <summary>Rounds of warp → profiles → correction.</summary>
    public int Iterations { get; init; } = 1;
    /// <summary>Height of the specimen's centre above the aligned frame's zero (unbinned pixels; the landmarks' median z).</summary>
    public double ZCentre { get; init; }

    public void Validate()
    {
        if (Bin < 0) throw new ArgumentException($"binning must be ≥ 0 (0: automatic), got {Bin}");
        if (Strips < 2 || Segments < 1) throw new ArgumentException($"at least 2 strips and 1 segment are needed, got {Strips} and {Segments}");
        if (!(WidthFraction > 0 && WidthFraction <= 1)) throw new ArgumentException($"the width fraction must be in (0, 1], got {WidthFraction}");
        if (MaxShift < 1 || Iterations < 1) throw new ArgumentException("the largest shift and the iterations must be ≥ 1");
        if (!double.IsFinite(ZCentre)) throw new ArgumentException("the z centre must be a number");
        if (!(SmoothingPixels >= 0)) throw new ArgumentException("the smoothing must be ≥ 0");
    }
}

/// <summary>One round: the RMS corrections applied (rotation in degrees, scale in percent, shift along the axis in unbinned pixels).</summary>
public sealed record AxisProfileRound(int Round, double RmsRotationDegrees, double RmsScalePercent, double RmsShiftPixels, int Matches);

/// <summary>The refined transforms, and per view the correction that follows the given transform (refined = given, then correction).</summary>
public sealed record AxisProfileResult(Xf[] RawToAligned, Xf[] Corrections, IReadOnlyList<AxisProfileRound> Rounds, int Bin, int ReferenceView);

/// <summary>
/// Refines the in-plane rotation, the magnification and the shift along the tilt axis of every view against the view
/// nearest zero tilt, from profiles along the axis. Tilting about the axis moves nothing along it: a band of the specimen
/// across the axis (a strip, foreshortened by cos θ in each view) summed across the axis gives the same profile along the
/// axis in every view. Each view's strip profiles are matched with the reference view's on a few segments; the shifts
/// along the axis, fitted by t + μ·y + ε·x, give the view's shift t, scale μ and rotation ε. Unlike patch tracks, which
/// are cut into pieces of a few views, every view is compared with the same reference directly, so slow drifts of
/// rotation and scale over the series (which the landmark solve leaves when its landmarks lie near one plane) are seen.
/// The shift across the axis, the tilts and the landmark solve's other results are kept.
/// </summary>
public sealed class AxisProfileRefiner(IStackWarper warper, ILogger? logger = null)
{
    private readonly IStackWarper _warper = warper ?? throw new ArgumentNullException(nameof(warper));
    private readonly ILogger _log = logger ?? NullLogger.Instance;

    /// <summary>
    /// Why views of <paramref name="nx"/>×<paramref name="ny"/> are too small for the strips and segments of
    /// <paramref name="options"/>, or null when <see cref="Refine"/> can run on them (its callers check before the work).
    /// </summary>
    public static string? TooSmall(int nx, int ny, AxisProfileOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        int bin = options.Bin > 0 ? options.Bin : CoarseAligner.AutoBin(nx, ny, 512);
        int mx = nx / bin, my = ny / bin;
        int segLength = (my - 2 * options.MaxShift - 2) / options.Segments;
        return segLength < 8 || options.WidthFraction * mx / options.Strips < 2
            ? $"a {nx}×{ny} stack at binning {bin} is too small for {options.Strips} strips and {options.Segments} segments"
            : null;
    }

    /// <param name="raw">the stack the transforms apply to.</param>
    /// <param name="rawToAligned">one transform per view (IMOD .xf semantics), tilt axis along Y in the aligned frame.</param>
    /// <param name="tiltDegrees">each view's (solved) tilt.</param>
    public AxisProfileResult Refine(ImageStack raw, IReadOnlyList<Xf> rawToAligned, IReadOnlyList<double> tiltDegrees, AxisProfileOptions options,
        CancellationToken cancel = default)
    {
        ArgumentNullException.ThrowIfNull(raw);
        ArgumentNullException.ThrowIfNull(rawToAligned);
        ArgumentNullException.ThrowIfNull(tiltDegrees);
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        int nz = raw.Nz;
        if (rawToAligned.Count != nz || tiltDegrees.Count != nz)
            throw new ArgumentException($"{rawToAligned.Count} transforms and {tiltDegrees.Count} tilts for {nz} views");
        if (TooSmall(raw.Nx, raw.Ny, options) is { } tooSmall) throw new ArgumentException(tooSmall);
        int bin = options.Bin > 0 ? options.Bin : CoarseAligner.AutoBin(raw.Nx, raw.Ny, 512);
        int mx = raw.Nx / bin, my = raw.Ny / bin;
        int reference = Enumerable.Range(0, nz).MinBy(i => Math.Abs(tiltDegrees[i]));
        int K = options.Strips, J = options.Segments, S = options.MaxShift;
        double halfWidth = options.WidthFraction * mx / 2, zc = options.ZCentre / bin;
        int segLength = (my - 2 * S - 2) / J;
        var xfs = rawToAligned.ToArray();
        var applied = Enumerable.Repeat(Xf.Identity, nz).ToArray();
        var fill = raw.ViewMeans();
        var ali = new float[(long)nz * mx * my];
        var rounds = new List<AxisProfileRound>();
        // Strip k of view v: the band of the specimen's central plane xs0…xs1 (binned pixels about the axis) seen at the
        // view's tilt, x = xs·cos θ + z·sin θ, in the view's columns.
        (double A, double B) Strip(int v, int k)
        {
            double t = tiltDegrees[v] * Math.PI / 180, c = Math.Cos(t), s = Math.Sin(t);
            double xs0 = -halfWidth + 2 * halfWidth * k / K, xs1 = xs0 + 2 * halfWidth / K;
            return (xs0 * c + zc * s + mx / 2.0, xs1 * c + zc * s + mx / 2.0);
        }
        for (int round = 1; round <= options.Iterations; round++)
        {
            cancel.ThrowIfCancellationRequested();
            _warper.Warp(raw.Data, raw.Nx, raw.Ny, nz, xfs, fill, new WarpOptions(bin, Interpolation.Linear), ali);
            // Profiles[v][k][y]: strip k of view v summed across the axis, high-passed.
            var profiles = new double[nz][][];
            Parallel.For(0, nz, v =>
            {
                profiles[v] = new double[K][];
                for (int k = 0; k < K; k++)
                {
                    var (a, b) = Strip(v, k);
                    profiles[v][k] = HighPass(Smooth(StripProfile(ali, mx, my, v, a, b), bin == 1 ? options.SmoothingPixels : 0), 16);
                }
            });
            // Where a view's warped image holds raw data: a rectangle of the aligned (binned) view whose corners all map inside
            // the raw image. Outside it lies the fill, whose edge does not move with the specimen and would pull the match.
            var inverse = xfs.Select(x => x.Inverse()).ToArray();
            bool Covered(int v, double xa, double xb, double ya, double yb)
            {
                foreach (double bx in new[] { xa, xb })
                    foreach (double by in new[] { ya, yb })
                    {
                        // Binned pixel i is the mean of unbinned i·bin … i·bin + bin − 1.
                        var (rx, ry) = inverse[v].Apply(bx * bin + (bin - 1) / 2.0, by * bin + (bin - 1) / 2.0, raw.Nx / 2.0, raw.Ny / 2.0);
                        if (!(rx >= 1 && ry >= 1 && rx <= raw.Nx - 2 && ry <= raw.Ny - 2)) return false;
                    }
                return true;
            }
            var corrections = new (double T, double Mu, double Eps)[nz];
            var weights = new double[nz];
            int matches = 0;
            for (int v = 0; v < nz; v++)
            {
                if (v == reference) continue;
                double c = Math.Cos(tiltDegrees[v] * Math.PI / 180);
                var rows = new List<(double X, double Y, double D, double W)>();
                for (int k = 0; k < K; k++)
                {
                    double xMid = (-halfWidth + 2 * halfWidth * (k + 0.5) / K) * c;
                    var (va, vb) = Strip(v, k);
                    var (ra, rb) = Strip(reference, k);
                    for (int j = 0; j < J; j++)
                    {
                        int y0 = S + 1 + j * segLength;
                        if (!Covered(v, va - 1, vb + 1, y0 - S - 1, y0 + segLength + S) || !Covered(reference, ra - 1, rb + 1, y0 - S - 1, y0 + segLength + S))
                            continue;
                        var (d, score) = Match(profiles[v][k], profiles[reference][k], y0, segLength, S);
                        if (double.IsFinite(d) && score > 0.2) rows.Add((xMid, y0 + segLength / 2.0 - my / 2.0, d, score));
                    }
                }
                matches += rows.Count;
                var (ft, fmu, feps, fw) = Fit(rows);
                corrections[v] = (ft, fmu, feps);
                weights[v] = fw;
            }
            if (options.SmoothDegree >= 0)
            {
                // Smoothed, then less the reference view's own smoothed value: the reference view stays where it is, so the
                // series' overall rotation, scale and shift are still the landmark solve's.
                // The reference view (correction 0 by definition) weighs as much as the best-measured view.
                weights[reference] = weights.Max();
                corrections = Smooth(corrections, tiltDegrees, options.SmoothDegree, weights);
                var r0 = corrections[reference];
                corrections = corrections.Select(c => (c.T - r0.T, c.Mu - r0.Mu, c.Eps - r0.Eps)).ToArray();
            }
            double r2 = 0, m2 = 0, t2 = 0;
            for (int v = 0; v < nz; v++)
            {
                var (tt, mu, eps) = corrections[v];
                // Content at (x, y) moves to (x − ε·y, y + ε·x)·(1 + μ) + (0, t): a rotation by ε, a scale and a shift along the axis.
                var correction = Xf.RotationScale(eps * 180 / Math.PI, 1 + mu, 0, tt * bin);
                xfs[v] = Xf.Product(xfs[v], correction);
                applied[v] = Xf.Product(applied[v], correction);
                r2 += eps * eps; m2 += mu * mu; t2 += tt * tt * bin * bin;
            }
            var r = new AxisProfileRound(round, Math.Sqrt(r2 / nz) * 180 / Math.PI, 100 * Math.Sqrt(m2 / nz), Math.Sqrt(t2 / nz), matches);
            rounds.Add(r);
            _log.LogInformation("axis profiles, round {Round}: RMS correction rotation {Rot:F3}°, scale {Scale:F3} %, shift along the axis {Shift:F2} px ({Matches} matches)",
                round, r.RmsRotationDegrees, r.RmsScalePercent, r.RmsShiftPixels, matches);
        }
        return new AxisProfileResult(xfs, applied, rounds, bin, reference);
    }

    /// <summary>Each of the three corrections replaced by its (weighted) least-squares polynomial of the given degree in the tilt (radians).</summary>
    internal static (double T, double Mu, double Eps)[] Smooth((double T, double Mu, double Eps)[] c, IReadOnlyList<double> tiltDegrees, int degree,
        IReadOnlyList<double>? weights = null)
    {
        int n = c.Length, d = Math.Min(degree, n - 1);
        var basis = MathNet.Numerics.LinearAlgebra.Matrix<double>.Build.Dense(n, d + 1, (i, j) => Math.Pow(tiltDegrees[i] * Math.PI / 180, j));
        var sqrtW = Enumerable.Range(0, n).Select(i => Math.Sqrt(weights is null ? 1 : Math.Max(0, weights[i]))).ToArray();
        var a = MathNet.Numerics.LinearAlgebra.Matrix<double>.Build.Dense(n, d + 1, (i, j) => sqrtW[i] * basis[i, j]);
        double[] Fit(Func<(double T, double Mu, double Eps), double> f)
        {
            var y = MathNet.Numerics.LinearAlgebra.Vector<double>.Build.Dense(n, i => sqrtW[i] * f(c[i]));
            var coef = a.QR().Solve(y);
            return (basis * coef).ToArray();
        }
        var t = Fit(x => x.T); var mu = Fit(x => x.Mu); var eps = Fit(x => x.Eps);
        return Enumerable.Range(0, n).Select(i => (t[i], mu[i], eps[i])).ToArray();
    }

    /// <summary>
    /// Mean of the columns a…b of every row of view v, the edge columns weighted by the share of [i − 0.5, i + 0.5] they
    /// cover. (Edges tapered over the parallax ±thickness/2·sin θ were tried and removed: on 11 series, 512², slabs of
    /// 30–120 px, centred or 30–60 px off, the box did better on 8: mean field error 0.586 px boxed, 0.610 px tapered;
    /// docs/TESTING.md.)
    /// </summary>
    internal static double[] StripProfile(float[] views, int mx, int my, int v, double a, double b)
    {
        var p = new double[my];
        double lo0 = Math.Max(0, a), hi0 = Math.Min(mx - 1, b);
        if (hi0 <= lo0) return p;
        int i0 = (int)Math.Floor(lo0), i1 = (int)Math.Ceiling(hi0);
        var w = new double[i1 - i0 + 1];
        for (int i = i0; i <= i1; i++)
        {
            // Column i stands for [i − 0.5, i + 0.5].
            double lo = Math.Max(a, i - 0.5), hi = Math.Min(b, i + 0.5);
            w[i - i0] = Math.Max(0, hi - lo);
        }
        double sw = w.Sum();
        long off = (long)v * mx * my;
        for (int y = 0; y < my; y++)
        {
            double sum = 0;
            long row = off + (long)y * mx;
            for (int i = i0; i <= i1; i++) sum += w[i - i0] * views[row + i];
            p[y] = sum / sw;
        }
        return p;
    }

    /// <summary>The profile convolved with a Gaussian of the given SD (samples; ≤ 0: unchanged), edges clamped.</summary>
    internal static double[] Smooth(double[] p, double sigma)
    {
        if (sigma <= 0) return p;
        int n = p.Length, r = (int)Math.Ceiling(3 * sigma);
        var k = Enumerable.Range(-r, 2 * r + 1).Select(i => Math.Exp(-i * i / (2 * sigma * sigma))).ToArray();
        double sk = k.Sum();
        var o = new double[n];
        for (int i = 0; i < n; i++)
        {
            double sum = 0;
            for (int j = -r; j <= r; j++) sum += k[j + r] * p[Math.Clamp(i + j, 0, n - 1)];
            o[i] = sum / sk;
        }
        return o;
    }

    /// <summary>The profile less its running mean over 2·half+1 samples.</summary>
    internal static double[] HighPass(double[] p, int half)
    {
        int n = p.Length;
        var prefix = new double[n + 1];
        for (int i = 0; i < n; i++) prefix[i + 1] = prefix[i] + p[i];
        var r = new double[n];
        for (int i = 0; i < n; i++)
        {
            int lo = Math.Max(0, i - half), hi = Math.Min(n, i + half + 1);
            r[i] = p[i] - (prefix[hi] - prefix[lo]) / (hi - lo);
        }
        return r;
    }

    /// <summary>
    /// The shift d (sub-sample, parabolic) at which moving[y] best matches reference[y + d] over y0…y0+length−1, by normalised
    /// correlation, and the correlation there; NaN when the best shift is at the edge of the search.
    /// </summary>
    internal static (double Shift, double Score) Match(double[] moving, double[] reference, int y0, int length, int maxShift)
    {
        var scores = new double[2 * maxShift + 1];
        for (int s = -maxShift; s <= maxShift; s++)
        {
            double sa = 0, sb = 0, saa = 0, sbb = 0, sab = 0;
            for (int y = y0; y < y0 + length; y++)
            {
                double a = moving[y], b = reference[y + s];
                sa += a; sb += b; saa += a * a; sbb += b * b; sab += a * b;
            }
            double cov = sab - sa * sb / length, va = saa - sa * sa / length, vb = sbb - sb * sb / length;
            scores[s + maxShift] = va > 0 && vb > 0 ? cov / Math.Sqrt(va * vb) : 0;
        }
        int best = 0;
        for (int i = 1; i < scores.Length; i++) if (scores[i] > scores[best]) best = i;
        if (best == 0 || best == scores.Length - 1) return (double.NaN, scores[best]);
        double l = scores[best - 1], c = scores[best], r = scores[best + 1], den = l - 2 * c + r;
        double frac = den < 0 ? 0.5 * (l - r) / den : 0;
        return (best - maxShift + frac, c);
    }

    /// <summary>Weighted least squares of d = t + μ·y + ε·x, once more without the matches beyond 3 robust SDs.</summary>
    /// <returns>the fit, and its weight for the smoothing over the views: the matches kept over their residual variance.</returns>
    internal static (double T, double Mu, double Eps, double Weight) Fit(List<(double X, double Y, double D, double W)> rows)
    {
        if (rows.Count < 4) return (0, 0, 0, 0);
        var (t, mu, eps, kept) = FitRobust(rows);
        double sw = kept.Sum(r => r.W), var2 = sw > 0 ? kept.Sum(r => r.W * Math.Pow(r.D - t - mu * r.Y - eps * r.X, 2)) / sw : 0;
        return (t, mu, eps, kept.Count / Math.Max(var2, 1e-4));
    }

    private static (double T, double Mu, double Eps, List<(double X, double Y, double D, double W)> Kept) FitRobust(List<(double X, double Y, double D, double W)> rows)
    {
        (double, double, double) Solve(IEnumerable<(double X, double Y, double D, double W)> use)
        {
            var a = new double[3, 3];
            var b = new double[3];
            foreach (var (x, y, d, w) in use)
            {
                double[] f = [1, y, x];
                for (int i = 0; i < 3; i++)
                {
                    b[i] += w * f[i] * d;
                    for (int j = 0; j < 3; j++) a[i, j] += w * f[i] * f[j];
                }
            }
            var m = MathNet.Numerics.LinearAlgebra.Matrix<double>.Build.DenseOfArray(a);
            if (Math.Abs(m.Determinant()) < 1e-12) return (0, 0, 0);
            var sol = m.Solve(MathNet.Numerics.LinearAlgebra.Vector<double>.Build.DenseOfArray(b));
            return (sol[0], sol[1], sol[2]);
        }
        var first = Solve(rows);
        var res = rows.Select(r => Math.Abs(r.D - first.Item1 - first.Item2 * r.Y - first.Item3 * r.X)).OrderBy(x => x).ToArray();
        double mad = res[res.Length / 2] * 1.4826;
        if (mad <= 0) return (first.Item1, first.Item2, first.Item3, rows);
        var kept = rows.Where(r => Math.Abs(r.D - first.Item1 - first.Item2 * r.Y - first.Item3 * r.X) <= 3 * mad).ToList();
        if (kept.Count < 4) return (first.Item1, first.Item2, first.Item3, rows);
        var second = Solve(kept);
        return (second.Item1, second.Item2, second.Item3, kept);
    }
}
