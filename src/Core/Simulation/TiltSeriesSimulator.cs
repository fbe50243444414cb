using Tomalign.Core.Geometry;
using Tomalign.Core.Imaging;

namespace Tomalign.Core.Simulation;

/// <summary>
/// Simulates a gold-bead tilt series of a slab specimen with known truth, projecting analytically
/// (never by voxelising, and never with the reconstructor's projector):
/// <list type="bullet">
/// <item>a 3-D Gaussian of amplitude a and sigma s projects to a 2-D Gaussian of peak a·s·√(2π)
///   (sigma s·m in the raw image);</item>
/// <item>a sphere of radius R and density ρ projects to 2ρ·√(R²−d²) at distance d from its projected
///   centre (radius R·m in the raw image), anti-aliased by 8×8 supersampling of the pixels near its rim;</item>
/// <item>the slab itself adds ρ_slab·T/cos θ everywhere.</item>
/// </list>
/// Intensity is exp(−projection) relative to the incident beam, with Poisson shot noise at
/// <see cref="SimulationOptions.DoseElectronsPerPixel"/> (counts / dose).
/// <para>
/// Truth per view i: true tilt = nominal + N(0, TiltErrorDegrees); α = TiltAxisDegrees + N(0, RotationJitterDegrees);
/// m = 1 + N(0, MagnificationJitter); shifts are a random walk of step N(0, ShiftWalkSigmaPixels) per axis, going outward
/// from the reference view (the one nearest zero tilt), which has exactly nominal tilt, m = 1 and zero shift (its axis
/// angle is still jittered). Beads sit inside the slab touching its surfaces (z = ±(T/2 − R)), alternating top/bottom
/// when <see cref="SimulationOptions.TwoSurfaces"/>, in a central disc chosen so they mostly stay in view at the highest
/// tilt, at least 4R apart in x–y. Blobs fill the slab region that can project into the field at any tilt (|x| limited
/// to 4 half-diagonals, so fields beyond ~75° tilt may show empty edges).
/// </para>
/// Every random choice comes from keyed SplitMix64 streams, so a seed gives a bit-identical stack on every
/// runtime and thread count.
/// </summary>
public sealed class TiltSeriesSimulator
{
    private const int BandRows = 32;
    private const int StreamGeometry = 1, StreamBeads = 2, StreamBlobs = 3, StreamNoise = 4;

