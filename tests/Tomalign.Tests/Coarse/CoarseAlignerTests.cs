using Tomalign.Core.Backend;
using Tomalign.Core.Coarse;
using Tomalign.Core.Geometry;
using Tomalign.Core.Imaging;
using Tomalign.Cpu;
using Xunit;

namespace Tomalign.Tests.Coarse;

/// <summary>
/// The coarse stage on analytic series: Gaussian blobs in the z = 0 plane projected with the
/// model p = R(α)·(x·cos θ, y) + d_i (DESIGN.md), so the shift the stage must find is exactly d_i.
/// </summary>
public class CoarseAlignerTests
{
    private static (ImageStack Stack, double[] Tilts, (double X, double Y)[] Shifts) Series(int nx, int ny, double alphaDeg, int nz, double step, int seed, double walk = 3)
    {
        var blobs = BlobImages.Random(nx * ny / 25, Math.Max(nx, ny) * 1.2, seed);
        var rng = new Random(seed + 7);
        var tilts = Enumerable.Range(0, nz).Select(i => (i - nz / 2) * step).ToArray();
        var shifts = new (double X, double Y)[nz];
        int r = nz / 2;
        for (int i = r + 1; i < nz; i++) shifts[i] = (shifts[i - 1].X + walk * (rng.NextDouble() * 2 - 1), shifts[i - 1].Y + walk * (rng.NextDouble() * 2 - 1));
        for (int i = r - 1; i >= 0; i--) shifts[i] = (shifts[i + 1].X + walk * (rng.NextDouble() * 2 - 1), shifts[i + 1].Y + walk * (rng.NextDouble() * 2 - 1));
        var stack = new ImageStack(nx, ny, nz);
        double a = alphaDeg * Math.PI / 180, ca = Math.Cos(a), sa = Math.Sin(a);
        for (int i = 0; i < nz; i++)
        {
            double c = Math.Cos(tilts[i] * Math.PI / 180);
            var d = shifts[i];
            BlobImages.Render(stack.View(i), nx, ny, blobs, (x, y) =>
            {
                double u = x * c, v = y;
                return (ca * u - sa * v + d.X, sa * u + ca * v + d.Y);
            });
        }
        return (stack, tilts, shifts);
    }

    private static void AssertShifts(CoarseAlignResult result, (double X, double Y)[] shifts, double tolerance, params int[] skip)
    {
        Assert.Equal(shifts.Length, result.Prexg.Length);
        for (int i = 0; i < shifts.Length; i++)
        {
            if (skip.Contains(i)) continue;
            // .prexg maps view i onto the reference view: the translation is −(d_i − d_ref).
            double ex = -(shifts[i].X - shifts[result.ReferenceView].X), ey = -(shifts[i].Y - shifts[result.ReferenceView].Y);
            Assert.True(Math.Abs(result.Prexg[i].Dx - ex) < tolerance && Math.Abs(result.Prexg[i].Dy - ey) < tolerance,
                $"view {i}: prexg shift ({result.Prexg[i].Dx:F2}, {result.Prexg[i].Dy:F2}), expected ({ex:F2}, {ey:F2})");
            Assert.Equal(1, result.Prexg[i].A11); Assert.Equal(0, result.Prexg[i].A12);
        }
    }

    [Fact]
    public void RecoversShiftsOnRotatedNonSquareSeries()
    {
        var (stack, tilts, shifts) = Series(160, 128, 85, 15, 4, seed: 1);
        var result = new CoarseAligner(new CpuPairCorrelator()).Align(stack, tilts,
            new CoarseAlignOptions { TiltAxisDegrees = 85, Filter = new BandPassFilter(0.02, 0.25, 0.05), ClipStdDevs = 0 });
        Assert.Equal(7, result.ReferenceView);
        Assert.Empty(result.Warnings);
        Assert.Equal(14, result.Pairs.Count);
        AssertShifts(result, shifts, 0.35);
        // .prexf line i aligns view i to view i−1, and line 0 is the identity.
        Assert.Equal(Xf.Identity, result.Prexf[0]);
        for (int i = 1; i < shifts.Length; i++)
            Assert.True(Math.Abs(result.Prexf[i].Dx + (shifts[i].X - shifts[i - 1].X)) < 0.35, $"prexf {i}: {result.Prexf[i].Dx:F2} vs {-(shifts[i].X - shifts[i - 1].X):F2}");
    }

