using Xunit;
using Tomalign.Core.Backend;
using Tomalign.Core.Backend.Verification;
using Tomalign.Core.Geometry;
using Tomalign.Cpu;
using Xunit.Abstractions;

namespace Tomalign.Tests.Backend;

/// <summary>
/// The warp's test bodies, run on every backend (EXAMPLES.md §6): against the managed twin on fresh
/// random inputs, and against independent truth (identity, integer shift, 90° rotation, constant, ramp).
/// </summary>
public abstract class StackWarpTests
{
    private readonly ITestOutputHelper _output;
    protected StackWarpTests(ITestOutputHelper output) => _output = output;

    /// <summary>The backend under test; implementations call Skip when it is absent.</summary>
    protected abstract IComputeBackend Backend { get; }

    /// <summary>The reference: the managed twin.</summary>
    protected virtual IComputeBackend Reference { get; } = new CpuBackend();

    /// <summary>Size of the random comparison; non-divisible by 2 and 3 on purpose.</summary>
    protected abstract (int Nx, int Ny, int Nz) RandomSize { get; }

    /// <summary>Twin vs twin and ILGPU's CPU accelerator: 1e-5 (see KernelVerifier.WarpTolerance for why).</summary>
    protected virtual double Tolerance => KernelVerifier.WarpTolerance;

    private IStackWarper W => Backend.Warper;

    [SkippableTheory]
    [InlineData(Interpolation.Linear, 1)]
    [InlineData(Interpolation.Linear, 2)]
    [InlineData(Interpolation.Linear, 3)]
    [InlineData(Interpolation.Cubic, 1)]
    [InlineData(Interpolation.Cubic, 2)]
    [InlineData(Interpolation.Cubic, 3)]
    public void MatchesTwinOnRandomInput(Interpolation interpolation, int bin)
    {
        int seed = Random.Shared.Next();
        _output.WriteLine($"{Backend.Description}; seed {seed}");
        var (nx, ny, nz) = RandomSize;
        var result = KernelVerifier.VerifyWarp(Backend, Reference, nx, ny, nz, new WarpOptions(bin, interpolation), new Random(seed));
        _output.WriteLine(result.ToString());
        Assert.True(result.AllWritten, $"some output elements were not written (seed {seed}, {result.Case})");
        Assert.True(result.MaxRelativeError <= Tolerance,
            $"max relative error {result.MaxRelativeError:E2} > {Tolerance:E2} (seed {seed}, {result.Case})");
    }

    [SkippableTheory]
    [InlineData(Interpolation.Linear)]
    [InlineData(Interpolation.Cubic)]
    public void IdentityReturnsTheInputExactly(Interpolation interpolation)
    {
        const int nx = 33, ny = 20, nz = 2;
        var source = RandomStack(nx, ny, nz, 11);
        var output = Warp(source, nx, ny, nz, Enumerable.Repeat(Xf.Identity, nz).ToArray(), new WarpOptions(1, interpolation), fill: 99f);
        Assert.Equal(source, output);
    }

    [SkippableTheory]
    [InlineData(Interpolation.Linear)]
    [InlineData(Interpolation.Cubic)]
    public void IntegerShiftMovesPixelsExactly(Interpolation interpolation)
    {
        const int nx = 31, ny = 24, sx = 3, sy = -2;
        const float fill = -7f;
        var source = RandomStack(nx, ny, 1, 12);
        var output = Warp(source, nx, ny, 1, new[] { new Xf(1, 0, 0, 1, sx, sy) }, new WarpOptions(1, interpolation), fill);
        for (int y = 0; y < ny; y++)
            for (int x = 0; x < nx; x++)
            {
                int ix = x - sx, iy = y - sy;   // raw pixel that lands on (x, y)
                float expected = ix >= 0 && ix < nx && iy >= 0 && iy < ny ? source[iy * nx + ix] : fill;
                Assert.True(expected == output[y * nx + x], $"({x}, {y}): expected {expected}, got {output[y * nx + x]}");
            }
    }

    [SkippableTheory]
    [InlineData(Interpolation.Linear)]
    [InlineData(Interpolation.Cubic)]
    public void Rotation90IsAnIndexPermutation(Interpolation interpolation)
    {
        // X' = −(Y−c)+c, Y' = (X−c)+c with c = N/2, so output (i, j) comes from raw (j, N−i);
        // for i = 0 that is row N, outside the image: fill.
        const int n = 16;
        const float fill = 5.5f;
        var source = RandomStack(n, n, 1, 13);
        var output = Warp(source, n, n, 1, new[] { new Xf(0, -1, 1, 0, 0, 0) }, new WarpOptions(1, interpolation), fill);
        for (int j = 0; j < n; j++)
            for (int i = 0; i < n; i++)
            {
                float expected = i == 0 ? fill : source[(n - i) * n + j];
                Assert.True(expected == output[j * n + i], $"({i}, {j}): expected {expected}, got {output[j * n + i]}");
            }
    }

