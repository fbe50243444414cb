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
    /// Raw simulated series (512², 41 views, 20 beads of 10 px, 20 e/px) → coarse → prealigned →
    /// bead tracking: tracked centres against the true bead projections (through the same .prexg),
    /// then the robust solve and the alignment error after the gauge.
    /// </summary>
    [Fact]
    public void TracksTheSimulatedBeadsAndTheSolveAlignsTheSeries()
    {
        var series = new TiltSeriesSimulator().Simulate(SimulationOptions.ForSize(512));
        int n = 512, nz = series.Raw.Nz;
        var tilts = series.NominalTilts;
        var coarse = new CoarseAligner(new CpuPairCorrelator()).Align(series.Raw, tilts, new CoarseAlignOptions { TiltAxisDegrees = 85 });
        var pre = new ImageStack(n, n, nz);
        var fill = new float[nz];
        Array.Fill(fill, 1f);
        new CpuBackend().Warper.Warp(series.Raw.Data, n, n, nz, coarse.Prexg, fill, new WarpOptions(1, Interpolation.Linear), pre.Data);
        var result = new BeadTracker(new CpuTemplateCorrelator()).Track(pre, tilts, new BeadTrackOptions { BeadDiameter = 10, Beads = 25, TiltAxisDegrees = 85 });

        // Match every observation to the nearest true bead projection (prealigned frame).
        int within1 = 0; double sum2 = 0; int far = 0;
        foreach (var o in result.Observations)
        {
            var raw = series.TrueBeadProjections(o.View, aligned: false);
            double best = double.MaxValue;
            foreach (var t in raw)
            {
                var (x, y) = coarse.Prexg[o.View].Apply(t.X, t.Y, n / 2.0, n / 2.0);
                best = Math.Min(best, Math.Sqrt((x - o.X) * (x - o.X) + (y - o.Y) * (y - o.Y)));
            }
            if (best < 1) { within1++; sum2 += best * best; } else far++;
        }
        double rms = Math.Sqrt(sum2 / Math.Max(1, within1));
        output.WriteLine($"{result.Seeded} seeded, {result.Observations.Count} observations (mean track {result.MeanTrackLength:F1} of {nz}); " +
                         $"{within1} within 1 px of a true bead (RMS {rms:F3} px), {far} farther");
        var solved = new BundleSolver(new CpuBundleNormalEquations()).Solve(new SolveInput(result.Observations, n, n, tilts, 85),
            new SolveOptions { Robust = true, Magnification = VariableOption.PerView, Tilt = VariableOption.PerView });
        var final = Enumerable.Range(0, nz).Select(i => Xf.Product(coarse.Prexg[i], solved.Views[i].RawToAligned())).ToArray();
        double error = AlignmentCheck.ErrorAfterGauge(series, final);
        output.WriteLine($"solve: residual mean {solved.Overall.Mean:F3} px, RMS {solved.Overall.Rms:F3}; alignment error after the gauge {error:F3} px");
        // Measured: 25 seeded, 837 observations, 773 within 1 px (RMS 0.34 px: fit noise at 20 e/px), alignment error 0.12 px.
        Assert.True(result.Seeded >= 15, $"{result.Seeded} beads seeded");
        Assert.True(within1 >= 0.85 * result.Observations.Count, $"{within1} of {result.Observations.Count} observations within 1 px of a bead");
        Assert.True(result.Observations.Count >= 0.6 * result.Seeded * nz, $"{result.Observations.Count} observations");
        Assert.True(error < 0.3, $"alignment error {error:F3} px after the gauge");
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
