using Tomalign.Cli;
using Tomalign.Core.Backend;
using Tomalign.Core.Formats;
using Tomalign.Core.Imaging;
using Tomalign.Core.Reconstruction;
using Tomalign.Core.Simulation;
using Tomalign.Cpu;
using Tomalign.Tests.Backend;
using Tomalign.Tests.Cli;
using Xunit;
using Xunit.Abstractions;

namespace Tomalign.Tests.Reconstruction;

/// <summary>
/// The ILGPU backprojection kernels (on ILGPU's CPU accelerator) against the managed twin, on fresh random inputs: each run
/// draws its own seed and prints it on failure (rerun a failure by putting the seed in place of Random.Shared.Next()).
/// Outputs are NaN-filled before the call, so an element the kernel does not write fails.
/// </summary>
[Collection(IlgpuCpuCollection.Name)]
[Trait("Category", "Correctness")]
public sealed class BackprojectorParityTests(IlgpuCpuFixture fixture)
{
    /// <summary>
    /// A random slab. <paramref name="edges"/>: the slab's rows reach past both ends of the projection rows, with an x-axis
    /// tilt of 5–12° either way: row 0 samples v ≈ −0.5 (between the zero below the first projection row and that row) and
    /// the last row v ≈ rows − 0.5 (between the last row and the zero above it). Otherwise a band of 9 input rows inside.
    /// </summary>
    private static (float[] Proj, float[] Cos, float[] Sin, float[] W, SlabGeometry G) Random(int seed, bool edges = false)
    {
        var rng = new Random(seed);
        SlabGeometry g;
        if (edges)
        {
            double phi = (5 + 7 * rng.NextDouble()) * (rng.Next(2) == 0 ? -1 : 1) * Math.PI / 180;
            g = new SlabGeometry(33, 4, 5, 16, (float)(rng.NextDouble() * 2 - 1), 4, (float)Math.Cos(phi), (float)Math.Sin(phi), -0.5f, 0f);
        }
        else
        {
            // An x-axis tilt: the slab's rows see a band of 9 input rows.
            double phi = (rng.NextDouble() * 20 - 10) * Math.PI / 180;
            g = new SlabGeometry(33, 3, 5, 12, (float)(rng.NextDouble() * 4 - 2), 9, (float)Math.Cos(phi), (float)Math.Sin(phi), -1.5f, -4.5f);
        }
        var proj = new float[g.ProjectionLength];
        // Positive at the edges, so that a dropped edge sample lowers a sum rather than perhaps cancelling.
        for (int k = 0; k < proj.Length; k++) proj[k] = (float)(edges ? 0.5 + rng.NextDouble() : rng.NextDouble() * 2 - 1);
        var t = Enumerable.Range(0, g.Views).Select(_ => (rng.NextDouble() * 120 - 60) * Math.PI / 180).ToArray();
        return (proj, t.Select(a => (float)Math.Cos(a)).ToArray(), t.Select(a => (float)Math.Sin(a)).ToArray(),
            t.Select(_ => (float)(0.5 + rng.NextDouble())).ToArray(), g);
    }

    private static double RelativeError(float[] a, float[] e)
    {
        double peak = e.Max(v => Math.Abs(v)), diff = 0;
        for (int k = 0; k < a.Length; k++) diff = Math.Max(diff, Math.Abs(a[k] - e[k]));
        return diff / peak;
    }

    private static float[] NaNs(long length) => Enumerable.Repeat(float.NaN, (int)length).ToArray();

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void BackprojectionMatchesTheTwinInsideAndAtTheEdgeRows(bool edges)
    {
        int seed = System.Random.Shared.Next();
        var (proj, c, s, w, g) = Random(seed, edges);
        var expected = new float[g.SlabLength];
        var actual = NaNs(g.SlabLength);
        new CpuBackprojector().Backproject(proj, c, s, w, g, expected);
        fixture.Backend.Backprojector.Backproject(proj, c, s, w, g, actual);
        Assert.False(actual.Any(float.IsNaN), $"seed {seed}: an element was not written");
        Assert.True(RelativeError(actual, expected) <= 1e-4, $"seed {seed}: relative error {RelativeError(actual, expected):E2}");
        Assert.True(expected.Any(v => v != 0), $"seed {seed}: nothing backprojected");
    }

