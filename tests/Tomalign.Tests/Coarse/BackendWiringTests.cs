using ILGPU.Runtime.Cuda;
using Tomalign.Core.Backend;
using Tomalign.Core.Coarse;
using Tomalign.Core.Geometry;
using Tomalign.Cpu;
using Tomalign.Cpu.Fft;
using Tomalign.Gpu;
using Tomalign.Tests.Backend;
using Xunit;

namespace Tomalign.Tests.Coarse;

/// <summary>The backends expose the FFT and the pair correlator; the GPU correlator falls back to the CPU path on out-of-memory only.</summary>
public sealed class BackendWiringTests
{
    [Fact]
    public void CpuBackendHasTheManagedFftAndCorrelator()
    {
        using var cpu = new CpuBackend();
        Assert.IsType<ManagedFft2D>(cpu.Fft);
        Assert.IsType<CpuPairCorrelator>(cpu.PairCorrelator);
    }

    [Fact]
    public void IlgpuBackendWrapsItsCorrelatorInTheFallback()
    {
        using var backend = BackendFactory.Create(DeviceKind.IlgpuCpu, new ListLogger(), () => new CpuBackend(), _ => null);
        var gpu = Assert.IsType<GpuBackend>(backend);
        Assert.Equal("ilgpu-stockham", gpu.Fft.Name);
        Assert.IsType<FallbackPairCorrelator>(gpu.PairCorrelator);
        Assert.Same(gpu.PairCorrelator, gpu.PairCorrelator);
        using var bare = GpuBackend.CreateIlgpuCpu();
        Assert.IsType<GpuPairCorrelator>(bare.PairCorrelator);
    }

    private static (float[] Views, CorrelationPair[] Pairs, CorrelationSettings Settings, ViewStatistics[] Stats) Inputs()
    {
        const int n = 32;
        var rng = new Random(4);
        var field = Enumerable.Range(0, 3 * n * n).Select(_ => (float)rng.NextDouble()).ToArray();
        var pairs = new[] { new CorrelationPair(0, 1, Xf.Identity), new CorrelationPair(1, 2, Xf.Identity) };
        var settings = new CorrelationSettings(36, 36, 2, new BandPassFilter(0.03, 0.25, 0.05));
        return (field, pairs, settings, ViewStatisticsCalculator.Compute(field, n, n, 3));
    }

    public static TheoryData<string> OutOfMemoryKinds => new() { "managed", "cuda" };

    [Theory]
    [MemberData(nameof(OutOfMemoryKinds))]
    public void OutOfMemoryRedoesTheBatchOnTheCpuPath(string kind)
    {
        Exception oom = kind == "cuda" ? new CudaException("out of memory") : new OutOfMemoryException("device full");
        var (views, pairs, settings, stats) = Inputs();
        var log = new ListLogger();
        var thrower = new ThrowingCorrelator(oom);
        var correlator = new FallbackPairCorrelator(thrower, () => new CpuPairCorrelator(), log, "cuda");
        var actual = correlator.Correlate(views, 32, 32, 3, stats, pairs, settings);
        var expected = new CpuPairCorrelator().Correlate(views, 32, 32, 3, stats, pairs, settings);
        Assert.Equal(1, thrower.Calls);
        Assert.Equal(1, correlator.Fallbacks);
        Assert.Equal(expected, actual);
        Assert.Contains(log.Warnings, w => w.Contains("out of memory") && w.Contains("using the CPU path"));
    }

    [Fact]
    public void OtherCorrelatorErrorsAreNotHidden()
    {
        var (views, pairs, settings, stats) = Inputs();
        var correlator = new FallbackPairCorrelator(new ThrowingCorrelator(new InvalidOperationException("kernel bug")),
            () => throw new Xunit.Sdk.XunitException("must not fall back"), new ListLogger());
        Assert.Throws<InvalidOperationException>(() => correlator.Correlate(views, 32, 32, 3, stats, pairs, settings));
    }

    private sealed class ThrowingCorrelator(Exception exception) : IPairCorrelator
    {
        public int Calls { get; private set; }
        public CorrelationPeak[] Correlate(ReadOnlySpan<float> views, int nx, int ny, int nz, ReadOnlySpan<ViewStatistics> statistics,
            ReadOnlySpan<CorrelationPair> pairs, CorrelationSettings settings)
        {
            Calls++;
            throw exception;
        }
    }
}
