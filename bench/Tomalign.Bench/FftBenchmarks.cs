using BenchmarkDotNet.Attributes;
using Tomalign.Core.Backend;
using Tomalign.Cpu.Fft;

namespace Tomalign.Bench;

/// <summary>
/// Batched 2-D real → complex FFT and back on the CPU: Tomalign's managed mixed-radix
/// Stockham FFT against MathNet.Numerics' Fourier (same layout, same Parallel.For over rows and
/// columns). 1024² is the size coarse alignment correlates at; 1000² and 960² are mixed radix.
/// dotnet run -c Release --project bench/Tomalign.Bench -- --filter '*Fft*'
/// </summary>
[MemoryDiagnoser]
public class FftBenchmarks
{
    private float[] _real = [];
    private float[] _spectrum = [];
    private float[] _back = [];
    private readonly IFft2D _managed = new ManagedFft2D();
    private readonly IFft2D _mathNet = new MathNetFft2D();

    [Params(1024, 1000, 960)] public int Size;
    [Params(4)] public int Batch;

    [GlobalSetup]
    public void Setup()
    {
        var rng = new Random(1);
        _real = new float[(long)Size * Size * Batch];
        for (int i = 0; i < _real.Length; i++) _real[i] = (float)rng.NextDouble();
        _spectrum = new float[Fft2DArguments.SpectrumLength(Size, Size, Batch)];
        _back = new float[_real.Length];
        _managed.Forward(_real, Size, Size, Batch, _spectrum);
    }

    [Benchmark(Baseline = true)]
    public void MathNetForward() => _mathNet.Forward(_real, Size, Size, Batch, _spectrum);

    [Benchmark]
    public void ManagedForward() => _managed.Forward(_real, Size, Size, Batch, _spectrum);

    [Benchmark]
    public void MathNetInverse() => _mathNet.Inverse(_spectrum, Size, Size, Batch, _back);

    [Benchmark]
    public void ManagedInverse() => _managed.Inverse(_spectrum, Size, Size, Batch, _back);
}