    /// <summary>The row-filter kernels (pad, weight, crop, with the device FFT, in batches of 4 lines) against CpuBackprojector.FilterRows.</summary>
    [Fact]
    public void RowFilterMatchesTheTwin()
    {
        int seed = System.Random.Shared.Next();
        var rng = new Random(seed);
        const int count = 9, width = 50, pad = 100;
        var lines = Enumerable.Range(0, count * width).Select(_ => (float)(rng.NextDouble() * 2 - 1)).ToArray();
        var filter = Enumerable.Range(0, pad / 2 + 1).Select(_ => (float)rng.NextDouble() / pad).ToArray();
        var expected = NaNs(lines.Length);
        var actual = NaNs(lines.Length);
        new CpuBackprojector().FilterRows(lines, count, width, filter, pad, expected);
        var gpu = new Tomalign.Gpu.GpuBackprojector(fixture.Backend.Accelerator);
        gpu.FilterRows(lines, count, width, filter, pad, actual, linesPerBatch: 4);
        // Both written into NaN-filled buffers: every element written, by the twin and by the kernels.
        Assert.False(expected.Any(float.IsNaN), $"seed {seed}: the twin left an element unwritten");
        Assert.False(actual.Any(float.IsNaN), $"seed {seed}: the kernels left an element unwritten");
        Assert.True(RelativeError(actual, expected) <= 1e-4, $"seed {seed}: relative error {RelativeError(actual, expected):E2}");
        Assert.True(RelativeError(lines, expected) > 1e-2, $"seed {seed}: the filter should change the lines");
    }

    /// <summary>WBP of a slab (x-axis tilt, random lines, the ramp filter) with the filter on the device against the managed twin.</summary>
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void FilterBackprojectionMatchesTheTwin(bool edges)
    {
        int seed = System.Random.Shared.Next();
        var (proj, c, s, w, g) = Random(seed, edges);
        int pad = Tomalign.Core.Fft.FftSize.NextGood(2 * g.Width);
        var filter = Reconstructor.RampFilter(pad, new ReconstructionOptions());
        var expected = new float[g.SlabLength];
        var actual = Enumerable.Repeat(float.NaN, (int)g.SlabLength).ToArray();
        var original = (float[])proj.Clone();
        new CpuBackprojector().FilterBackproject(proj, filter, pad, c, s, w, g, expected);
        fixture.Backend.Backprojector.FilterBackproject(proj, filter, pad, c, s, w, g, actual);
        Assert.Equal(original, proj);   // the projections are not changed
        Assert.False(actual.Any(float.IsNaN), $"seed {seed}: an element was not written");
        Assert.True(RelativeError(actual, expected) <= 1e-4, $"seed {seed}: relative error {RelativeError(actual, expected):E2}");
        Assert.True(expected.Any(v => v != 0), $"seed {seed}: nothing backprojected");
    }

    /// <summary>Whole volumes (filter through each backend's FFT, backprojection, streaming by slabs) from both backends agree to 1e-4.</summary>
    [Theory]
    [InlineData(ReconstructionMethod.Wbp, 0.0)]
    [InlineData(ReconstructionMethod.Wbp, 6.0)]
    [InlineData(ReconstructionMethod.Sirt, 0.0)]
    public void VolumesAgreeBetweenBackends(ReconstructionMethod method, double xTilt)
    {
        using var dir = new TempDir();
        int seed = System.Random.Shared.Next();
        var rng = new Random(seed);
        var stack = new ImageStack(40, 12, 7);
        for (int i = 0; i < stack.Data.Length; i++) stack.Data[i] = (float)rng.NextDouble();
        MrcWriter.WriteStack(dir.File("a.ali"), stack);
        double[] tilts = [-54, -36, -18, 0, 18, 36, 54];
        var o = new ReconstructionOptions { Thickness = 10, Method = method, Iterations = 3, XAxisTiltDegrees = xTilt, SlabMemoryBytes = 60_000 };
        new Reconstructor(new CpuBackend()).Run(dir.File("a.ali"), tilts, dir.File("cpu.rec"), o);
        new Reconstructor(fixture.Backend).Run(dir.File("a.ali"), tilts, dir.File("gpu.rec"), o);
        using var a = MrcReader.Open(dir.File("cpu.rec"));
        using var b = MrcReader.Open(dir.File("gpu.rec"));
        var va = a.ReadAll().Data; var vb = b.ReadAll().Data;
        Assert.False(vb.Any(float.IsNaN), $"seed {seed}: NaN in the volume");
        Assert.True(RelativeError(vb, va) <= 1e-4, $"seed {seed}: volumes differ by {RelativeError(vb, va):E2} of the peak");
    }

