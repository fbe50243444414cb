using BenchmarkDotNet.Attributes;
using Tomalign.Core.Solve;
using Tomalign.Cpu;
using Tomalign.Tests.Solve;

namespace Tomalign.Bench;

/// <summary>
/// Bundle-adjustment solves on the managed CPU path (simulated landmark sets: σ = 0.3 px, 20 % of points
/// missing, more at high tilt; default options: per-view rotation, tilt grouped by 5, magnification by 4,
/// two-stage start).
/// </summary>
public class SolveBenchmarks
{
    private SolveInput _input = null!;

    [Params(30, 2000)] public int Landmarks;
    [Params(61, 107)] public int Views;

    [GlobalSetup]
    public void Setup() => _input = SimulatedLandmarks.Create(1, landmarks: Landmarks, views: Views).Input();

    [Benchmark]
    public SolveResult Solve() => new BundleSolver(new CpuBundleNormalEquations()).Solve(_input, new SolveOptions());
}
