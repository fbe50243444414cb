using Xunit;
using ILGPU.Runtime.Cuda;
using Tomalign.Core.Backend;
using Tomalign.Core.Backend.Benchmarks;
using Tomalign.Core.Backend.Verification;
using Tomalign.Core.Geometry;
using Tomalign.Core.Imaging;
using Tomalign.Cpu;
using Tomalign.Gpu;

namespace Tomalign.Tests.Backend;

public sealed class BackendFactoryTests
{
    private static readonly Func<string, string?> NoEnvironment = _ => null;

    [SkippableFact]
    public void AutoWithoutCudaReturnsTheManagedCpuPath()
    {
        Skip.If(BackendFactory.HasCudaDevice(), "a CUDA device is present, so Auto picks it");
        var log = new ListLogger();
        using var backend = BackendFactory.Create(DeviceKind.Auto, log, () => new CpuBackend(), NoEnvironment);
        Assert.IsType<CpuBackend>(backend);
        Assert.False(backend.IsGpu);
        Assert.Empty(log.Warnings);
    }

    [SkippableFact]
    public void ExplicitCudaWithoutDeviceFallsBackWithAWarning()
    {
        Skip.If(BackendFactory.HasCudaDevice(), "a CUDA device is present");
        var log = new ListLogger();
        using var backend = BackendFactory.Create(DeviceKind.Cuda, log, () => new CpuBackend(), NoEnvironment);
        Assert.IsType<CpuBackend>(backend);
        Assert.Contains(log.Warnings, w => w.Contains("no CUDA device found; using the CPU path"));
    }

    [Fact]
    public void IlgpuCpuGivesTheIlgpuCpuAccelerator()
    {
        using var backend = BackendFactory.Create(DeviceKind.IlgpuCpu, new ListLogger(), () => new CpuBackend(), NoEnvironment);
        var gpu = Assert.IsType<GpuBackend>(backend);
        Assert.Equal("ilgpu-cpu", gpu.Name);
        Assert.False(gpu.IsGpu);
        Assert.IsType<FallbackStackWarper>(gpu.Warper);
    }

    [Fact]
    public void EnvironmentOverridesOnlyAuto()
    {
        var log = new ListLogger();
        Assert.Equal(DeviceKind.Cpu, BackendFactory.ResolveKind(DeviceKind.Auto, log, Env("cpu")));
        Assert.Equal(DeviceKind.Cuda, BackendFactory.ResolveKind(DeviceKind.Auto, log, Env(" CUDA ")));
        Assert.Equal(DeviceKind.OpenCL, BackendFactory.ResolveKind(DeviceKind.Auto, log, Env("opencl")));
        Assert.Equal(DeviceKind.Auto, BackendFactory.ResolveKind(DeviceKind.Auto, log, Env("auto")));
        Assert.Equal(DeviceKind.Cpu, BackendFactory.ResolveKind(DeviceKind.Cpu, log, Env("cuda")));
        Assert.Empty(log.Warnings);
        Assert.Equal(DeviceKind.Auto, BackendFactory.ResolveKind(DeviceKind.Auto, log, Env("tpu")));
        Assert.Single(log.Warnings);

        using var backend = BackendFactory.Create(DeviceKind.Auto, log, () => new CpuBackend(), Env("cpu"));
        Assert.IsType<CpuBackend>(backend);
    }

    private static Func<string, string?> Env(string value) =>
        name => name == BackendFactory.EnvironmentVariable ? value : null;

    public static TheoryData<string> OutOfMemoryKinds => new() { "managed", "cuda" };