    [Fact]
    public void ForwardProjectionMatchesTheTwin()
    {
        int seed = System.Random.Shared.Next();
        var (_, c, s, _, g0) = Random(seed);
        var g = new SlabGeometry(g0.Width, g0.Rows, g0.Views, g0.Thickness, g0.ZShift);
        var rng = new Random(seed + 1);
        var slab = Enumerable.Range(0, (int)g.SlabLength).Select(_ => (float)rng.NextDouble()).ToArray();
        var expected = new float[g.ProjectionLength];
        var actual = Enumerable.Repeat(float.NaN, (int)g.ProjectionLength).ToArray();
        new CpuBackprojector().Project(slab, c, s, g, expected);
        fixture.Backend.Backprojector.Project(slab, c, s, g, actual);
        Assert.False(actual.Any(float.IsNaN), $"seed {seed}: an element was not written");
        Assert.True(RelativeError(actual, expected) <= 1e-4, $"seed {seed}: relative error {RelativeError(actual, expected):E2}");
    }
}

/// <summary>Reconstructions of simulated series aligned with their true transforms, against the truth.</summary>
public sealed class ReconstructionAccuracyTests(ITestOutputHelper output)
{
    private const int N = 128, Thickness = 48;

    /// <summary>A noise-free simulated series, aligned with its true transforms, written to an MRC with its true tilts.</summary>
    private static (SimulatedSeries Series, string Aligned, double[] Tilts) AlignedSeries(TempDir dir, int blobs, int seed)
    {
        var o = SimulationOptions.ForSize(N) with { Seed = seed, DoseElectronsPerPixel = 0, BlobCount = blobs, ThicknessPixels = 36, BeadCount = 5 };
        var s = new TiltSeriesSimulator().Simulate(o);
        var ali = new ImageStack(N, N, s.Raw.Nz);
        var fill = new float[s.Raw.Nz];
        Array.Fill(fill, 1f);
        new CpuBackend().Warper.Warp(s.Raw.Data, N, N, s.Raw.Nz, s.AligningTransforms, fill, new WarpOptions(1, Interpolation.Linear), ali.Data);
        string path = dir.File("ali.mrc");
        MrcWriter.WriteStack(path, ali);
        return (s, path, s.TrueTilts);
    }