    /// <summary>
    /// xftoxg -nfit 0 written out by hand for pure translations (what coarse produces): the
    /// reference line is the identity, lines after it add the .prexf shifts outward, lines before
    /// it subtract them. Independent of ImodText.XfToXg, which CoarseAligner uses.
    /// </summary>
    internal static void AssertPrexgChainsPrexf(CoarseAlignResult result)
    {
        int r = result.ReferenceView, n = result.Prexf.Length;
        Assert.Equal(Xf.Identity, result.Prexg[r]);
        for (int i = 0; i < n; i++)
        {
            double ex = 0, ey = 0;
            for (int k = r + 1; k <= i; k++) { ex += result.Prexf[k].Dx; ey += result.Prexf[k].Dy; }
            for (int k = i + 1; k <= r; k++) { ex -= result.Prexf[k].Dx; ey -= result.Prexf[k].Dy; }
            Assert.Equal((1.0, 0.0, 0.0, 1.0), (result.Prexg[i].A11, result.Prexg[i].A12, result.Prexg[i].A21, result.Prexg[i].A22));
            Assert.True(Math.Abs(result.Prexg[i].Dx - ex) < 1e-9 && Math.Abs(result.Prexg[i].Dy - ey) < 1e-9,
                $"prexg {i}: ({result.Prexg[i].Dx}, {result.Prexg[i].Dy}), expected the chained prexf shifts ({ex}, {ey})");
        }
    }

    [Fact]
    public void PrexgIsThePrexfChainedToTheReferenceView()
    {
        var (stack, tilts, _) = Series(96, 96, 85, 9, 5, seed: 6, walk: 4);
        var result = new CoarseAligner(new CpuPairCorrelator()).Align(stack, tilts,
            new CoarseAlignOptions { TiltAxisDegrees = 85, Filter = new BandPassFilter(0.02, 0.25, 0.05), ClipStdDevs = 0 });
        Assert.Equal(4, result.ReferenceView);
        Assert.Contains(result.Prexf, f => Math.Abs(f.Dx) > 0.5);   // a real chain, not all identities
        AssertPrexgChainsPrexf(result);
    }

    [Fact]
    public void CumulativeReferenceRecoversShifts()
    {
        var (stack, tilts, shifts) = Series(160, 128, 85, 15, 4, seed: 1);
        var result = new CoarseAligner(new CpuPairCorrelator()).Align(stack, tilts,
            new CoarseAlignOptions { TiltAxisDegrees = 85, Filter = new BandPassFilter(0.02, 0.25, 0.05), ClipStdDevs = 0, CumulativeReference = true });
        AssertShifts(result, shifts, 0.35);
    }

    [Fact]
    public void StretchIsAboutTheAxisNotTheImageCentre()
    {
        // Large shifts at high tilt: stretching about the centre without correcting would be off by (S − 1)·d.
        var (stack, tilts, shifts) = Series(128, 128, 30, 9, 8, seed: 4, walk: 8);
        var result = new CoarseAligner(new CpuPairCorrelator()).Align(stack, tilts,
            new CoarseAlignOptions { TiltAxisDegrees = 30, Filter = new BandPassFilter(0.02, 0.25, 0.05), ClipStdDevs = 0 });
        AssertShifts(result, shifts, 0.4);
    }

