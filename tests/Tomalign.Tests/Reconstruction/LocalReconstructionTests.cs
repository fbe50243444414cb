using Tomalign.Core.Backend;
using Tomalign.Core.Backend.Verification;
using Tomalign.Core.Formats;
using Tomalign.Core.Geometry;
using Tomalign.Core.Imaging;
using Tomalign.Core.Reconstruction;
using Tomalign.Cpu;
using Tomalign.Tests.Backend;
using Tomalign.Tests.Cli;
using Xunit;

namespace Tomalign.Tests.Reconstruction;

/// <summary>Reconstruction with local alignments (reconstruct --local-xf): conventions against the plain WBP, and the kernel against its twin.</summary>
[Collection(IlgpuCpuCollection.Name)]
public sealed class LocalReconstructionTests(IlgpuCpuFixture fixture)
{
    /// <summary>A local file of 2 × 3 areas over an <paramref name="nx"/> × <paramref name="ny"/> stack, every area the same transform per view.</summary>
    private static LocalAlignmentFile Uniform(int nx, int ny, int views, Func<int, Xf> transform, double deltaTilt = 0) => new()
    {
        NumberX = 2, NumberY = 3, StartX = nx / 4, StartY = ny / 6, DeltaX = nx / 2, DeltaY = ny / 3, Views = views, PixelSizeAngstrom = 1,
        DeltaTilt = Enumerable.Range(0, 6).Select(_ => Enumerable.Repeat(deltaTilt, views).ToArray()).ToArray(),
        Transforms = Enumerable.Range(0, 6).Select(_ => Enumerable.Range(0, views).Select(transform).ToArray()).ToArray(),
    };

    private static double RelativeError(float[] a, float[] e)
    {
        double peak = e.Max(v => Math.Abs(v)), diff = 0;
        for (int k = 0; k < a.Length; k++) diff = Math.Max(diff, Math.Abs(a[k] - e[k]));
        return diff / peak;
    }

    private static float[] Volume(string path)
    {
        using var r = MrcReader.Open(path);
        return r.ReadAll().Data;
    }

    /// <summary>
    /// Identity local alignments reconstruct what the plain WBP does (same voxels, centre, binning, width, slices, z shift and
    /// x-axis tilt, IMOD layout, views left out), to float rounding: the local path's geometry is the plain one's.
    /// </summary>
    [Theory]
    [InlineData(1, 0.0, 0, false, false)]
    [InlineData(2, 0.0, 0, true, false)]
    [InlineData(1, 6.0, 30, false, false)]
    [InlineData(1, 0.0, 0, true, true)]
    public void IdentityLocalAlignmentsReconstructAsThePlainWbp(int bin, double xTilt, int width, bool imodLayout, bool exclude)
    {
        using var dir = new TempDir();
        int seed = Random.Shared.Next();
        var rng = new Random(seed);
        var stack = new ImageStack(48, 24, 7);
        for (int i = 0; i < stack.Data.Length; i++) stack.Data[i] = (float)rng.NextDouble();
        MrcWriter.WriteStack(dir.File("a.ali"), stack);
        double[] tilts = [-54, -36, -18, 0, 18, 36, 54];
        var o = new ReconstructionOptions
        {
            Thickness = 10, Bin = bin, XAxisTiltDegrees = xTilt, Width = width, ZShift = 1.5f, SlabMemoryBytes = 60_000,
            Slices = bin == 1 ? (3, 20) : null, Layout = imodLayout ? VolumeLayout.ImodYSlices : VolumeLayout.Xyz,
            ExcludedViews = exclude ? [1, 5] : [],
        };
        new Reconstructor(new CpuBackend()).Run(dir.File("a.ali"), tilts, dir.File("plain.rec"), o);
        new LocalReconstructor(new CpuBackend()).Run(dir.File("a.ali"), tilts, Uniform(48, 24, 7, _ => Xf.Identity), dir.File("local.rec"), o);
        var plain = Volume(dir.File("plain.rec"));
        var local = Volume(dir.File("local.rec"));
        Assert.Equal(plain.Length, local.Length);
        Assert.True(RelativeError(local, plain) <= 1e-4, $"seed {seed}: local and plain differ by {RelativeError(local, plain):E2} of the peak");
    }