    [Theory]
    [MemberData(nameof(OutOfMemoryKinds))]
    public void OutOfMemoryFallsBackToTheCpuPathWithAWarning(string kind)
    {
        Exception oom = kind == "cuda" ? new CudaException("out of memory") : new OutOfMemoryException("device full");
        var log = new ListLogger();
        var thrower = new ThrowingWarper(oom);
        var warper = new FallbackStackWarper(thrower, () => new CpuStackWarper(), log, "cuda");
        const int nx = 20, ny = 16, nz = 2;
        var source = Enumerable.Range(0, nx * ny * nz).Select(i => (float)Math.Sin(i)).ToArray();
        var xfs = new[] { Xf.RotationScale(10, 1.0), Xf.Identity };
        float[] fill = { 0.5f, -0.5f }, actual = new float[nx * ny * nz], expected = new float[nx * ny * nz];
        Array.Fill(actual, float.NaN);

        warper.Warp(source, nx, ny, nz, xfs, fill, new WarpOptions(), actual);
        new CpuStackWarper().Warp(source, nx, ny, nz, xfs, fill, new WarpOptions(), expected);

        Assert.Equal(1, thrower.Calls);
        Assert.Equal(1, warper.Fallbacks);
        Assert.Equal(expected, actual);
        Assert.Contains(log.Warnings, w => w.Contains("out of memory") && w.Contains("using the CPU path"));
    }

    [Fact]
    public void OtherDeviceErrorsAreNotHidden()
    {
        var warper = new FallbackStackWarper(new ThrowingWarper(new InvalidOperationException("kernel bug")),
            () => throw new Xunit.Sdk.XunitException("must not fall back"), new ListLogger());
        Assert.Throws<InvalidOperationException>(() =>
            warper.Warp(new float[4], 2, 2, 1, new[] { Xf.Identity }, new float[1], new WarpOptions(), new float[4]));
    }

    [Fact]
    public void ChunkingFitsViewsInHalfTheMemory()
    {
        Assert.Equal(5, DeviceChunking.ViewsPerChunk(1000, 100, 41));
        Assert.Equal(41, DeviceChunking.ViewsPerChunk(1L << 40, 100, 41));
        Assert.Equal(1, DeviceChunking.ViewsPerChunk(10, 100, 41));                                   // never zero
        Assert.Equal(2, DeviceChunking.ViewsPerChunk(1L << 40, 100, 41, elementsPerView: 1000, maxElementsPerBuffer: 2500));
        Assert.Equal(new[] { (0, 5), (5, 5), (10, 2) }, DeviceChunking.Chunks(12, 5).ToArray());
    }

    [Fact]
    public void RelativeErrorIsScaledByThePeakAndFlagsNaN()
    {
        Assert.Equal(0.1, KernelVerifier.MaxRelativeError(new float[] { 1.0f, -1.8f }, new float[] { 1.2f, -2.0f }), 6);
        Assert.Equal(double.PositiveInfinity, KernelVerifier.MaxRelativeError(new[] { float.NaN }, new[] { 1f }));
        Assert.Equal(double.PositiveInfinity, KernelVerifier.MaxRelativeError(new[] { 1f }, new[] { 1f, 2f }));
    }

    /// <summary>A timing check (a time &gt; 0), not a correctness test.</summary>
    [Fact]
    [Trait("Category", "Timing")]
    public void BenchmarkReturnsAPositiveMedian()
    {
        using var cpu = new CpuBackend();
        var stack = new ImageStack(32, 32, 2, Enumerable.Range(0, 2048).Select(i => (float)i).ToArray());
        var time = StageBenchmark.TimeWarp(cpu, stack, new[] { Xf.Identity, Xf.RotationScale(5, 1) }, new WarpOptions(2), 3);
        Assert.True(time > TimeSpan.Zero);
        Assert.True(StageBenchmark.PixelsPerSecond(stack, new WarpOptions(2), time) > 0);
    }

    private sealed class ThrowingWarper : IStackWarper
    {
        private readonly Exception _exception;
        public ThrowingWarper(Exception exception) => _exception = exception;
        public int Calls { get; private set; }
        public void Warp(ReadOnlySpan<float> source, int nx, int ny, int nz, ReadOnlySpan<Xf> transforms,
            ReadOnlySpan<float> fill, WarpOptions options, Span<float> destination)
        {
            Calls++;
            destination[0] = 12345f;   // a partial device result the fallback must overwrite
            throw _exception;
        }
    }
}