    public SimulatedSeries Simulate(SimulationOptions o, IProgress<double>? progress = null)
    {
        ArgumentNullException.ThrowIfNull(o);
        o.Validate();
        int n = o.ViewCount, nx = o.Nx, ny = o.Ny;

        // --- per-view truth -------------------------------------------------------------------
        var nominal = new double[n];
        for (int i = 0; i < n; i++) nominal[i] = o.NominalTilt(i);
        int reference = 0;
        for (int i = 1; i < n; i++) if (Math.Abs(nominal[i]) < Math.Abs(nominal[reference])) reference = i;

        var rng = new SimRandom(o.Seed, StreamGeometry);
        var tiltErr = new double[n]; var rot = new double[n]; var mag = new double[n];
        var wx = new double[n]; var wy = new double[n];
        for (int i = 0; i < n; i++)
        {
            tiltErr[i] = rng.Normal(); rot[i] = rng.Normal(); mag[i] = rng.Normal();
            wx[i] = rng.Normal(); wy[i] = rng.Normal();
        }
        var trueTilts = new double[n];
        var geometry = new ViewGeometry[n];
        var sx = new double[n]; var sy = new double[n];
        for (int i = reference + 1; i < n; i++)
        {
            sx[i] = sx[i - 1] + o.ShiftWalkSigmaPixels * wx[i];
            sy[i] = sy[i - 1] + o.ShiftWalkSigmaPixels * wy[i];
        }
        for (int i = reference - 1; i >= 0; i--)
        {
            sx[i] = sx[i + 1] + o.ShiftWalkSigmaPixels * wx[i];
            sy[i] = sy[i + 1] + o.ShiftWalkSigmaPixels * wy[i];
        }
        for (int i = 0; i < n; i++)
        {
            bool isRef = i == reference;
            trueTilts[i] = isRef ? nominal[i] : nominal[i] + o.TiltErrorDegrees * tiltErr[i];
            double m = isRef ? 1.0 : 1.0 + o.MagnificationJitter * mag[i];
            double thetaMax = Math.Max(Math.Abs(o.TiltMin), Math.Abs(o.TiltMax)), tRef = nominal[reference];
            double stretch = thetaMax > 0 ? o.XStretchAtMaxTilt * (nominal[i] * nominal[i] - tRef * tRef) / (thetaMax * thetaMax) : 0;
            double skew = thetaMax > 0 ? o.SkewAtMaxTiltDegrees * (nominal[i] - tRef) / thetaMax : 0;
            geometry[i] = new ViewGeometry(trueTilts[i], o.TiltAxisDegrees + o.RotationJitterDegrees * rot[i], m, sx[i], sy[i], 0, stretch, skew);
        }

        // --- specimen ---------------------------------------------------------------------------
        double maxTilt = Math.Min(85, Math.Max(Math.Abs(o.TiltMin), Math.Abs(o.TiltMax)) + 3 * o.TiltErrorDegrees) * Math.PI / 180;
        double walkReach = 3 * o.ShiftWalkSigmaPixels * Math.Sqrt(Math.Max(reference, n - 1 - reference));
        Bead[] beads = PlaceBeads(o, maxTilt, walkReach);
        Blob[] blobs = PlaceBlobs(o, maxTilt, walkReach);

        // --- per-view feature lists, bucketed by bands of rows ------------------------------------
        int bands = (ny + BandRows - 1) / BandRows;
        var features = new Feature[n][];
        var bandStart = new int[n][];
        var bandItems = new int[n][];
        Parallel.For(0, n, i =>
        {
            features[i] = BuildFeatures(nx, ny, geometry[i], beads, blobs, o.LocalWarpPixels, LocalWarp.Gain(o, nominal[i]));
            (bandStart[i], bandItems[i]) = Bucket(features[i], ny, bands);
        });

        var badKind = new BadViewKind?[n];
        foreach (var b in o.BadViews) badKind[b.View] = b.Kind;

        // --- render --------------------------------------------------------------------------------
        var stack = new ImageStack(nx, ny, n);
        float[] data = stack.Data;
        int total = n * bands, done = 0, reportEvery = Math.Max(1, total / 100);
        progress?.Report(0);
        Parallel.For(0, total,
            () => new Scratch(nx),
            (item, _, scratch) =>
            {
                int view = item / bands, band = item % bands;
                int y0 = band * BandRows, h = Math.Min(BandRows, ny - y0);
                var buf = scratch.Band.AsSpan(0, h * nx);
                double slab = o.SlabDensity * o.ThicknessPixels / Math.Cos(trueTilts[view] * Math.PI / 180);
                buf.Fill(slab);
                int s0 = bandStart[view][band], s1 = bandStart[view][band + 1];
                RenderBand(features[view], bandItems[view].AsSpan(s0, s1 - s0), y0, h, nx, buf, scratch.Columns);
                if (o.CarbonDensity > 0) AddCarbon(o, geometry[view], y0, h, nx, ny, buf);
                WriteIntensity(o, view, badKind[view], y0, h, nx, ny, buf, data);
                int d = Interlocked.Increment(ref done);
                if (progress is not null && (d % reportEvery == 0 || d == total)) progress.Report((double)d / total);
                return scratch;
            },
            _ => { });

        if (o.Order == ViewOrder.Sorted)
            return new SimulatedSeries(o, stack, nominal, trueTilts, geometry, beads, blobs, reference);
        int[] order = AcquisitionOrder(nominal, reference);
        var permuted = new ImageStack(nx, ny, n);
        long plane = (long)nx * ny;
        for (int k = 0; k < n; k++)
            Array.Copy(data, order[k] * plane, permuted.Data, k * plane, plane);
        return new SimulatedSeries(o, permuted, order.Select(i => nominal[i]).ToArray(), order.Select(i => trueTilts[i]).ToArray(),
            order.Select(i => geometry[i]).ToArray(), beads, blobs, Array.IndexOf(order, reference));
    }

    /// <summary>
    /// Dose-symmetric acquisition order (Hagen et al. 2017) as sorted view indices: the view nearest zero, then groups
    /// of two views alternating to the positive and the negative side (0, +1, +2, −1, −2, +3, +4, …), each side
    /// continuing alone once the other is exhausted.
    /// </summary>
    public static int[] AcquisitionOrder(IReadOnlyList<double> sortedNominal, int reference)
    {
        int n = sortedNominal.Count;
        var order = new List<int>(n) { reference };
        int up = reference + 1, down = reference - 1;
        bool positive = true;
        while (order.Count < n)
        {
            for (int g = 0; g < 2; g++)
            {
                if (positive && up < n) order.Add(up++);
                else if (!positive && down >= 0) order.Add(down--);
            }
            positive = !positive;
        }
        return order.ToArray();
    }