    /// <summary>
    /// Simulated beads (off centre, on both surfaces) come back at their true (x, y, z): in the XYZ layout at voxel
    /// (x + w/2, y + h/2, z + t/2); in IMOD tilt's Y-slice layout in section y + h/2, column x + w/2, row t − 1 − (z + t/2)
    /// (IMOD's tilt writes each slice from the top of the specimen down: it backprojects row I at z = −(I − centre)).
    /// </summary>
    [Theory]
    [InlineData(VolumeLayout.Xyz)]
    [InlineData(VolumeLayout.ImodYSlices)]
    public void BeadsComeBackWhereTheyAre(VolumeLayout layout)
    {
        using var dir = new TempDir();
        var (s, aligned, tilts) = AlignedSeries(dir, blobs: 0, seed: 3);
        string rec = dir.File("rec.mrc");
        new Reconstructor(new CpuBackend()).Run(aligned, tilts, rec, new ReconstructionOptions { Thickness = Thickness, Log = true, SlabMemoryBytes = 200_000, Layout = layout });
        using var reader = MrcReader.Open(rec);
        bool imod = layout == VolumeLayout.ImodYSlices;
        Assert.Equal(imod ? (N, Thickness, N) : (N, N, Thickness), (reader.Nx, reader.Ny, reader.Nz));
        var vol = reader.ReadAll();
        var zs = new HashSet<int>();
        foreach (var b in s.Beads)
        {
            double ex = b.X + N / 2.0, ey = b.Y + N / 2.0, ez = b.Z + Thickness / 2.0;
            // Where the layout keeps voxel (ex, ey, ez): (column, row, section) of the file.
            var (fx, fy, fz) = imod ? (ex, Thickness - 1 - ez, ey) : (ex, ey, ez);
            var (cx, cy, cz) = Centroid(vol, fx, fy, fz, 4);
            double err = Math.Sqrt((cx - fx) * (cx - fx) + (cy - fy) * (cy - fy) + (cz - fz) * (cz - fz));
            output.WriteLine($"{layout}: bead at ({b.X:F2}, {b.Y:F2}, {b.Z:F2}), expected in the file at ({fx:F2}, {fy:F2}, {fz:F2}): found ({cx:F2}, {cy:F2}, {cz:F2}), error {err:F3} voxel");
            Assert.True(err < 0.5, $"{layout}: bead at ({fx:F2}, {fy:F2}, {fz:F2}) of the file reconstructed at ({cx:F2}, {cy:F2}, {cz:F2})");
            zs.Add((int)Math.Round(ez));
        }
        Assert.True(zs.Count >= 2, "beads at one height only: the test would not catch a mirrored z");
    }

    /// <summary>Density-weighted centroid of the positive part in a box of half-size h around the expected position.</summary>
    private static (double, double, double) Centroid(ImageStack v, double x, double y, double z, int h)
    {
        double sx = 0, sy = 0, sz = 0, sw = 0, peak = 0;
        int x0 = (int)Math.Round(x), y0 = (int)Math.Round(y), z0 = (int)Math.Round(z);
        for (int k = Math.Max(0, z0 - h); k <= Math.Min(v.Nz - 1, z0 + h); k++)
            for (int j = Math.Max(0, y0 - h); j <= Math.Min(v.Ny - 1, y0 + h); j++)
                for (int i = Math.Max(0, x0 - h); i <= Math.Min(v.Nx - 1, x0 + h); i++)
                    peak = Math.Max(peak, v[i, j, k]);
        for (int k = Math.Max(0, z0 - h); k <= Math.Min(v.Nz - 1, z0 + h); k++)
            for (int j = Math.Max(0, y0 - h); j <= Math.Min(v.Ny - 1, y0 + h); j++)
                for (int i = Math.Max(0, x0 - h); i <= Math.Min(v.Nx - 1, x0 + h); i++)
                {
                    double w = v[i, j, k] - 0.3 * peak;
                    if (w <= 0) continue;
                    sx += w * i; sy += w * j; sz += w * k; sw += w;
                }
        return (sx / sw, sy / sw, sz / sw);
    }

