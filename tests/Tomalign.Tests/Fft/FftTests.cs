using Tomalign.Core.Backend;
using Tomalign.Core.Fft;
using Tomalign.Cpu.Fft;
using Tomalign.Gpu.Fft;
using Xunit;

namespace Tomalign.Tests.Fft;

public class FftSizeTests
{
    [Theory]
    [InlineData(1, 1)] [InlineData(7, 8)] [InlineData(11, 12)] [InlineData(13, 15)] [InlineData(17, 18)]
    [InlineData(97, 100)] [InlineData(121, 125)] [InlineData(1000, 1000)] [InlineData(1001, 1024)]
    public void NextGoodIsTheSmallestGoodSizeAtLeastN(int n, int expected) => Assert.Equal(expected, FftSize.NextGood(n));

    [Fact]
    public void NextGoodIsGoodAndMinimal()
    {
        for (int n = 1; n <= 600; n++)
        {
            int g = FftSize.NextGood(n);
            Assert.True(FftSize.IsGood(g));
            for (int m = n; m < g; m++) Assert.False(FftSize.IsGood(m), $"{m} is good but NextGood({n}) = {g}");
            int e = FftSize.NextGoodEven(n);
            Assert.True(e % 2 == 0 && e >= n && FftSize.IsGood(e));
        }
        Assert.False(FftSize.IsGood(0));
        Assert.False(FftSize.IsGood(7));
        Assert.Throws<ArgumentException>(() => FftSize.Radices(14));
    }
}

/// <summary>
/// One body for every FFT backend. The reference is a separable direct DFT in double; the
/// tolerance is relative to the largest reference magnitude: 2e-5, float32 storage between
/// the row and column passes (ε = 6e-8) times a few dozen operations per output.
/// </summary>
public abstract class FftTestBody
{
    protected const double Tolerance = 2e-5;

    protected abstract IFft2D Fft { get; }

    public static TheoryData<int, int, int> Sizes => new()
    {
        { 6, 15, 2 }, { 15, 6, 1 }, { 45, 8, 2 }, { 60, 64, 1 }, { 64, 60, 2 }, { 81, 100, 1 }, { 100, 81, 1 }, { 125, 30, 1 }, { 1, 5, 2 }, { 2, 1, 1 },
    };

    public static TheoryData<int, int, int> SmallSizes => new()
    {
        { 6, 15, 2 }, { 15, 6, 1 }, { 45, 8, 2 }, { 60, 64, 1 }, { 64, 60, 2 }, { 1, 5, 2 },
    };

    protected void CheckForwardAgainstDirectDft(int nx, int ny, int batch)
    {
        var real = Random(nx * ny * batch, seed: nx * 1000 + ny);
        var spectrum = Nan((int)Fft2DArguments.SpectrumLength(nx, ny, batch));
        Fft.Forward(real, nx, ny, batch, spectrum);
        var expected = DirectDft(real, nx, ny, batch);
        AssertClose(expected, spectrum, $"{Fft.Name} forward {nx}×{ny}×{batch}");
    }

    protected void CheckRoundTripAndParseval(int nx, int ny, int batch)
    {
        var real = Random(nx * ny * batch, seed: 7 + nx * 31 + ny);
        var spectrum = Nan((int)Fft2DArguments.SpectrumLength(nx, ny, batch));
        Fft.Forward(real, nx, ny, batch, spectrum);

        int w = nx / 2 + 1;
        for (int b = 0; b < batch; b++)
        {
            double energy = 0, spectral = 0;
            for (int i = 0; i < nx * ny; i++) energy += (double)real[b * nx * ny + i] * real[b * nx * ny + i];
            for (int y = 0; y < ny; y++)
                for (int k = 0; k < w; k++)
                {
                    long a = 2L * ((long)(b * ny + y) * w + k);
                    double weight = k == 0 || 2 * k == nx ? 1 : 2;
                    spectral += weight * ((double)spectrum[a] * spectrum[a] + (double)spectrum[a + 1] * spectrum[a + 1]);
                }
            spectral /= (double)nx * ny;
            Assert.True(Math.Abs(spectral - energy) <= 1e-5 * energy, $"{Fft.Name} Parseval {nx}×{ny}: Σ|f|² = {energy}, Σ|F|²/N = {spectral}");
        }

        var back = Nan(real.Length);
        Fft.Inverse(spectrum, nx, ny, batch, back);
        var scaled = back.Select(v => v / ((float)nx * ny)).ToArray();
        AssertClose(real.Select(v => (double)v).ToArray(), scaled, $"{Fft.Name} round trip {nx}×{ny}×{batch}");
    }