    /// <summary>
    /// The direction of the file's transforms: a stack whose views are moved by (+3, −2) px reconstructs, with local transforms
    /// that shift by (+3, −2) (the area's aligned image → where it is in this stack), what the unmoved stack does without them.
    /// </summary>
    [Fact]
    public void LocalTransformsPointIntoTheGivenStack()
    {
        using var dir = new TempDir();
        int seed = Random.Shared.Next();
        var rng = new Random(seed);
        int nx = 48, ny = 30, nv = 5;
        var stack = new ImageStack(nx, ny, nv);
        var moved = new ImageStack(nx, ny, nv);
        for (int z = 0; z < nv; z++)
            for (int y = 0; y < ny; y++)
                for (int x = 0; x < nx; x++)
                {
                    float v = (x >= 6 && x < nx - 6 && y >= 4 && y < ny - 4) ? (float)rng.NextDouble() : 0f;
                    stack.Data[(z * ny + y) * nx + x] = v;
                    int mx = x + 3, my = y - 2;
                    if (mx < nx && my >= 0) moved.Data[(z * ny + my) * nx + mx] = v;
                }
        MrcWriter.WriteStack(dir.File("a.ali"), stack);
        MrcWriter.WriteStack(dir.File("m.ali"), moved);
        double[] tilts = [-40, -20, 0, 20, 40];
        var o = new ReconstructionOptions { Thickness = 8, RadialCutoff = 0.5, RadialFalloff = 0 };
        new LocalReconstructor(new CpuBackend()).Run(dir.File("a.ali"), tilts, Uniform(nx, ny, nv, _ => Xf.Identity), dir.File("plain.rec"), o);
        new LocalReconstructor(new CpuBackend()).Run(dir.File("m.ali"), tilts, Uniform(nx, ny, nv, _ => new Xf(1, 0, 0, 1, 3, -2)), dir.File("local.rec"), o);
        // Rows and columns away from the edges (the filter sees the moved lines' other ends).
        var a = Volume(dir.File("plain.rec")); var b = Volume(dir.File("local.rec"));
        double peak = a.Max(Math.Abs), diff = 0;
        for (int z = 0; z < 8; z++)
            for (int y = 6; y < ny - 6; y++)
                for (int x = 12; x < nx - 12; x++)
                    diff = Math.Max(diff, Math.Abs(a[(z * ny + y) * nx + x] - b[(z * ny + y) * nx + x]));
        Assert.True(diff / peak < 0.02, $"seed {seed}: moved stack with shifting local transforms differs by {diff / peak:E2} of the peak");
        // And the wrong direction does not match: the test can fail.
        new LocalReconstructor(new CpuBackend()).Run(dir.File("m.ali"), tilts, Uniform(nx, ny, nv, _ => new Xf(1, 0, 0, 1, -3, 2)), dir.File("wrong.rec"), o);
        var c = Volume(dir.File("wrong.rec"));
        double wrong = 0;
        for (int z = 0; z < 8; z++)
            for (int y = 6; y < ny - 6; y++)
                for (int x = 12; x < nx - 12; x++)
                    wrong = Math.Max(wrong, Math.Abs(a[(z * ny + y) * nx + x] - c[(z * ny + y) * nx + x]));
        Assert.True(wrong / peak > 0.2, $"seed {seed}: the opposite shift also matched ({wrong / peak:E2})");
    }

    [Fact]
    public void SirtWithLocalAlignmentsIsRefused()
    {
        using var dir = new TempDir();
        MrcWriter.WriteStack(dir.File("a.ali"), new ImageStack(16, 8, 3));
        var e = Assert.Throws<Tomalign.Core.TomalignInputException>(() => new LocalReconstructor(new CpuBackend()).Run(dir.File("a.ali"), [-10.0, 0, 10],
            Uniform(16, 8, 3, _ => Xf.Identity), dir.File("o.rec"), new ReconstructionOptions { Thickness = 4, Method = ReconstructionMethod.Sirt }));
        Assert.Contains("SIRT", e.Message);
        Assert.False(File.Exists(dir.File("o.rec")));
    }

    /// <summary>The ILGPU kernel (CPU accelerator) against the managed twin on random column tables reaching past the held rows; NaN-filled outputs.</summary>
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    [Trait("Category", "Correctness")]
    public void KernelMatchesTheTwin(bool filtered)
    {
        int seed = Random.Shared.Next();
        var (proj, columns, weights, g) = KernelVerifier.RandomLocalSlab(33, 3, 6, 10, new Random(seed));
        var expected = new float[g.SlabLength];
        var actual = Enumerable.Repeat(float.NaN, (int)g.SlabLength).ToArray();
        var twin = new CpuLocalBackprojector();
        var device = fixture.Backend.LocalBackprojector!;
        int pad = Tomalign.Core.Fft.FftSize.NextGood(2 * g.Width);
        var filter = Reconstructor.RampFilter(pad, new ReconstructionOptions());
        if (filtered)
        {
            twin.FilterBackproject(proj, filter, pad, columns, weights, g, expected);
            device.FilterBackproject(proj, filter, pad, columns, weights, g, actual);
        }
        else
        {
            twin.Backproject(proj, columns, weights, g, expected);
            device.Backproject(proj, columns, weights, g, actual);
        }
        Assert.False(actual.Any(float.IsNaN), $"seed {seed}: an element was not written");
        Assert.True(expected.Any(v => v != 0), $"seed {seed}: nothing backprojected");
        Assert.True(RelativeError(actual, expected) <= KernelVerifier.BackprojectionTolerance, $"seed {seed}: relative error {RelativeError(actual, expected):E2}");
    }

    /// <summary>A whole local reconstruction on ILGPU's CPU accelerator against the CPU path.</summary>
    [Fact]
    public void VolumesAgreeBetweenBackends()
    {
        using var dir = new TempDir();
        int seed = Random.Shared.Next();
        var rng = new Random(seed);
        var stack = new ImageStack(40, 12, 7);
        for (int i = 0; i < stack.Data.Length; i++) stack.Data[i] = (float)rng.NextDouble();
        MrcWriter.WriteStack(dir.File("a.ali"), stack);
        double[] tilts = [-54, -36, -18, 0, 18, 36, 54];
        var local = Uniform(40, 12, 7, i => new Xf(1 + 0.01 * i, 0.02, -0.01, 1, 0.5 * i, -0.3 * i), deltaTilt: 0.7);
        var o = new ReconstructionOptions { Thickness = 10, SlabMemoryBytes = 60_000 };
        new LocalReconstructor(new CpuBackend()).Run(dir.File("a.ali"), tilts, local, dir.File("cpu.rec"), o);
        new LocalReconstructor(fixture.Backend).Run(dir.File("a.ali"), tilts, local, dir.File("gpu.rec"), o);
        var a = Volume(dir.File("cpu.rec")); var b = Volume(dir.File("gpu.rec"));
        Assert.False(b.Any(float.IsNaN), $"seed {seed}: NaN in the volume");
        Assert.True(RelativeError(b, a) <= 1e-4, $"seed {seed}: volumes differ by {RelativeError(b, a):E2} of the peak");
    }
}