    /// <summary>
    /// Adds the line integral of the carbon film: the slab (|z| ≤ T/2) on the far side of a straight edge
    /// n·(x, y) &gt; d, seen along the beam of view <paramref name="g"/>. A beam through aligned position (u, v) meets
    /// specimen points x = (u − z·sinθ)/cosθ, so the film condition is linear in z and its length is found exactly.
    /// </summary>
    private static void AddCarbon(SimulationOptions o, ViewGeometry g, int y0, int h, int nx, int ny, Span<double> buf)
    {
        double xc = nx / 2.0, yc = ny / 2.0, half = 0.5 * o.ThicknessPixels;
        double phi = o.CarbonEdgeAngleDegrees * Math.PI / 180, enx = Math.Cos(phi), eny = Math.Sin(phi);
        double d = o.CarbonEdgeOffset * 0.5 * Math.Min(nx, ny);
        double t = g.TiltDegrees * Math.PI / 180, cos = Math.Cos(t), tan = Math.Tan(t);
        double b = enx * tan, perPath = o.CarbonDensity / cos;
        var toAligned = g.RawToAligned();
        for (int yy = 0; yy < h; yy++)
        {
            int y = y0 + yy;
            var row = buf.Slice(yy * nx, nx);
            for (int x = 0; x < nx; x++)
            {
                var (u, v) = toAligned.Apply(x, y, xc, yc);
                u -= xc; v -= yc;
                double a = enx * u / cos + eny * v - d; // film where a − b·z > 0
                double length;
                if (Math.Abs(b) < 1e-12) length = a > 0 ? 2 * half : 0;
                else
                {
                    double z0 = Math.Clamp(a / b, -half, half);
                    length = b > 0 ? z0 + half : half - z0;
                }
                row[x] += perPath * length;
            }
        }
    }

    /// <summary>
    /// Adds the analytic projection (line integral of density, no slab term) of
    /// <paramref name="beads"/> and <paramref name="blobs"/> in view geometry <paramref name="g"/> to
    /// <paramref name="projection"/> (nx × ny, x fastest, raw image frame). The same code path as
    /// <see cref="Simulate"/>; useful for tests and forward models.
    /// </summary>
    public static void RenderProjection(int nx, int ny, ViewGeometry g, IReadOnlyList<Bead> beads, IReadOnlyList<Blob> blobs, Span<double> projection)
    {
        if (nx <= 0 || ny <= 0) throw new ArgumentOutOfRangeException(nameof(nx), $"image size {nx}×{ny} must be positive");
        if (projection.Length != nx * ny) throw new ArgumentException($"projection length {projection.Length} != {nx}×{ny}", nameof(projection));
        var feats = BuildFeatures(nx, ny, g, beads, blobs);
        var all = new int[feats.Length];
        for (int k = 0; k < all.Length; k++) all[k] = k;
        RenderBand(feats, all, 0, ny, nx, projection, new double[nx + 2]);
    }

    private sealed class Scratch(int nx)
    {
        public readonly double[] Band = new double[BandRows * nx];
        public readonly double[] Columns = new double[nx + 2];
    }

    /// <summary>A feature projected into one raw view (image coordinates).</summary>
    private readonly record struct Feature(double Cx, double Cy, double Reach, double P1, double P2, bool IsSphere);

    private static Feature[] BuildFeatures(int nx, int ny, ViewGeometry g, IReadOnlyList<Bead> beads, IReadOnlyList<Blob> blobs,
        double warp = 0, double warpGain = 0)
    {
        double xc = nx / 2.0, yc = ny / 2.0, m = g.Magnification;
        var list = new List<Feature>(beads.Count + blobs.Count / 2);
        void Add(Feature f)
        {
            if (f.Cx + f.Reach < 0 || f.Cx - f.Reach > nx - 1 || f.Cy + f.Reach < 0 || f.Cy - f.Reach > ny - 1) return;
            list.Add(f);
        }
        for (int k = 0; k < blobs.Count; k++)
        {
            var b = blobs[k];
            var (px, py) = g.ProjectPoint(b.X, b.Y, b.Z);
            if (warp != 0) { var (wx, wy) = LocalWarp.Displacement(warp, warpGain, b.X, b.Y, nx, ny); px += wx; py += wy; }
            double s = b.Sigma * m;
            // peak a·s·√(2π); exponent factor 1/(2 (s·m)²); reach 4 sigma (exp(−8) ≈ 3e−4 of the peak)
            Add(new Feature(px + xc, py + yc, 4 * s, b.Amplitude * b.Sigma * Math.Sqrt(2 * Math.PI), 1 / (2 * s * s), false));
        }
        for (int k = 0; k < beads.Count; k++)
        {
            var b = beads[k];
            var (px, py) = g.ProjectPoint(b.X, b.Y, b.Z);
            if (warp != 0) { var (wx, wy) = LocalWarp.Displacement(warp, warpGain, b.X, b.Y, nx, ny); px += wx; py += wy; }
            double r = b.Radius * m;
            // value (2ρ/m)·√((R·m)² − d²) = 2ρ·√(R² − (d/m)²)
            Add(new Feature(px + xc, py + yc, r + 1, 2 * b.Density / m, r, true));
        }
        return list.ToArray();
    }