    [Fact]
    public void SirtCorrelatesBetterThanWbpWithThePhantomAtLowResolution()
    {
        using var dir = new TempDir();
        var (s, aligned, tilts) = AlignedSeries(dir, blobs: -1, seed: 8);
        var phantom = Phantom(s);
        (double Fine, double Coarse) Correlate(ReconstructionMethod m, string name)
        {
            string rec = dir.File(name);
            new Reconstructor(new CpuBackend()).Run(aligned, tilts, rec,
                new ReconstructionOptions { Thickness = Thickness, Log = true, Method = m, Iterations = 20 });
            using var r = MrcReader.Open(rec);
            var vol = r.ReadAll();
            return (LowPassCorrelation(vol, phantom, 1.5), LowPassCorrelation(vol, phantom, 3.0));
        }
        var wbp = Correlate(ReconstructionMethod.Wbp, "wbp.mrc");
        var sirt = Correlate(ReconstructionMethod.Sirt, "sirt.mrc");
        output.WriteLine($"correlation with the phantom after a blur of σ 1.5 / 3 voxels: WBP {wbp.Fine:F3} / {wbp.Coarse:F3}, SIRT {sirt.Fine:F3} / {sirt.Coarse:F3}");
        // Measured: WBP 0.64, SIRT 0.71 (128²×41, ±60°, slab 36 of 48 voxels).
        // Measured (128²×41 noise-free, ±60°, slab 36 of 48 voxels, SIRT 20 iterations): σ 1.5: WBP 0.796, SIRT 0.802;
        // σ 3: WBP 0.747, SIRT 0.779. SIRT recovers the low frequencies that the ramp filter damps.
        Assert.True(wbp.Fine > 0.75, $"WBP correlation {wbp.Fine:F3} at σ 1.5");
        Assert.True(sirt.Coarse > 0.75, $"SIRT correlation {sirt.Coarse:F3} at σ 3");
        Assert.True(sirt.Coarse > wbp.Coarse + 0.015, $"SIRT {sirt.Coarse:F3} not above WBP {wbp.Coarse:F3} at σ 3");
    }

    /// <summary>The specimen's density at voxel centres (blobs, beads, slab), in the reconstruction's frame.</summary>
    private static ImageStack Phantom(SimulatedSeries s)
    {
        var v = new ImageStack(N, N, Thickness);
        double half = s.Options.ThicknessPixels / 2;
        for (int k = 0; k < Thickness; k++)
            for (int j = 0; j < N; j++)
                for (int i = 0; i < N; i++)
                {
                    double x = i - N / 2.0, y = j - N / 2.0, z = k - Thickness / 2.0;
                    double d = Math.Abs(z) <= half ? s.Options.SlabDensity : 0;
                    foreach (var b in s.Blobs)
                    {
                        double r2 = (x - b.X) * (x - b.X) + (y - b.Y) * (y - b.Y) + (z - b.Z) * (z - b.Z);
                        if (r2 < 16 * b.Sigma * b.Sigma) d += b.Amplitude * Math.Exp(-r2 / (2 * b.Sigma * b.Sigma));
                    }
                    foreach (var b in s.Beads)
                        if ((x - b.X) * (x - b.X) + (y - b.Y) * (y - b.Y) + (z - b.Z) * (z - b.Z) <= b.Radius * b.Radius) d += b.Density;
                    v[i, j, k] = (float)d;
                }
        return v;
    }

    /// <summary>Pearson correlation of two volumes after a Gaussian blur of sigma voxels, over the inner region (8 voxels from the x/y edges).</summary>
    private static double LowPassCorrelation(ImageStack a, ImageStack b, double sigma)
    {
        var fa = Blur(a, sigma); var fb = Blur(b, sigma);
        double sa = 0, sb = 0, saa = 0, sbb = 0, sab = 0; long n = 0;
        for (int k = 0; k < a.Nz; k++)
            for (int j = 8; j < a.Ny - 8; j++)
                for (int i = 8; i < a.Nx - 8; i++)
                {
                    double x = fa[i, j, k], y = fb[i, j, k];
                    sa += x; sb += y; saa += x * x; sbb += y * y; sab += x * y; n++;
                }
        double cov = sab / n - sa / n * (sb / n), va = saa / n - sa / n * (sa / n), vb = sbb / n - sb / n * (sb / n);
        return cov / Math.Sqrt(va * vb);
    }

