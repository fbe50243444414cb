using Tomalign.Core.Backend;
using Tomalign.Core.Beads;
using Tomalign.Core.Coarse;
using Tomalign.Core.Geometry;
using Tomalign.Core.Imaging;
using Tomalign.Core.Simulation;
using Tomalign.Core.Solve;
using Tomalign.Cpu;
using Xunit;
using Xunit.Abstractions;

namespace Tomalign.Tests.Beads;

public sealed class BeadTrackerTests(ITestOutputHelper output)
{
    /// <summary>
    /// Raw simulated series (25 beads on two surfaces, textured slab, 20 e/px) → coarse → prealigned →
    /// bead tracking → solve → second pass → final solve, against the truth (the true bead projections
    /// through the same .prexg): the lines are ≥ 95 % of the bead images inside the field found
    /// within 0.5 px, under 1 % assigned to the wrong bead, an RMS residual under 0.5 px and alignment
    /// within 0.25 px after the gauge.
    /// </summary>
    [Theory]
    [InlineData(512, 3.0)]
    [InlineData(1024, 2.0)]
    public void TracksTheSimulatedBeadsAndTheSolveAlignsTheSeries(int n, double tiltStep)
    {
        var series = new TiltSeriesSimulator().Simulate(SimulationOptions.ForSize(n) with { BeadCount = 25, TiltStep = tiltStep });
        int nz = series.Raw.Nz;
        var tilts = series.NominalTilts;
        var coarse = new CoarseAligner(new CpuPairCorrelator()).Align(series.Raw, tilts, new CoarseAlignOptions { TiltAxisDegrees = 85 });
        var pre = new ImageStack(n, n, nz);
        var fill = new float[nz];
        Array.Fill(fill, 1f);
        new CpuBackend().Warper.Warp(series.Raw.Data, n, n, nz, coarse.Prexg, fill, new WarpOptions(1, Interpolation.Linear), pre.Data);
        var tracker = new BeadTracker(new CpuTemplateCorrelator());
        var options = new BeadTrackOptions { BeadDiameter = 2 * series.Options.BeadRadiusPixels, Beads = 30, TiltAxisDegrees = 85 };
        var first = tracker.Track(pre, tilts, options);
        var solveOptions = new SolveOptions { Robust = true, Magnification = VariableOption.PerView, Tilt = VariableOption.PerView };
        var solver = new BundleSolver(new CpuBundleNormalEquations());
        var solved1 = solver.Solve(new SolveInput(first.Observations, n, n, tilts, 85), solveOptions);
        var result = tracker.Refine(pre, first, solved1, options);
        var solved = solver.Solve(new SolveInput(result.Observations, n, n, tilts, 85), solveOptions);

        // Truth in the prealigned frame; each observation's nearest true bead, and each track's majority bead.
        var truth = Enumerable.Range(0, nz).Select(v => series.TrueBeadProjections(v, aligned: false)
            .Select(t => coarse.Prexg[v].Apply(t.X, t.Y, n / 2.0, n / 2.0)).ToArray()).ToArray();
        var nearest = result.Observations.Select(o =>
        {
            var t = truth[o.View];
            int j = Enumerable.Range(0, t.Length).MinBy(k => (t[k].X - o.X) * (t[k].X - o.X) + (t[k].Y - o.Y) * (t[k].Y - o.Y));
            return (o.Landmark, o.View, Bead: j, Distance: Math.Sqrt((t[j].X - o.X) * (t[j].X - o.X) + (t[j].Y - o.Y) * (t[j].Y - o.Y)));
        }).ToList();
        var majority = nearest.GroupBy(x => x.Landmark).ToDictionary(g => g.Key, g => g.GroupBy(x => x.Bead).MaxBy(h => h.Count())!.Key);
        int wrong = nearest.Count(x => x.Bead != majority[x.Landmark] || x.Distance > 2);
        // Recall: bead images well inside the field and not overlapping another bead, found within 0.5 px.
        double margin = BeadCentreFit.OuterRadius(series.Options.BeadRadiusPixels) + 2, sep = 4 * series.Options.BeadRadiusPixels;
        int inside = 0, found = 0;
        var byImage = nearest.Where(x => x.Distance < 0.5).Select(x => (x.View, x.Bead)).ToHashSet();
        for (int v = 0; v < nz; v++)
            for (int j = 0; j < truth[v].Length; j++)
            {
                var (x, y) = truth[v][j];
                if (x < margin || y < margin || x > n - margin || y > n - margin) continue;
                if (truth[v].Where((_, k) => k != j).Any(q => Math.Abs(q.X - x) < sep && Math.Abs(q.Y - y) < sep)) continue;
                inside++;
                if (byImage.Contains((v, j))) found++;
            }
        var final = Enumerable.Range(0, nz).Select(i => Xf.Product(coarse.Prexg[i], solved.Views[i].RawToAligned())).ToArray();
        double error = AlignmentCheck.ErrorAfterGauge(series, final);
        double rmsAll = Math.Sqrt(nearest.Where(x => x.Distance < 2).Average(x => x.Distance * x.Distance));
        output.WriteLine($"{n}²×{nz}: {first.Seeded} seeded; {result.Observations.Count} observations after the second pass (first {first.Observations.Count}); " +
                         $"{found} of {inside} isolated bead images inside the field found within 0.5 px ({100.0 * found / inside:F1} %), RMS {rmsAll:F3} px; " +
                         $"{wrong} wrong ({100.0 * wrong / result.Observations.Count:F2} %); residual RMS {solved.Overall.Rms:F3} px (mean {solved.Overall.Mean:F3}); " +
                         $"alignment error {error:F3} px after the gauge");
        Assert.True(found >= 0.95 * inside, $"{found} of {inside} bead images found within 0.5 px");
        Assert.True(wrong < 0.01 * result.Observations.Count, $"{wrong} of {result.Observations.Count} observations on the wrong bead");
        Assert.True(solved.Overall.Rms < 0.5, $"residual RMS {solved.Overall.Rms:F3} px");
        Assert.True(error < 0.25, $"alignment error {error:F3} px after the gauge");
    }
}