    private static (int[] Start, int[] Items) Bucket(Feature[] f, int ny, int bands)
    {
        var start = new int[bands + 1];
        for (int k = 0; k < f.Length; k++)
        {
            var (b0, b1) = BandRange(f[k], ny);
            for (int b = b0; b <= b1; b++) start[b + 1]++;
        }
        for (int b = 0; b < bands; b++) start[b + 1] += start[b];
        var items = new int[start[bands]];
        var fill = (int[])start.Clone();
        for (int k = 0; k < f.Length; k++)
        {
            var (b0, b1) = BandRange(f[k], ny);
            for (int b = b0; b <= b1; b++) items[fill[b]++] = k;
        }
        return (start, items);
    }

    private static (int, int) BandRange(Feature f, int ny)
    {
        int ya = Math.Max(0, (int)Math.Ceiling(f.Cy - f.Reach));
        int yb = Math.Min(ny - 1, (int)Math.Floor(f.Cy + f.Reach));
        return (ya / BandRows, yb / BandRows);
    }

    private static void RenderBand(Feature[] feats, ReadOnlySpan<int> items, int y0, int h, int nx, Span<double> buf, double[] columns)
    {
        int y1 = y0 + h - 1;
        foreach (int k in items)
        {
            var f = feats[k];
            int xa = Math.Max(0, (int)Math.Ceiling(f.Cx - f.Reach)), xb = Math.Min(nx - 1, (int)Math.Floor(f.Cx + f.Reach));
            int ya = Math.Max(y0, (int)Math.Ceiling(f.Cy - f.Reach)), yb = Math.Min(y1, (int)Math.Floor(f.Cy + f.Reach));
            if (xa > xb || ya > yb) continue;
            if (!f.IsSphere)
            {
                double peak = f.P1, kk = f.P2;
                int w = xb - xa + 1;
                var ex = columns.AsSpan(0, w);
                for (int j = 0; j < w; j++) { double dx = xa + j - f.Cx; ex[j] = Math.Exp(-dx * dx * kk); }
                for (int y = ya; y <= yb; y++)
                {
                    double dy = y - f.Cy, wyv = peak * Math.Exp(-dy * dy * kk);
                    var row = buf.Slice((y - y0) * nx + xa, w);
                    for (int j = 0; j < w; j++) row[j] += wyv * ex[j];
                }
            }
            else
            {
                double scale = f.P1, r = f.P2, r2 = r * r;
                double outer = (r + 0.75) * (r + 0.75);         // beyond: pixel square entirely outside (half-diagonal 0.707)
                double inner = r > 2 ? (r - 2) * (r - 2) : -1;  // within: centre sample (smooth part of the profile)
                for (int y = ya; y <= yb; y++)
                {
                    double dy = y - f.Cy;
                    var row = buf.Slice((y - y0) * nx, nx);
                    for (int x = xa; x <= xb; x++)
                    {
                        double dx = x - f.Cx, d2 = dx * dx + dy * dy;
                        if (d2 >= outer) continue;
                        if (d2 <= inner) { row[x] += scale * Math.Sqrt(r2 - d2); continue; }
                        double sum = 0;
                        for (int a = 0; a < 8; a++)
                        {
                            double ssy = dy + (a + 0.5) / 8 - 0.5, qy = r2 - ssy * ssy;
                            if (qy <= 0) continue;
                            for (int b = 0; b < 8; b++)
                            {
                                double ssx = dx + (b + 0.5) / 8 - 0.5, q = qy - ssx * ssx;
                                if (q > 0) sum += Math.Sqrt(q);
                            }
                        }
                        row[x] += scale * sum / 64;
                    }
                }
            }
        }
    }