    private static ImageStack Blur(ImageStack v, double sigma)
    {
        int r = (int)Math.Ceiling(3 * sigma);
        var k = Enumerable.Range(-r, 2 * r + 1).Select(t => Math.Exp(-t * t / (2 * sigma * sigma))).ToArray();
        double norm = k.Sum();
        var cur = v;
        for (int axis = 0; axis < 3; axis++)
        {
            var next = new ImageStack(v.Nx, v.Ny, v.Nz);
            for (int z = 0; z < v.Nz; z++)
                for (int y = 0; y < v.Ny; y++)
                    for (int x = 0; x < v.Nx; x++)
                    {
                        double sum = 0;
                        for (int t = -r; t <= r; t++)
                        {
                            int xx = x + (axis == 0 ? t : 0), yy = y + (axis == 1 ? t : 0), zz = z + (axis == 2 ? t : 0);
                            xx = Math.Clamp(xx, 0, v.Nx - 1); yy = Math.Clamp(yy, 0, v.Ny - 1); zz = Math.Clamp(zz, 0, v.Nz - 1);
                            sum += k[t + r] * cur[xx, yy, zz];
                        }
                        next[x, y, z] = (float)(sum / norm);
                    }
            cur = next;
        }
        return cur;
    }
}

/// <summary>An x-axis tilt: a point comes back where it is only when the reconstruction takes the tilt into account.</summary>
public sealed class XAxisTiltTests(ITestOutputHelper output)
{
    [Fact]
    public void APointComesBackWithTheXAxisTiltAndNotWithout()
    {
        using var dir = new TempDir();
        const int n = 64, thickness = 32;
        const double phiDeg = 8, px = 6.3, py = -4.2, pz = 9.1, sigma = 1.2;
        double phi = phiDeg * Math.PI / 180;
        var tilts = Enumerable.Range(0, 41).Select(i => -60.0 + 3 * i).ToArray();
        var stack = new ImageStack(n, n, tilts.Length);
        for (int i = 0; i < tilts.Length; i++)
        {
            double t = tilts[i] * Math.PI / 180;
            double y1 = py * Math.Cos(phi) - pz * Math.Sin(phi), z1 = py * Math.Sin(phi) + pz * Math.Cos(phi);
            double u = px * Math.Cos(t) + z1 * Math.Sin(t) + n / 2.0, v = y1 + n / 2.0;
            for (int y = 0; y < n; y++)
                for (int x = 0; x < n; x++)
                    stack[x, y, i] = (float)Math.Exp(-((x - u) * (x - u) + (y - v) * (y - v)) / (2 * sigma * sigma));
        }
        MrcWriter.WriteStack(dir.File("p.ali"), stack);
        double Error(double xtilt, string name)
        {
            new Reconstructor(new CpuBackend()).Run(dir.File("p.ali"), tilts, dir.File(name),
                new ReconstructionOptions { Thickness = thickness, XAxisTiltDegrees = xtilt, SlabMemoryBytes = 400_000 });
            using var r = MrcReader.Open(dir.File(name));
            var vol = r.ReadAll();
            int best = Array.IndexOf(vol.Data, vol.Data.Max());
            int bx = best % n, by = best / n % n, bz = best / (n * n);
            double sx = 0, sy = 0, sz = 0, sw = 0, peak = vol.Data[best];
            for (int z = Math.Max(0, bz - 2); z <= Math.Min(thickness - 1, bz + 2); z++)
                for (int y = Math.Max(0, by - 2); y <= Math.Min(n - 1, by + 2); y++)
                    for (int x = Math.Max(0, bx - 2); x <= Math.Min(n - 1, bx + 2); x++)
                    {
                        double w = vol[x, y, z] - 0.3 * peak;
                        if (w > 0) { sx += w * x; sy += w * y; sz += w * z; sw += w; }
                    }
            double ex = sx / sw - (px + n / 2.0), ey = sy / sw - (py + n / 2.0), ez = sz / sw - (pz + thickness / 2.0);
            return Math.Sqrt(ex * ex + ey * ey + ez * ez);
        }
        double with = Error(phiDeg, "with.rec"), without = Error(0, "without.rec");
        output.WriteLine($"point error with the x-axis tilt {with:F3} voxel, ignoring it {without:F3} voxel");
        Assert.True(with < 0.5, $"with the x-axis tilt the point is {with:F3} voxel off");
        Assert.True(without > 0.5, $"ignoring the x-axis tilt ({without:F3} voxel) should misplace the point");
    }
}