public sealed class BeadTrackOptionsTests
{
    [Theory]
    [InlineData(0.0, 25)]
    [InlineData(double.NaN, 25)]
    [InlineData(10.0, 0)]
    public void NonsenseIsRefused(double diameter, int beads) =>
        Assert.Throws<ArgumentException>(() => new BeadTrackOptions { BeadDiameter = diameter, Beads = beads }.Validate());
}

/// <summary>The template-correlation kernel (ILGPU's CPU accelerator) against its managed twin on fresh random inputs.</summary>
[Collection(Tomalign.Tests.Backend.IlgpuCpuCollection.Name)]
public sealed class TemplateCorrelatorParityTests(Tomalign.Tests.Backend.IlgpuCpuFixture fixture)
{
    [Theory]
    [InlineData(37, 24, 3, 7)]
    [InlineData(16, 17, 2, 1)]
    [InlineData(20, 9, 1, 11)]
    public void KernelMatchesTheTwinAndWritesEverything(int nx, int ny, int nz, int size)
    {
        var r = Tomalign.Core.Backend.Verification.KernelVerifier.VerifyTemplateCorrelation(fixture.Backend, new CpuBackend(), nx, ny, nz, size, new Random(Random.Shared.Next()));
        Assert.True(r.AllWritten, r.ToString());
        Assert.True(r.Passed, r.ToString());
    }

    [Fact]
    public void TheModelPeaksOnADarkDisk()
    {
        // A dark disk at (20, 14) in a flat 40×30 view: the correlation with the bead model is largest there.
        const int nx = 40, ny = 30;
        var view = new float[nx * ny];
        for (int y = 0; y < ny; y++)
            for (int x = 0; x < nx; x++)
                view[y * nx + x] = (x - 20) * (x - 20) + (y - 14) * (y - 14) <= 16 ? 0.2f : 1f;
        var model = BeadTracker.BeadModel(4, lightBeads: false, out int size);
        var score = new float[view.Length];
        new CpuTemplateCorrelator().Correlate(view, nx, ny, 1, model, size, score);
        int best = Array.IndexOf(score, score.Max());
        Assert.Equal((20, 14), (best % nx, best / nx));
    }
}

/// <summary>The CPU's FFT path for large views gives the kernel's direct sum (edges clamped) to float rounding.</summary>
public sealed class TemplateCorrelatorFftTests
{
    [Theory]
    [InlineData(150, 131, 2, 9)]
    [InlineData(256, 256, 3, 15)]
    [InlineData(200, 97, 1, 21)]
    public void FftPathMatchesTheDirectSum(int nx, int ny, int nz, int size)
    {
        var rng = new Random(Random.Shared.Next());
        var views = Enumerable.Range(0, nx * ny * nz).Select(_ => (float)(rng.NextDouble() * 2 - 1)).ToArray();
        var template = Enumerable.Range(0, size * size).Select(_ => (float)(rng.NextDouble() * 2 - 1)).ToArray();
        var c = new CpuTemplateCorrelator();
        var direct = new float[views.Length];
        var fft = Enumerable.Repeat(float.NaN, views.Length).ToArray();
        c.CorrelateDirect(views, nx, ny, nz, template, size, direct);
        Assert.True((long)nx * ny >= CpuTemplateCorrelator.FftThresholdPixels, "the case must take the FFT path");
        c.Correlate(views, nx, ny, nz, template, size, fft);
        double error = Tomalign.Core.Backend.Verification.KernelVerifier.MaxRelativeError(fft, direct);
        Assert.True(error <= Tomalign.Core.Backend.Verification.KernelVerifier.TemplateTolerance, $"FFT path off by {error:E2} of the peak");
    }
}