    [Fact]
    public void BlankViewGetsWarningAndIdentityAndIsBridged()
    {
        var (stack, tilts, shifts) = Series(128, 128, 85, 11, 4, seed: 2);
        stack.View(8).Fill(0.01f); // a nearly black view
        var result = new CoarseAligner(new CpuPairCorrelator()).Align(stack, tilts,
            new CoarseAlignOptions { TiltAxisDegrees = 85, Filter = new BandPassFilter(0.02, 0.25, 0.05), ClipStdDevs = 0 });
        Assert.Equal(new[] { 8 }, result.BlankViews);
        Assert.Contains(result.Warnings, w => w.Contains("view 8"));
        Assert.Equal(Xf.Identity, result.Prexf[8]);
        Assert.Equal(result.Prexg[7], result.Prexg[8]);
        AssertShifts(result, shifts, 0.4, skip: 8);
        Assert.DoesNotContain(result.Pairs, p => p.View == 8 || p.Neighbour == 8);
    }

    [Fact]
    public void AllButOneViewBlankDoesNotCrash()
    {
        var stack = new ImageStack(64, 64, 3);
        var rng = new Random(1);
        for (int i = 0; i < 64 * 64; i++) stack.Data[64 * 64 + i] = (float)rng.NextDouble();
        var result = new CoarseAligner(new CpuPairCorrelator()).Align(stack, new double[] { -3, 0, 3 }, new CoarseAlignOptions { TiltAxisDegrees = 0 });
        Assert.Equal(new[] { 0, 2 }, result.BlankViews);
        Assert.All(result.Prexg, g => Assert.Equal(Xf.Identity, g));
    }

    [Fact]
    public void AutomaticBinningTargetsAboutOneThousandPixels()
    {
        Assert.Equal(1, CoarseAligner.AutoBin(1024, 1024, 1024));
        Assert.Equal(2, CoarseAligner.AutoBin(2048, 1024, 1024));
        Assert.Equal(4, CoarseAligner.AutoBin(4096, 4096, 1024));
        Assert.Equal(6, CoarseAligner.AutoBin(5760, 4092, 1024));
    }

    [Fact]
    public void BinnedRunGivesUnbinnedShifts()
    {
        var (stack, tilts, shifts) = Series(192, 192, 85, 7, 5, seed: 3, walk: 6);
        var result = new CoarseAligner(new CpuPairCorrelator()).Align(stack, tilts,
            new CoarseAlignOptions { TiltAxisDegrees = 85, Bin = 2, Filter = new BandPassFilter(0.02, 0.25, 0.05), ClipStdDevs = 0 });
        Assert.Equal(2, result.Bin);
        AssertShifts(result, shifts, 0.6);
    }

    [Fact]
    public void IlgpuCorrelatorGivesTheSameAlignment()
    {
        var (stack, tilts, _) = Series(64, 60, 85, 5, 6, seed: 8, walk: 3);
        var options = new CoarseAlignOptions { TiltAxisDegrees = 85, Filter = new BandPassFilter(0.02, 0.25, 0.05) };
        var cpu = new CoarseAligner(new CpuPairCorrelator()).Align(stack, tilts, options);
        using var fixture = new Tomalign.Tests.Fft.IlgpuCpuFixture();
        using var correlator = new Tomalign.Gpu.GpuPairCorrelator(fixture.Accelerator);
        var gpu = new CoarseAligner(correlator).Align(stack, tilts, options);
        for (int i = 0; i < tilts.Length; i++)
            Assert.True(Math.Abs(cpu.Prexg[i].Dx - gpu.Prexg[i].Dx) < 0.02 && Math.Abs(cpu.Prexg[i].Dy - gpu.Prexg[i].Dy) < 0.02,
                $"view {i}: cpu ({cpu.Prexg[i].Dx:F3}, {cpu.Prexg[i].Dy:F3}) ilgpu ({gpu.Prexg[i].Dx:F3}, {gpu.Prexg[i].Dy:F3})");
    }

    [Fact]
    public void RejectsAngleCountMismatch()
    {
        var stack = new ImageStack(32, 32, 3);
        Assert.Throws<ArgumentException>(() => new CoarseAligner(new CpuPairCorrelator()).Align(stack, new double[] { 0, 1 }, new CoarseAlignOptions()));
    }
}