    internal static float[] Random(int n, int seed)
    {
        var rng = new Random(seed);
        var a = new float[n];
        for (int i = 0; i < n; i++) a[i] = (float)(rng.NextDouble() * 2 - 1 + 0.3);
        return a;
    }

    internal static float[] Nan(int n)
    {
        var a = new float[n];
        Array.Fill(a, float.NaN);
        return a;
    }

    /// <summary>Half spectrum by a separable direct DFT (rows, then columns), in double.</summary>
    internal static double[] DirectDft(float[] real, int nx, int ny, int batch)
    {
        int w = nx / 2 + 1;
        var result = new double[2 * w * ny * batch];
        var rowRe = new double[ny * w]; var rowIm = new double[ny * w];
        for (int b = 0; b < batch; b++)
        {
            for (int y = 0; y < ny; y++)
                for (int k = 0; k < w; k++)
                {
                    double sr = 0, si = 0;
                    for (int x = 0; x < nx; x++)
                    {
                        double a = -2 * Math.PI * ((long)k * x % nx) / nx, v = real[(b * ny + y) * nx + x];
                        sr += v * Math.Cos(a); si += v * Math.Sin(a);
                    }
                    rowRe[y * w + k] = sr; rowIm[y * w + k] = si;
                }
            for (int ky = 0; ky < ny; ky++)
                for (int k = 0; k < w; k++)
                {
                    double sr = 0, si = 0;
                    for (int y = 0; y < ny; y++)
                    {
                        double a = -2 * Math.PI * ((long)ky * y % ny) / ny, c = Math.Cos(a), s = Math.Sin(a);
                        double vr = rowRe[y * w + k], vi = rowIm[y * w + k];
                        sr += vr * c - vi * s; si += vr * s + vi * c;
                    }
                    long o = 2L * ((long)(b * ny + ky) * w + k);
                    result[o] = sr; result[o + 1] = si;
                }
        }
        return result;
    }

    internal static void AssertClose(double[] expected, float[] actual, string what, double tolerance = Tolerance)
    {
        Assert.Equal(expected.Length, actual.Length);
        double scale = expected.Max(Math.Abs);
        int worst = -1; double worstErr = 0;
        for (int i = 0; i < expected.Length; i++)
        {
            if (float.IsNaN(actual[i])) Assert.Fail($"{what}: element {i} not written (NaN)");
            double e = Math.Abs(actual[i] - expected[i]);
            if (e > worstErr) { worstErr = e; worst = i; }
        }
        Assert.True(worstErr <= tolerance * scale,
            $"{what}: relative error {worstErr / scale:E2} at element {worst} (expected {expected[Math.Max(worst, 0)]}, got {actual[Math.Max(worst, 0)]}), tolerance {tolerance:E1}");
    }
}

public sealed class FftTests_Managed : FftTestBody
{
    protected override IFft2D Fft { get; } = new ManagedFft2D();

    [Theory, MemberData(nameof(Sizes))]
    public void ForwardMatchesDirectDft(int nx, int ny, int batch) => CheckForwardAgainstDirectDft(nx, ny, batch);

    [Theory, MemberData(nameof(Sizes))]
    public void RoundTripAndParseval(int nx, int ny, int batch) => CheckRoundTripAndParseval(nx, ny, batch);

    [Fact]
    public void LargeMixedSizeRoundTrip() => CheckRoundTripAndParseval(360, 250, 3);