    private static void WriteIntensity(SimulationOptions o, int view, BadViewKind? bad, int y0, int h, int nx, int ny, ReadOnlySpan<double> buf, float[] data)
    {
        double dose = o.DoseElectronsPerPixel;
        // A spoiled view: a dark one gets 1 % of the electrons, an overexposed one ten times as many (both read as
        // counts / nominal dose), a noise view sees the bare slab only (no specimen, no beads).
        double gain = bad switch { BadViewKind.Dark => 0.01, BadViewKind.Overexposed => 10, _ => 1 };
        double slabOnly = o.SlabDensity * o.ThicknessPixels / Math.Cos(o.NominalTilt(view) * Math.PI / 180);
        bool noise = bad == BadViewKind.Noise;
        float sign = o.InvertContrast ? -1f : 1f, offset = o.InvertContrast ? 2f : 0f;
        for (int yy = 0; yy < h; yy++)
        {
            int y = y0 + yy;
            var src = buf.Slice(yy * nx, nx);
            var dst = data.AsSpan((int)(((long)view * ny + y) * nx), nx);
            if (dose > 0)
            {
                var rng = new SimRandom(o.Seed, StreamNoise, (long)view * ny + y);
                double inv = 1 / dose;
                for (int x = 0; x < nx; x++)
                    dst[x] = offset + sign * (float)(rng.Poisson(gain * dose * Math.Exp(-(noise ? slabOnly : src[x]))) * inv);
            }
            else
            {
                for (int x = 0; x < nx; x++) dst[x] = offset + sign * (float)(gain * Math.Exp(-(noise ? slabOnly : src[x])));
            }
        }
    }

    private static Bead[] PlaceBeads(SimulationOptions o, double maxTilt, double walkReach)
    {
        if (o.BeadCount == 0) return [];
        double r = o.BeadRadiusPixels, t = o.ThicknessPixels;
        double half = 0.5 * Math.Min(o.Nx, o.Ny);
        double margin = 2 * r + 0.5 * t * Math.Sin(maxTilt) + walkReach;
        double rp = Math.Max(0.3 * half, half - margin);
        double minSep2 = 16 * r * r;
        var rng = new SimRandom(o.Seed, StreamBeads);
        var beads = new Bead[o.BeadCount];
        int placed = 0;
        for (int attempt = 0; placed < beads.Length; attempt++)
        {
            if (attempt > 5000 * beads.Length)
                throw new ArgumentException(
                    $"cannot place {o.BeadCount} beads of radius {r} at least {4 * r} pixels apart within {rp:F0} pixels of the centre " +
                    $"of a {o.Nx}×{o.Ny} image; use fewer or smaller beads, or a larger image", nameof(o));
            double x = rng.Uniform(-rp, rp), y = rng.Uniform(-rp, rp);
            if (x * x + y * y > rp * rp) continue;
            bool ok = true;
            for (int k = 0; k < placed && ok; k++)
            {
                double dx = beads[k].X - x, dy = beads[k].Y - y;
                ok = dx * dx + dy * dy >= minSep2;
            }
            if (!ok) continue;
            bool top = !o.TwoSurfaces || placed % 2 == 0;
            double z = (top ? 1 : -1) * (0.5 * t - r);
            beads[placed++] = new Bead(x, y, z, r, o.BeadDensity);
        }
        return beads;
    }

    private static Blob[] PlaceBlobs(SimulationOptions o, double maxTilt, double walkReach)
    {
        double halfDiag = 0.5 * Math.Sqrt((double)o.Nx * o.Nx + (double)o.Ny * o.Ny) + walkReach;
        double xr = Math.Min(4 * halfDiag, (halfDiag + 0.5 * o.ThicknessPixels * Math.Sin(maxTilt)) / Math.Cos(maxTilt));
        double yr = halfDiag;
        int count = o.BlobCount >= 0 ? o.BlobCount : (int)Math.Round(4 * xr * yr / o.AutoBlobAreaPixels);
        if (count == 0 || o.BlobDensity == 0) return [];
        var rng = new SimRandom(o.Seed, StreamBlobs);
        var blobs = new Blob[count];
        for (int k = 0; k < count; k++)
        {
            double s = rng.Uniform(o.BlobSigmaMin, o.BlobSigmaMax);
            double a = o.BlobDensity * rng.Uniform(0.5, 1.5);
            double zr = Math.Max(0, 0.5 * o.ThicknessPixels - s);
            double x = rng.Uniform(-xr, xr), y = rng.Uniform(-yr, yr), z = rng.Uniform(-zr, zr);
            blobs[k] = new Blob(x, y, z, s, a);
        }
        return blobs;
    }
}