    [SkippableTheory]
    [InlineData(Interpolation.Linear, 2)]
    [InlineData(Interpolation.Linear, 3)]
    [InlineData(Interpolation.Cubic, 3)]
    public void BinningAConstantImageIsConstant(Interpolation interpolation, int bin)
    {
        const int nx = 61, ny = 47;
        const float c = 3.25f;
        var source = Enumerable.Repeat(c, nx * ny * 2).ToArray();
        var xfs = new[] { Xf.Identity, Xf.RotationScale(37, 1.07, 4.5, -3.25) };
        var output = Warp(source, nx, ny, 2, xfs, new WarpOptions(bin, interpolation), fill: c);
        Assert.Equal(nx / bin * (ny / bin) * 2, output.Length);
        foreach (float v in output) Assert.True(Math.Abs(v - c) <= 1e-5 * c, $"expected {c}, got {v}");
    }

    [SkippableTheory]
    [InlineData(Interpolation.Linear, 1)]
    [InlineData(Interpolation.Cubic, 1)]
    [InlineData(Interpolation.Linear, 2)]
    [InlineData(Interpolation.Cubic, 2)]
    public void LinearRampIsReproducedAwayFromTheBorder(Interpolation interpolation, int bin)
    {
        const int nx = 40, ny = 34;
        static double Ramp(double x, double y) => 0.5 * x - 0.25 * y + 3;
        var source = new float[nx * ny];
        for (int y = 0; y < ny; y++) for (int x = 0; x < nx; x++) source[y * nx + x] = (float)Ramp(x, y);
        var xf = Xf.RotationScale(30, 1.05, 2.5, -1.5);
        var output = Warp(source, nx, ny, 1, new[] { xf }, new WarpOptions(bin, interpolation), fill: float.NaN);

        // Truth in double: the inverse maps each unbinned aligned position to the raw image; a ramp's mean
        // over the bin×bin samples is the ramp at the samples' mean. Only pixels whose samples all have their
        // whole cubic neighbourhood inside (1 ≤ s ≤ N−3) are checked, so clamping plays no part.
        Xf inverse = xf.Inverse();
        int nxo = nx / bin, nyo = ny / bin, checkedPixels = 0;
        for (int j = 0; j < nyo; j++)
            for (int i = 0; i < nxo; i++)
            {
                double sum = 0;
                bool interior = true;
                for (int l = 0; l < bin; l++)
                    for (int k = 0; k < bin; k++)
                    {
                        var (sx, sy) = inverse.Apply(i * bin + k, j * bin + l, nx / 2.0, ny / 2.0);
                        interior &= sx >= 1 && sx <= nx - 3 && sy >= 1 && sy <= ny - 3;
                        sum += Ramp(sx, sy);
                    }
                if (!interior) continue;
                checkedPixels++;
                double expected = sum / (bin * bin);
                // float positions (ulp 2e-6 px at 20 px, slope ≤ 0.5) and float values ≈ 20 (ulp 2e-6): 1e-4 is ample.
                Assert.True(Math.Abs(output[j * nxo + i] - expected) <= 1e-4,
                    $"({i}, {j}): expected {expected}, got {output[j * nxo + i]}");
            }
        Assert.True(checkedPixels > nxo * nyo / 3, $"only {checkedPixels} interior pixels checked");
    }

    [SkippableFact]
    public void RejectsMismatchedSizes()
    {
        var source = new float[10 * 10 * 2];
        var xfs = new[] { Xf.Identity, Xf.Identity };
        Assert.Throws<ArgumentException>(() => W.Warp(source, 10, 10, 2, xfs, new float[2], new WarpOptions(2), new float[5 * 5 * 2 - 1]));
        Assert.Throws<ArgumentException>(() => W.Warp(source, 10, 10, 2, xfs[..1], new float[2], new WarpOptions(), new float[200]));
    }

    protected float[] Warp(float[] source, int nx, int ny, int nz, Xf[] xfs, WarpOptions options, float fill)
    {
        var output = new float[options.OutputWidth(nx) * options.OutputHeight(ny) * nz];
        Array.Fill(output, float.NaN);
        W.Warp(source, nx, ny, nz, xfs, Enumerable.Repeat(fill, nz).ToArray(), options, output);
        return output;
    }

