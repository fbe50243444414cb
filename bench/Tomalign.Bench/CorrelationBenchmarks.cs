using BenchmarkDotNet.Attributes;
using Tomalign.Core.Backend;
using Tomalign.Core.Coarse;
using Tomalign.Core.Fft;
using Tomalign.Core.Geometry;
using Tomalign.Cpu;

namespace Tomalign.Bench;

/// <summary>
/// Batched correlation of all neighbouring pairs of a 41-view series on the managed CPU path
/// (prepare + FFT + cross-power + inverse FFT + peak), data already in memory. The GPU path is
/// timed by `tomalign bench` on a machine with a device.
/// dotnet run -c Release --project bench/Tomalign.Bench -- --filter '*PairCorrelation*'
/// </summary>
public class PairCorrelationBenchmarks
{
    private float[] _views = [];
    private ViewStatistics[] _stats = [];
    private CorrelationPair[] _pairs = [];
    private CorrelationSettings _settings = null!;
    private readonly CpuPairCorrelator _cpu = new();

    [Params(512, 1024)] public int Size;
    public const int Views = 41;

    [GlobalSetup]
    public void Setup()
    {
        var rng = new Random(1);
        _views = new float[(long)Size * Size * Views];
        for (int i = 0; i < _views.Length; i++) _views[i] = (float)rng.NextDouble();
        _stats = ViewStatisticsCalculator.Compute(_views, Size, Size, Views);
        _pairs = Enumerable.Range(1, Views - 1).Select(i => new CorrelationPair(i - 1, i, Xf.RotationScale(0, 1.0 + 0.002 * i))).ToArray();
        int p = FftSize.NextGoodEven(Size + Size / 10);
        _settings = new CorrelationSettings(p, p, Size / 10, new BandPassFilter());
    }

    [Benchmark]
    public CorrelationPeak[] CorrelateAllPairs() => _cpu.Correlate(_views, Size, Size, Views, _stats, _pairs, _settings);
}
