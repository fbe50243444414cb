using ILGPU;
using ILGPU.Runtime;
using ILGPU.Runtime.CPU;
using Tomalign.Core.Backend;
using Tomalign.Core.Solve;
using Tomalign.Cpu;
using Tomalign.Gpu;
using Xunit;

namespace Tomalign.Tests.Solve;

/// <summary>The ILGPU kernels (on ILGPU's CPU accelerator, small sizes) against the managed implementation; fresh random problems, seed printed on failure.</summary>
[Trait("Category", "Correctness")]
public class BundleNormalEquationsParityTests
{
    private static (BundleProblem, double[] State, double[] Lm, double[] W) RandomProblem(int seed, int views, int landmarks)
    {
        var rng = new Random(seed);
        var v = new List<int>(); var l = new List<int>(); var x = new List<double>(); var y = new List<double>();
        for (int j = 0; j < landmarks; j++)
            for (int i = 0; i < views; i++)
                if (rng.NextDouble() < 0.8) { v.Add(i); l.Add(j); x.Add(rng.NextDouble() * 600 - 300); y.Add(rng.NextDouble() * 600 - 300); }
        var p = new BundleProblem(views, landmarks, v.ToArray(), l.ToArray(), x.ToArray(), y.ToArray());
        var state = new double[BundleLayout.ViewStateSize * views];
        for (int i = 0; i < views; i++)
        {
            int o = BundleLayout.ViewStateSize * i;
            state[o] = rng.NextDouble() - 0.5; state[o + 1] = 2 * rng.NextDouble() - 1; state[o + 2] = 0.9 + 0.2 * rng.NextDouble();
            state[o + 3] = 20 * rng.NextDouble() - 10; state[o + 4] = 20 * rng.NextDouble() - 10; state[o + 5] = 0.1 * rng.NextDouble();
        }
        var lm = Enumerable.Range(0, 3 * landmarks).Select(_ => rng.NextDouble() * 500 - 250).ToArray();
        var w = Enumerable.Range(0, p.ObservationCount).Select(_ => rng.NextDouble()).ToArray();
        return (p, state, lm, w);
    }

    /// <summary>The seed of the current random problem (printed on failure; a fresh one each run).</summary>
    private int _seed;

    private void Close(double[] expected, double[] actual, string what)
    {
        Assert.Equal(expected.Length, actual.Length);
        Assert.False(expected.Any(double.IsNaN), $"seed {_seed}: {what}: the managed side left an element unwritten");
        Assert.False(actual.Any(double.IsNaN), $"seed {_seed}: {what}: the kernels left an element unwritten");
        double scale = Math.Max(expected.Max(Math.Abs), 1e-300);
        for (int t = 0; t < expected.Length; t++)
            Assert.True(Math.Abs(expected[t] - actual[t]) <= 1e-6 * scale, $"seed {_seed}: {what}[{t}]: {expected[t]} vs {actual[t]}");
    }

    [Fact]
    public void KernelsMatchTheManagedNormalEquations()
    {
        using var context = Context.Create(b => b.CPU().EnableAlgorithms());
        using var accelerator = context.CreateCPUAccelerator(0);
        using var gpu = new GpuBundleNormalEquations(accelerator);
        var cpu = new CpuBundleNormalEquations();
        int seed = Random.Shared.Next();
        var (p, state, lm, w) = RandomProblem(seed, views: 9, landmarks: 12);
        var a = new BundleNormalBlocks(p);
        var b = new BundleNormalBlocks(p);
        // Both outputs NaN-filled first: "fills every array (overwriting)", so an element left unwritten fails.
        foreach (var blocks in new[] { a, b })
            foreach (var array in new[] { blocks.Residual, blocks.ViewView, blocks.LandmarkLandmark, blocks.ViewLandmark, blocks.ViewGradient, blocks.LandmarkGradient })
                Array.Fill(array, double.NaN);
        a.Cost = b.Cost = double.NaN;
        cpu.Accumulate(p, state, lm, w, a);
        gpu.Accumulate(p, state, lm, w, b);
        _seed = seed;
        Close(a.Residual, b.Residual, "residual");
        Close(a.ViewView, b.ViewView, "view×view");
        Close(a.LandmarkLandmark, b.LandmarkLandmark, "landmark 3×3");
        Close(a.ViewLandmark, b.ViewLandmark, "view×landmark");
        Close(a.ViewGradient, b.ViewGradient, "view gradient");
        Close(a.LandmarkGradient, b.LandmarkGradient, "landmark gradient");
        Assert.True(Math.Abs(a.Cost - b.Cost) <= a.Cost * 1e-9, $"seed {seed}: cost {a.Cost} vs {b.Cost}");
        Assert.True(a.ViewView.Any(v => v != 0) && a.ViewLandmark.Any(v => v != 0), $"seed {seed}: empty blocks");

        // A second call on the same problem with other parameters (buffers reused).
        state[1] += 0.1; lm[4] += 3;
        var ra = new double[2 * p.ObservationCount]; var rb = new double[2 * p.ObservationCount];
        Array.Fill(ra, double.NaN); Array.Fill(rb, double.NaN);
        double ca = cpu.Residuals(p, state, lm, w, ra), cb = gpu.Residuals(p, state, lm, w, rb);
        Close(ra, rb, "residual (2nd)");
        Assert.True(Math.Abs(ca - cb) <= ca * 1e-9, $"seed {seed}: cost {ca} vs {cb}");
    }

    [Fact]
    public void SolverGivesTheSameAnswerOnBothBackends()
    {
        using var context = Context.Create(b => b.CPU().EnableAlgorithms());
        using var accelerator = context.CreateCPUAccelerator(0);
        using var gpu = new GpuBundleNormalEquations(accelerator);
        var sim = SimulatedLandmarks.Create(8, landmarks: 10, views: 15, sigma: 0.3);
        var options = new SolveOptions { Tilt = VariableOption.Grouped(3), Magnification = VariableOption.Grouped(3) };
        var a = new BundleSolver(new CpuBundleNormalEquations()).Solve(sim.Input(), options);
        var b = new BundleSolver(gpu).Solve(sim.Input(), options);
        Assert.Equal(a.Overall.Rms, b.Overall.Rms, 1e-9);
        for (int i = 0; i < 15; i++)
        {
            Assert.Equal(a.Views[i].AxisAngleDegrees, b.Views[i].AxisAngleDegrees, 1e-7);
            Assert.Equal(a.Views[i].TiltDegrees, b.Views[i].TiltDegrees, 1e-7);
        }
    }
}
