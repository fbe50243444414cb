using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Running;
using Tomalign.Core.Backend;
using Tomalign.Core.Geometry;
using Tomalign.Core.Simulation;
using Tomalign.Cpu;

namespace Tomalign.Bench;

/// <summary>
/// Managed CPU path benchmarks. GPU runs are timed by `tomalign bench --device cuda`, which
/// needs a device; these run anywhere:  dotnet run -c Release --project bench/Tomalign.Bench -- --filter '*'
/// </summary>
public static class Program
{
    public static void Main(string[] args)
    {
        // Not a benchmark: the markerless-accuracy study (docs/MARKERLESS.md).
        if (args.Length > 0 && args[0] == "markerless-study") { MarkerlessStudy.Run(); return; }
        if (args.Length > 0 && args[0] == "patch-zoo") { PatchZooStudy.Run(args); return; }
        if (args.Length > 0 && args[0] == "wbp-throughput") { WbpThroughput.Run(args); return; }
        BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
    }
}

[MemoryDiagnoser]
public class WarpBenchmarks
{
    private float[] _src = [];
    private float[] _dst = [];
    private float[] _fill = [];
    private Xf[] _xfs = [];
    private readonly CpuBackend _cpu = new();

    [Params(1024, 2048)] public int Size;
    [Params(8)] public int Views;
    [Params(Interpolation.Linear, Interpolation.Cubic)] public Interpolation Interp;

    [GlobalSetup]
    public void Setup()
    {
        var rng = new Random(1);
        _src = new float[(long)Size * Size * Views];
        for (int i = 0; i < _src.Length; i++) _src[i] = (float)rng.NextDouble();
        _dst = new float[_src.Length];
        _fill = new float[Views];
        _xfs = Enumerable.Range(0, Views).Select(i => Xf.RotationScale(85 + i, 1.01, 3.5 * i, -2.25 * i)).ToArray();
    }

    [Benchmark]
    public void Warp() => _cpu.Warper.Warp(_src, Size, Size, Views, _xfs, _fill, new WarpOptions(1, Interp), _dst);
}

public class SimulatorBenchmarks
{
    [Params(512)] public int Size;

    [Benchmark]
    public SimulatedSeries Simulate41Views() =>
        new TiltSeriesSimulator().Simulate(new SimulationOptions { Nx = Size, Ny = Size });
}