    protected static float[] RandomStack(int nx, int ny, int nz, int seed)
    {
        var random = new Random(seed);
        var data = new float[nx * ny * nz];
        for (int i = 0; i < data.Length; i++) data[i] = (float)(random.NextDouble() * 200 - 100);
        return data;
    }
}

/// <summary>The twin itself: truth tests, and one thread against all threads on random inputs.</summary>
public sealed class StackWarpTests_CpuTwin : StackWarpTests
{
    private readonly CpuBackend _backend = new();
    public StackWarpTests_CpuTwin(ITestOutputHelper output) : base(output) { }
    protected override IComputeBackend Backend => _backend;
    protected override IComputeBackend Reference { get; } = new CpuBackend(maxThreads: 1);
    protected override (int Nx, int Ny, int Nz) RandomSize => (61, 47, 3);
    protected override double Tolerance => 0;   // the same arithmetic, only split differently over threads
}

/// <summary>The ILGPU kernel on ILGPU's CPU accelerator (an emulator: small sizes only).</summary>
[Collection(IlgpuCpuCollection.Name)]
public sealed class StackWarpTests_IlgpuCpu : StackWarpTests
{
    private readonly IlgpuCpuFixture _fixture;
    public StackWarpTests_IlgpuCpu(IlgpuCpuFixture fixture, ITestOutputHelper output) : base(output) => _fixture = fixture;
    protected override IComputeBackend Backend => _fixture.Backend;
    protected override (int Nx, int Ny, int Nz) RandomSize => (61, 47, 3);

    [Fact]
    public void ChunkedLaunchesMatchOneLaunch()
    {
        var warper = _fixture.Backend.DeviceWarper;
        const int nx = 29, ny = 23, nz = 5;
        var source = RandomStack(nx, ny, nz, 21);
        var xfs = KernelVerifier.RandomTransforms(new Random(22), nz, nx);
        var fill = new float[] { 1, 2, 3, 4, 5 };
        var options = new WarpOptions(2, Interpolation.Cubic);
        var whole = new float[nx / 2 * (ny / 2) * nz];
        var chunked = new float[whole.Length];
        Array.Fill(chunked, float.NaN);
        warper.Warp(source, nx, ny, nz, xfs, fill, options, whole);
        Assert.True(warper.LastViewsPerChunk == nz);
        try
        {
            warper.MemoryBudgetOverride = 2 * 2 * sizeof(float) * (nx * ny + nx / 2 * (ny / 2) + 7);   // two views
            warper.Warp(source, nx, ny, nz, xfs, fill, options, chunked);
            Assert.Equal(2, warper.LastViewsPerChunk);
        }
        finally { warper.MemoryBudgetOverride = null; }
        Assert.Equal(whole, chunked);
    }

    [Fact]
    public void VerifyAllPasses()
    {
        int seed = Random.Shared.Next();
        var results = KernelVerifier.VerifyAll(_fixture.Backend, new CpuBackend(), 24, seed);
        Assert.Equal(4, results.Count(r => r.Kernel == "warp"));
        Assert.Equal(2, results.Count(r => r.Kernel.StartsWith("fft")));
        Assert.Equal(2, results.Count(r => r.Kernel == "pair correlation"));       // peak positions and strengths
        Assert.Equal(2, results.Count(r => r.Kernel == "bundle"));
        Assert.Equal(2, results.Count(r => r.Kernel == "backproject"));            // and the x-axis tilt with edge rows
        Assert.Equal(1, results.Count(r => r.Kernel == "project"));
        Assert.Equal(1, results.Count(r => r.Kernel == "template"));
        Assert.Equal(2, results.Count(r => r.Kernel == "filter + backproject"));
        Assert.Equal(1, results.Count(r => r.Kernel == "sirt"));
        Assert.Equal(1, results.Count(r => r.Kernel == "local backproject"));
        Assert.Equal(18, results.Count);
        Assert.All(results, r => Assert.True(r.Passed, $"{r} (seed {seed})"));
    }
}

/// <summary>The ILGPU kernel on a CUDA GPU; skipped, saying why, when none is present.</summary>
[Collection(CudaCollection.Name)]
public sealed class StackWarpTests_Cuda : StackWarpTests
{
    private readonly CudaFixture _fixture;
    public StackWarpTests_Cuda(CudaFixture fixture, ITestOutputHelper output) : base(output) => _fixture = fixture;

    protected override IComputeBackend Backend
    {
        get
        {
            Skip.If(_fixture.Backend is null, _fixture.WhyAbsent);
            return _fixture.Backend!;
        }
    }

    protected override (int Nx, int Ny, int Nz) RandomSize => (511, 509, 8);
}