/// <summary>`tomalign reconstruct` on the command line: outputs, report, bad input.</summary>
public sealed class ReconstructCliTests
{
    [Fact]
    public void WritesTheVolumeAndItsReportAndRefusesAWrongAngleCount()
    {
        using var dir = new TempDir();
        var rng = new Random(2);
        var stack = new ImageStack(24, 16, 5);
        for (int i = 0; i < stack.Data.Length; i++) stack.Data[i] = (float)rng.NextDouble();
        MrcWriter.WriteStack(dir.File("a.ali"), stack);
        ImodText.WriteAngles(dir.File("a.tlt"), [-40, -20, 0, 20, 40]);
        var r = CliRunner.Run("reconstruct", dir.File("a.ali"), "--angles", dir.File("a.tlt"), "--thickness", "10", "--device", "cpu", "--out", dir.File("a.rec"));
        Assert.True(r.ExitCode == ExitCodes.Ok, r.ToString());
        using (var rec = MrcReader.Open(dir.File("a.rec")))
            Assert.Equal((24, 16, 10), (rec.Nx, rec.Ny, rec.Nz));
        Assert.True(File.Exists(dir.File("a.reconstruct.json")));

        r = CliRunner.Run("reconstruct", dir.File("a.ali"), "--angles", dir.File("a.tlt"), "--thickness", "10", "--layout", "imod", "--method", "sirt",
            "--iterations", "3", "--device", "cpu", "--out", dir.File("b.rec"));
        Assert.True(r.ExitCode == ExitCodes.Ok, r.ToString());
        using (var rec = MrcReader.Open(dir.File("b.rec")))
            Assert.Equal((24, 10, 16), (rec.Nx, rec.Ny, rec.Nz));

        r = CliRunner.Run("reconstruct", dir.File("a.ali"), "--angles", dir.File("a.tlt"), "--thickness", "10", "--x-axis-tilt", "5",
            "--device", "cpu", "--out", dir.File("x.rec"));
        Assert.True(r.ExitCode == ExitCodes.Ok, r.ToString());
        r = CliRunner.Run("reconstruct", dir.File("a.ali"), "--angles", dir.File("a.tlt"), "--thickness", "10", "--x-axis-tilt", "5",
            "--method", "sirt", "--device", "cpu", "--out", dir.File("y.rec"));
        Assert.True(r.ExitCode == ExitCodes.InputError, r.ToString());
        Assert.Contains("x-axis tilt", r.Err);
        Assert.False(File.Exists(dir.File("y.rec")));

        // Sub-area, slices, filter and z-shift options; malformed values are input errors.
        r = CliRunner.Run("reconstruct", dir.File("a.ali"), "--angles", dir.File("a.tlt"), "--thickness", "10", "--width", "16", "--slices", "2,9",
            "--hamming", "--z-shift", "1.5", "--device", "cpu", "--out", dir.File("s.rec"));
        Assert.True(r.ExitCode == ExitCodes.Ok, r.ToString());
        using (var rec = MrcReader.Open(dir.File("s.rec")))
            Assert.Equal((16, 8, 10), (rec.Nx, rec.Ny, rec.Nz));
        foreach (var bad in new[] { new[] { "--radial", "0.3" }, new[] { "--slices", "9,2" }, new[] { "--method", "art" } })
        {
            r = CliRunner.Run(["reconstruct", dir.File("a.ali"), "--angles", dir.File("a.tlt"), "--thickness", "10", .. bad, "--out", dir.File("bad.rec")]);
            Assert.True(r.ExitCode == ExitCodes.InputError, r.ToString());
            Assert.Contains("Fix:", r.Err);
            Assert.False(File.Exists(dir.File("bad.rec")));
        }

        ImodText.WriteAngles(dir.File("short.tlt"), [-20, 0, 20]);
        r = CliRunner.Run("reconstruct", dir.File("a.ali"), "--angles", dir.File("short.tlt"), "--thickness", "10", "--out", dir.File("c.rec"));
        Assert.True(r.ExitCode == ExitCodes.InputError, r.ToString());
        Assert.Contains("short.tlt", r.Err);
        Assert.False(File.Exists(dir.File("c.rec")));
    }
}