    [Fact]
    public void RejectsSizesWithOtherPrimes() =>
        Assert.Throws<ArgumentException>(() => Fft.Forward(new float[14 * 4], 14, 4, 1, new float[2 * 8 * 4]));
}

public sealed class FftTests_MathNet : FftTestBody
{
    protected override IFft2D Fft { get; } = new MathNetFft2D();

    [Theory, MemberData(nameof(SmallSizes))]
    public void ForwardMatchesDirectDft(int nx, int ny, int batch) => CheckForwardAgainstDirectDft(nx, ny, batch);

    [Theory, MemberData(nameof(SmallSizes))]
    public void RoundTripAndParseval(int nx, int ny, int batch) => CheckRoundTripAndParseval(nx, ny, batch);
}

public sealed class FftTests_IlgpuCpu : FftTestBody, IClassFixture<IlgpuCpuFixture>
{
    private readonly IlgpuCpuFixture _fixture;
    public FftTests_IlgpuCpu(IlgpuCpuFixture fixture) { _fixture = fixture; Fft = new GpuFft2D(fixture.Accelerator, new StockhamDeviceFft(fixture.Accelerator)); }
    protected override IFft2D Fft { get; }

    [Theory, MemberData(nameof(SmallSizes))]
    public void ForwardMatchesDirectDft(int nx, int ny, int batch) => CheckForwardAgainstDirectDft(nx, ny, batch);

    [Theory, MemberData(nameof(SmallSizes))]
    public void RoundTripAndParseval(int nx, int ny, int batch) => CheckRoundTripAndParseval(nx, ny, batch);

    [Theory]
    [InlineData(64, 64, 3)]
    [InlineData(45, 20, 2)]
    public void AgreesWithManagedCpu(int nx, int ny, int batch)
    {
        var real = Random(nx * ny * batch, seed: 99);
        int len = (int)Fft2DArguments.SpectrumLength(nx, ny, batch);
        var cpu = Nan(len); var gpu = Nan(len);
        new ManagedFft2D().Forward(real, nx, ny, batch, cpu);
        Fft.Forward(real, nx, ny, batch, gpu);
        AssertClose(cpu.Select(v => (double)v).ToArray(), gpu, $"ilgpu-cpu vs managed {nx}×{ny}");
        var backCpu = Nan(real.Length); var backGpu = Nan(real.Length);
        new ManagedFft2D().Inverse(cpu, nx, ny, batch, backCpu);
        Fft.Inverse(cpu, nx, ny, batch, backGpu);
        AssertClose(backCpu.Select(v => (double)v).ToArray(), backGpu, $"ilgpu-cpu vs managed inverse {nx}×{ny}");
    }

    [Fact]
    public void FactoryPicksStockhamOffCuda() => Assert.IsType<StockhamDeviceFft>(DeviceFft.Create(_fixture.Accelerator));
}

public sealed class FftTests_Cuda : FftTestBody, IClassFixture<CudaFixture>
{
    private readonly CudaFixture _fixture;
    private IFft2D? _fft;
    public FftTests_Cuda(CudaFixture fixture) => _fixture = fixture;
    protected override IFft2D Fft => _fft ??= new GpuFft2D(_fixture.Accelerator!);

    [SkippableTheory, MemberData(nameof(Sizes))]
    public void CuFftMatchesDirectDft(int nx, int ny, int batch)
    {
        Skip.If(_fixture.Accelerator is null, _fixture.SkipReason);
        Assert.Equal("cufft", Fft.Name);
        CheckForwardAgainstDirectDft(nx, ny, batch);
        CheckRoundTripAndParseval(nx, ny, batch);
    }

    [SkippableTheory, MemberData(nameof(SmallSizes))]
    public void StockhamKernelsOnCudaMatchDirectDft(int nx, int ny, int batch)
    {
        Skip.If(_fixture.Accelerator is null, _fixture.SkipReason);
        _fft = new GpuFft2D(_fixture.Accelerator!, new StockhamDeviceFft(_fixture.Accelerator!));
        CheckForwardAgainstDirectDft(nx, ny, batch);
        CheckRoundTripAndParseval(nx, ny, batch);
    }
}
